from flask import Flask, request, redirect
import yaml

app = Flask(__name__)

@app.route("/profile")
def profile():
    body = request.args.get("doc", "")
    record = yaml.load(body)
    return str(record.get("owner"))
