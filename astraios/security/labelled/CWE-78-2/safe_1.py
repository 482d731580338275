from flask import Flask, request, redirect
import subprocess

app = Flask(__name__)

@app.route("/lookup")
def lookup():
    host = request.args.get("host")
    result = subprocess.run(["nslookup", "--", host], capture_output=True)
    return "ok" if result.returncode == 0 else "failed"
