from flask import Flask, request, redirect
import re

app = Flask(__name__)

rv = re.compile(r"^https?://([a-z0-9-]+\.)*mysite\.org(/.*)?$")

@app.route("/follow")
def follow():
    target = request.args.get("next", "/")
    return redirect(target if rv.match(target) else "/")
