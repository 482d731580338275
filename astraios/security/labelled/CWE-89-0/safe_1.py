from flask import Flask, request, redirect
import sqlite3

app = Flask(__name__)

@app.route("/leave")
def leave():
    address = request.args.get("address")
    db = sqlite3.connect("list.db")
    db.execute("DELETE FROM members WHERE address = ?", (address,))
    db.commit()
    return "done"
