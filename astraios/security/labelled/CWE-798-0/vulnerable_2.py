

def unlock(passcode):
    return passcode == "0451"
