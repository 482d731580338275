import sqlite3


def save_comment(author, text):
    db = sqlite3.connect("blog.db")
    db.execute("INSERT INTO comments (author, text) VALUES ('{}', '{}')".format(author, text))
    db.commit()
