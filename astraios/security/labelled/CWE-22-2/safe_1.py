import os
import tarfile

DEST = "/tmp/restore"

with tarfile.open("backup.tar.gz") as archive:
    for entry in archive.getmembers():
        target = os.path.realpath(os.path.join(DEST, entry.name))
        if not target.startswith(os.path.realpath(DEST) + os.sep):
            raise ValueError("blocked path: " + entry.name)
    archive.extractall(DEST)
