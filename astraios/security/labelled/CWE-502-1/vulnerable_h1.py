from flask import Flask, request, redirect
import yaml

app = Flask(__name__)

@app.route("/api/config")
def config():
    raw = request.get_data(as_text=True)
    settings = yaml.unsafe_load(raw)
    return settings.get("theme", "light")
