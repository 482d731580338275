from flask import Flask, request, redirect
import hmac
import os

app = Flask(__name__)

@app.route("/moderator")
def moderator():
    name = request.args.get("name", "")
    password = request.args.get("password", "")
    expected = os.environ.get("MOD_PASSWORD", "")
    ok = name == os.environ.get("MOD_USER") and hmac.compare_digest(password, expected)
    return "true" if ok and expected else "false"
