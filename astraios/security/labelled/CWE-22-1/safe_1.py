from flask import Flask, request, send_from_directory

app = Flask(__name__)

@app.route("/picture")
def picture():
    return send_from_directory("pictures", request.args.get("name"))
