from flask import Flask, request, redirect
import os

app = Flask(__name__)

@app.route("/is_admin")
def is_admin():
    user = request.args.get("user")
    password = request.args.get("password")
    if user == os.environ["ADMIN_USER"] and password == os.environ["ADMIN_PASSWORD"]:
        return "true"
    return "false"
