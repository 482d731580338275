from flask import Flask

app = Flask(__name__)

@app.route("/welcome/<name>")
def welcome(name):
    html = "<html><body><h2>Welcome " + name + "</h2></body></html>"
    return html
