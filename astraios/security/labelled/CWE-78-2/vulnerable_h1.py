from flask import Flask, request, redirect
import subprocess

app = Flask(__name__)

@app.route("/dig")
def dig():
    domain = request.args.get("domain")
    result = subprocess.Popen("dig +short " + domain, shell=True, stdout=subprocess.PIPE)
    return result.communicate()[0]
