from flask import Flask, request, redirect
import yaml

app = Flask(__name__)

@app.route("/api/config")
def config():
    raw = request.get_data(as_text=True)
    try:
        settings = yaml.load(raw, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return "bad yaml", 400
    return settings.get("theme", "light")
