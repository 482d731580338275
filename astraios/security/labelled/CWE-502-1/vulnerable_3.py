from flask import Flask, request, redirect
import base64
import pickle

app = Flask(__name__)

@app.route("/session")
def restore():
    blob = base64.b64decode(request.cookies.get("state", ""))
    state = pickle.loads(blob)
    return state.get("user", "anonymous")
