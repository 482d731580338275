import tarfile

with tarfile.open("upload.tar") as archive:
    archive.extractall("/srv/files", filter="data")
