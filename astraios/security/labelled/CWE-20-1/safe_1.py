from flask import Flask, request, redirect
from urllib.parse import urlparse

app = Flask(__name__)

@app.route("/out/<path:url>")
def out(url):
    if urlparse(url).hostname == "example.com":
        return redirect(url)
    return redirect("/")
