import pymysql


def get_connection():
    return pymysql.connect(host="127.0.0.1", user="admin", password="admin123", database="shop")
