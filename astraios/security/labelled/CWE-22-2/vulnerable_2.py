import tarfile

archive = tarfile.open("upload.tar")
for entry in archive.getmembers():
    archive.extract(entry, path="/srv/files")
archive.close()
