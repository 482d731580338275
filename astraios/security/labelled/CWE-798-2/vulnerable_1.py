import MySQLdb


def connect():
    return MySQLdb.connect(host="db.internal", user="report", passwd="Winter2024", db="sales")
