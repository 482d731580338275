from flask import Flask, request, redirect
import yaml

app = Flask(__name__)

@app.route("/profile")
def profile():
    body = request.args.get("doc", "")
    record = yaml.safe_load(body)
    if not isinstance(record, dict):
        return "bad document", 400
    return str(record.get("owner"))
