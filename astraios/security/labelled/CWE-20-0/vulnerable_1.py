from flask import Flask, request, redirect
import re

app = Flask(__name__)

allowed = re.compile("(www|beta).example.com/")

@app.route("/go")
def go():
    target = request.args.get("to", "")
    return redirect(target) if allowed.match(target) else redirect("/")
