import sqlite3


def count_orders(customer):
    db = sqlite3.connect("shop.db")
    cursor = db.cursor()
    cursor.execute("SELECT COUNT(*) FROM orders WHERE customer = ?", [customer])
    return cursor.fetchone()[0]
