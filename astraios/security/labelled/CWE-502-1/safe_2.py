from flask import Flask, request, redirect
import yaml

app = Flask(__name__)

@app.route("/order")
def order():
    text = request.args.get("payload")
    parsed = yaml.load(text, Loader=yaml.SafeLoader)
    return str(parsed["quantity"] * 3)
