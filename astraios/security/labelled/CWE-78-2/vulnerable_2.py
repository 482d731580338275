from flask import Flask, request, redirect
import subprocess

app = Flask(__name__)

@app.route("/trace")
def trace():
    target = request.args.get("target")
    output = subprocess.check_output(f"traceroute {target}", shell=True)
    return output
