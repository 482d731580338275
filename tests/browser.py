"""Open a page in Debian's chromium, headless, and report what a reader's browser would: each image's
natural size, the console errors (script errors, console.error, resources that failed to load) and
a screenshot of the whole page.

Driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: chromium reads commands on
fd 3 and answers on fd 4, each JSON message ended by a NUL byte), so the standard library is enough:
no websocket client, no WebDriver (chromium-driver), no node (Playwright). `--dump-dom` alone could
not tell: an image's natural size and the console are not in the DOM.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

# Headless, no sandbox (containers and root), nothing fetched from the network, a fresh profile.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
         "--window-size=1280,900", "--remote-debugging-pipe")
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 60.0
MAX_SCREENSHOT_HEIGHT = 16000  # pixels: a long report is cut there rather than making a huge PNG

IMAGES = "JSON.stringify([...document.images].map(i => ({src: i.getAttribute('src'), complete: i.complete, " \
         "naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight})))"


def find_chromium() -> str | None:
    return next((path for name in NAMES if (path := shutil.which(name))), None)


@dataclass
class Page:
    images: list[dict]
    errors: list[str]
    screenshot: Path
    title: str
    log: list[str] = field(default_factory=list)  # every console and log message, errors or not


class Chromium:
    """One headless chromium process with a fresh profile under `profile`."""

    def __init__(self, executable: str, profile: Path):
        to_browser, self._commands = os.pipe()
        self._answers, from_browser = os.pipe()

        def on_fds_3_and_4():  # in the child, before exec: the pipe ends where chromium looks for them
            ends = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser, from_browser)]
            os.dup2(ends[0], 3)
            os.dup2(ends[1], 4)

        profile.mkdir(parents=True, exist_ok=True)
        self._stderr = open(profile / "chromium.log", "wb")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen([executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                        stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr,
                                        preexec_fn=on_fds_3_and_4, pass_fds=(3, 4))
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"chromium: {method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str) -> dict:
        for event in self.events:
            if event.get("method") == method and event.get("sessionId") == session:
                return event
        while True:
            event = self._receive()
            self.events.append(event)
            if event.get("method") == method and event.get("sessionId") == session:
                return event

    def _receive(self) -> dict:
        deadline = time.monotonic() + TIMEOUT_S
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._answers], [], [], left)[0]:
                raise TimeoutError(f"chromium sent nothing for {TIMEOUT_S:.0f} s")
            chunk = os.read(self._answers, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium exited (code {self.process.poll()}); its log: {self._stderr.name}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def open(self, url: str, screenshot: Path) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", session)
        images = json.loads(self.send("Runtime.evaluate", {"expression": IMAGES, "returnByValue": True},
                                      session=session)["result"]["value"])
        title = self.send("Runtime.evaluate", {"expression": "document.title", "returnByValue": True},
                          session=session)["result"]["value"]
        size = self.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], MAX_SCREENSHOT_HEIGHT), "scale": 1}
        shot = self.send("Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True},
                         session=session)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        errors, log = _messages([event for event in self.events if event.get("sessionId") == session])
        return Page(images=images, errors=errors, screenshot=screenshot, title=title, log=log)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._answers)
        self._stderr.close()


def _messages(events: list[dict]) -> tuple[list[str], list[str]]:
    """(errors, every message) from the console and log events of a page."""
    errors, log = [], []
    for event in events:
        params = event.get("params", {})
        if event.get("method") == "Runtime.consoleAPICalled":
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            log.append(f"console.{params['type']}: {text}")
            if params["type"] in ("error", "assert"):
                errors.append(f"console.{params['type']}: {text}")
        elif event.get("method") == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            log.append(f"exception: {text}")
            errors.append(f"exception: {text}")
        elif event.get("method") == "Log.entryAdded":
            entry = params["entry"]
            text = f"{entry['source']} {entry['level']}: {entry['text']} {entry.get('url', '')}".strip()
            log.append(text)
            if entry["level"] == "error":
                errors.append(text)
    return errors, log


def open_page(executable: str, path: Path, profile: Path, screenshot: Path) -> Page:
    """`path` as a reader's chromium shows it, with a fresh profile under `profile`."""
    browser = Chromium(executable, profile)
    try:
        return browser.open(path.resolve().as_uri(), screenshot)
    finally:
        browser.close()
