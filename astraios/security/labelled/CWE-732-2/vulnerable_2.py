import os

key_file = "private.key"
with open(key_file, "w") as handle:
    handle.write("-----KEY-----")
os.chmod(key_file, 0o644)
