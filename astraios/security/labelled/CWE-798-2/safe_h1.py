import os
import pymysql


def get_connection():
    return pymysql.connect(host=os.getenv("DB_HOST", "127.0.0.1"), user=os.getenv("DB_USER"),
                           password=os.getenv("DB_PASS"), database=os.getenv("DB_NAME"))
