"""A local stand-in for GitHub's raw file server and the Hugging Face Hub, on 127.0.0.1: what
`astraios data download` asks them, answered from memory (no network on the test machines).

GitHub: GET /{repo}/{commit}/{path}. Hub (the requests huggingface_hub makes): HEAD / (the
reachability check), GET /api/datasets/{repo}/revision/{rev} (the commit of a revision),
GET /api/datasets/{repo}/tree/{rev}/{folder} (the files, with their LFS sha256) and HEAD/GET
/datasets/{repo}/resolve/{rev}/{path} (a file). `files` maps a URL path to its bytes; tests
change it (a corrupt answer, a missing file) and read `requests` (the paths asked for).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

COMMIT = "c0ffee" * 6 + "c0ff"  # 40 hex digits: the fake Hub's only commit


class FakeSources:
    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.hub: dict[str, dict[str, bytes]] = {}  # Hub dataset -> its files (repository path -> bytes)
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSources:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        sources = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                self._answer(body=False)

            def do_GET(self):
                self._answer(body=True)

            def _answer(self, body: bool) -> None:
                path = unquote(urlparse(self.path).path)
                sources.requests.append(f"{self.command} {path}")
                status, headers, data = sources.answer(path)
                self.send_response(status)
                for key, value in {"Content-Length": str(len(data)), **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                if body:
                    self.wfile.write(data)

        return Handler

    def answer(self, path: str) -> tuple[int, dict, bytes]:
        if path == "/":
            return 200, {}, b""
        match = re.fullmatch(r"/api/datasets/(.+?/.+?)/revision/[^/]+", path)
        if match and match[1] in self.hub:
            return 200, {"Content-Type": "application/json"}, json.dumps({"id": match[1], "sha": COMMIT}).encode()
        match = re.fullmatch(r"/api/datasets/(.+?/.+?)/tree/[^/]+/?(.*)", path)
        if match and match[1] in self.hub:
            listing = [{"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest(),
                        "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 130}}
                       for name, data in self.hub[match[1]].items() if name.startswith(match[2])]
            return 200, {"Content-Type": "application/json"}, json.dumps(listing).encode()
        match = re.fullmatch(r"/datasets/(.+?/.+?)/resolve/[^/]+/(.+)", path)
        if match and match[2] in self.hub.get(match[1], {}):
            data = self.hub[match[1]][match[2]]
            return 200, {"X-Repo-Commit": COMMIT, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}, data
        if path in self.files:
            return 200, {}, self.files[path]
        return 404, {}, b"not found"
