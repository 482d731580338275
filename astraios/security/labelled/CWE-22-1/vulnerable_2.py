import os
from flask import Flask, request

app = Flask(__name__)

@app.route("/doc")
def doc():
    path = os.path.join("docs", request.args["file"])
    with open(path, "rb") as handle:
        return handle.read()
