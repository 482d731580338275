import os
import tarfile

os.makedirs("/tmp/out", exist_ok=True)
bundle = tarfile.open("bundle.tgz", "r:gz")
bundle.extractall(path="/tmp/out")
bundle.close()
