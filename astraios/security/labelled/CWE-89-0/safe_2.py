from flask import Flask, request, redirect
import MySQLdb

app = Flask(__name__)

@app.route("/lookup")
def lookup():
    name = request.args.get("name")
    conn = MySQLdb.connect(host="localhost", db="shop")
    cursor = conn.cursor()
    cursor.execute("SELECT price FROM items WHERE name = %s", (name,))
    return str(cursor.fetchone())
