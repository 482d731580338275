from flask import Flask, request, redirect
import sqlite3

app = Flask(__name__)

@app.route("/find")
def find():
    db = sqlite3.connect("list.db")
    rows = db.execute("SELECT * FROM members WHERE city = " + request.args["city"]).fetchall()
    return str(len(rows))
