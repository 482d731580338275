from flask import Flask, request, redirect
import re

app = Flask(__name__)

TRUSTED = re.compile("^https?://shop\\.example\\.com/")

@app.route("/next")
def next_page():
    url = request.args.get("url", "")
    if TRUSTED.match(url):
        return redirect(url)
    return redirect("/")
