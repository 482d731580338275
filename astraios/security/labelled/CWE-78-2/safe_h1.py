from flask import Flask, request, redirect
import re
import subprocess

app = Flask(__name__)

@app.route("/dig")
def dig():
    domain = request.args.get("domain", "")
    if not re.fullmatch(r"[A-Za-z0-9.-]+", domain):
        return "invalid domain", 400
    result = subprocess.run(["dig", "+short", domain], capture_output=True)
    return result.stdout
