from flask import Flask, request, redirect
import MySQLdb

app = Flask(__name__)

@app.route("/lookup")
def lookup():
    name = request.args.get("name")
    conn = MySQLdb.connect(host="localhost", db="shop")
    cursor = conn.cursor()
    query = f"SELECT price FROM items WHERE name = '{name}'"
    cursor.execute(query)
    return str(cursor.fetchone())
