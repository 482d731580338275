import os

with open("token.txt", "w") as handle:
    handle.write("abc123")

os.chmod("token.txt", 0o777)
