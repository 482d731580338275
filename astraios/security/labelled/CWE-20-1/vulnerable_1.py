from flask import Flask, request, redirect

app = Flask(__name__)

@app.route("/out/<path:url>")
def out(url):
    if "example.com" in url:
        return redirect(url)
    return redirect("/")
