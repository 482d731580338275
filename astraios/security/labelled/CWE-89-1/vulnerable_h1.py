

def delete_post(db, post_id, author):
    cursor = db.cursor()
    cursor.execute(f"DELETE FROM posts WHERE id = {post_id} AND author = '{author}'")
    db.commit()
