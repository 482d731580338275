from flask import Flask, request
from jinja2 import Environment, DictLoader

app = Flask(__name__)
env = Environment(loader=DictLoader({"hi.html": "<p>Hi {{ who }}</p>"}))

@app.route("/hi")
def hi():
    return env.get_template("hi.html").render(who=request.args.get("who", ""))
