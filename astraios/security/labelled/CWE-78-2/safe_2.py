from flask import Flask, request, redirect
import shlex
import subprocess

app = Flask(__name__)

@app.route("/trace")
def trace():
    target = request.args.get("target")
    output = subprocess.check_output("traceroute " + shlex.quote(target), shell=True)
    return output
