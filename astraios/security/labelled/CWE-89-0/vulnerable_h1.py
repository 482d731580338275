from flask import Flask, request, redirect
import MySQLdb

app = Flask(__name__)

@app.route("/profile")
def profile():
    user_id = request.args.get("id")
    db = MySQLdb.connect(host="localhost", db="app")
    cur = db.cursor()
    cur.execute("SELECT name, email FROM users WHERE id = %s" % user_id)
    row = cur.fetchone()
    db.close()
    return str(row)
