from flask import Flask, request, redirect
import os

app = Flask(__name__)

@app.route("/lookup")
def lookup():
    host = request.args.get("host")
    status = os.system("nslookup " + host)
    return "ok" if status == 0 else "failed"
