import psycopg2


def open_database():
    connection = psycopg2.connect(dbname="app", user="postgres", password="")
    return connection
