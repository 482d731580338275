from flask import Flask, request, redirect
from urllib.parse import urlparse

app = Flask(__name__)

@app.route("/jump/<path:target>")
def jump(target):
    parsed = urlparse(target)
    if "mysite.org" in parsed.netloc:
        return redirect(target)
    return redirect("/")
