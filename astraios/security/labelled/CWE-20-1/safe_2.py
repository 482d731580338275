from flask import Flask, request, redirect
from urllib.parse import urlparse

app = Flask(__name__)
ALLOWED_HOSTS = {"example.com", "www.example.com"}

@app.route("/out/<path:url>")
def out(url):
    host = urlparse(url).hostname or ""
    if host in ALLOWED_HOSTS or host.endswith(".example.com"):
        return redirect(url)
    return "forbidden", 403
