from flask import Flask

app = Flask(__name__)

@app.route("/greet/<visitor>")
def greet(visitor):
    return "<h1>Welcome back, %s!</h1>" % visitor
