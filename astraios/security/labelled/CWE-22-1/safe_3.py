import os
from flask import Flask, abort, request, send_file

app = Flask(__name__)
BASE = os.path.abspath("pictures")

@app.route("/picture")
def picture():
    path = os.path.normpath(os.path.join(BASE, request.args.get("name", "")))
    if not path.startswith(BASE + os.sep):
        abort(404)
    return send_file(path)
