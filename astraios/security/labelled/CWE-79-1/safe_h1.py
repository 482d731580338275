from flask import Flask, request
from jinja2 import Environment, DictLoader, select_autoescape

app = Flask(__name__)
env = Environment(loader=DictLoader({"hi.html": "<p>Hi {{ who }}</p>"}), autoescape=select_autoescape())

@app.route("/hi")
def hi():
    return env.get_template("hi.html").render(who=request.args.get("who", ""))
