import tarfile

with tarfile.open("backup.tar.gz") as archive:
    archive.extractall("/tmp/restore")
