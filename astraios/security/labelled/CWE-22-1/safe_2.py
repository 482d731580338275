import os
from flask import Flask, abort, request
from werkzeug.utils import secure_filename

app = Flask(__name__)

@app.route("/doc")
def doc():
    path = os.path.join("docs", secure_filename(request.args["file"]))
    with open(path, "rb") as handle:
        return handle.read()
