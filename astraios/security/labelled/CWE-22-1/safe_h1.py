import os
from flask import Flask, request, send_file
from werkzeug.utils import secure_filename

app = Flask(__name__)

@app.route("/avatar")
def avatar():
    filename = secure_filename(request.args.get("file", "default.png"))
    full_path = os.path.join(os.path.dirname(__file__), "avatars", filename)
    if not os.path.exists(full_path):
        return "not found", 404
    return send_file(full_path)
