import os
import tarfile

archive = tarfile.open("upload.tar")
for entry in archive.getmembers():
    if entry.name.startswith("/") or ".." in entry.name.split("/"):
        continue
    archive.extract(entry, path="/srv/files")
archive.close()
