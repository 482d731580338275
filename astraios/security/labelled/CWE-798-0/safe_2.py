from werkzeug.security import check_password_hash


def unlock(stored_hash, passcode):
    return check_password_hash(stored_hash, passcode)
