from flask import Flask, request, redirect

app = Flask(__name__)

@app.route("/out/<path:url>")
def out(url):
    if url.startswith("https://example.com"):
        return redirect(url)
    return redirect("/")
