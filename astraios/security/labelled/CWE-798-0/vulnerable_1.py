from flask import Flask, request, redirect

app = Flask(__name__)

@app.route("/is_admin")
def is_admin():
    user = request.args.get("user")
    password = request.args.get("password")
    if user == "admin" and password == "letmein42":
        return "true"
    return "false"
