from flask import Flask, request, redirect
import json

app = Flask(__name__)

@app.route("/session")
def restore():
    state = json.loads(request.args.get("state", "{}"))
    return state.get("user", "anonymous")
