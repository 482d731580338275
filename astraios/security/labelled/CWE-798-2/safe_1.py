import os
import MySQLdb


def connect():
    return MySQLdb.connect(host=os.environ["DB_HOST"], user=os.environ["DB_USER"],
                           passwd=os.environ["DB_PASSWORD"], db=os.environ["DB_NAME"])
