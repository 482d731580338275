import sqlite3


def count_orders(customer):
    db = sqlite3.connect("shop.db")
    cursor = db.cursor()
    sql = "SELECT COUNT(*) FROM orders WHERE customer = '" + customer + "'"
    cursor.execute(sql)
    return cursor.fetchone()[0]
