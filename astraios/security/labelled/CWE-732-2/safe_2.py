import os
import stat

key_file = "private.key"
with open(key_file, "w") as handle:
    handle.write("-----KEY-----")
os.chmod(key_file, stat.S_IRUSR)
