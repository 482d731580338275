import os
import stat

with open("notes.txt", "w") as handle:
    handle.write("secret")
os.chmod("notes.txt", stat.S_IRUSR | stat.S_IWUSR | stat.S_IROTH)
