from flask import Flask, request, redirect
from urllib.parse import urlparse

app = Flask(__name__)

@app.route("/out/<path:url>")
def out(url):
    host = urlparse(url).netloc
    if host.endswith("example.com"):
        return redirect(url)
    return "forbidden", 403
