import os
import tarfile


def inside(base, name):
    target = os.path.abspath(os.path.join(base, name))
    return os.path.commonpath([base, target]) == base


with tarfile.open("bundle.tgz", "r:gz") as bundle:
    for item in bundle.getmembers():
        if inside("/tmp/out", item.name) and not item.issym() and not item.islnk():
            bundle.extract(item, "/tmp/out")
