

def delete_post(db, post_id, author):
    cursor = db.cursor()
    cursor.execute("DELETE FROM posts WHERE id = %s AND author = %s", (post_id, author))
    db.commit()
