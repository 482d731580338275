from flask import Flask, request, send_file

app = Flask(__name__)

@app.route("/picture")
def picture():
    name = request.args.get("name")
    return send_file("pictures/" + name)
