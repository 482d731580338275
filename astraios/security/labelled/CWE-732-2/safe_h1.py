import os

secret = "token-123"
path = "api.key"
with open(path, "w") as out:
    out.write(secret)
os.chmod(path, 0o400)
