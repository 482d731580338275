from flask import Flask, request, redirect
from urllib.parse import urlparse

app = Flask(__name__)

@app.route("/jump/<path:target>")
def jump(target):
    host = urlparse(target).hostname
    if host is not None and (host == "mysite.org" or host.endswith(".mysite.org")):
        return redirect(target)
    return redirect("/")
