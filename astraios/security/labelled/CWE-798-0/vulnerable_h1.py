from flask import Flask, request, redirect

app = Flask(__name__)

@app.route("/moderator")
def moderator():
    name = request.args.get("name")
    pwd = request.args.get("pwd")
    if name == "mod" and pwd == "S3cure!":
        return "true"
    return "false"
