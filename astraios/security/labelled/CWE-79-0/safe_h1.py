import html
from flask import Flask

app = Flask(__name__)

@app.route("/welcome/<name>")
def welcome(name):
    page = "<html><body><h2>Welcome " + html.escape(name) + "</h2></body></html>"
    return page
