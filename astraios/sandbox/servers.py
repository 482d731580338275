"""The warm helper processes the runner talks to: the jail's fork server (`jail.serve`), which
starts every jail, and the base both it and the judge server (`judging.JudgeServer`) share."""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

JAIL = Path(__file__).with_name("jail.py")


class WarmServer:
    """A warm helper process the runner talks to over a SOCK_SEQPACKET socket: one JSON request
    with fds, one answer with fds. Each runner process starts its own on first use (a forked runner
    leaves its parent's alone) and starts it again, once, when it stops answering. Subclasses hold
    their own state and say how to start and stop."""

    name = ""
    _lock: threading.Lock
    _channel: socket.socket | None = None
    _owner = 0  # the pid that started it

    @classmethod
    def ask(cls, request: dict, fds: list[int], *start_args) -> tuple[bytes, list[int]]:
        with cls._lock:
            if cls._owner != os.getpid() or cls._stale(*start_args):
                cls._forget()
            for _ in range(2):
                if cls._channel is None:
                    cls._start(*start_args)
                    cls._owner = os.getpid()
                    atexit.register(cls._stop)
                try:
                    socket.send_fds(cls._channel, [json.dumps(request).encode()], fds)
                    answer, answer_fds, _, _ = socket.recv_fds(cls._channel, 64, 1)
                    if answer:
                        return answer, answer_fds
                except OSError:
                    pass
                cls._stop()  # it died (killed from outside?): start a new one, once
            raise RuntimeError(f"astraios.sandbox: the {cls.name} does not answer")

    @classmethod
    def _stale(cls, *start_args) -> bool:
        return False

    @classmethod
    def _forget(cls) -> None:
        cls._channel = None

    @classmethod
    def _start(cls, *start_args) -> None:
        raise NotImplementedError

    @classmethod
    def _stop(cls) -> None:
        if cls._channel is not None:
            cls._channel.close()  # the server sees end-of-file and exits
            cls._channel = None
        cls._end()

    @classmethod
    def _end(cls) -> None:
        """Make sure the server process is gone, once its channel is closed."""
        raise NotImplementedError


class ForkServer(WarmServer):
    """The runner's end of the jail's fork server (see jail.serve), started on first use."""

    name = "jail's fork server"
    _lock = threading.Lock()
    _process: subprocess.Popen | None = None

    @classmethod
    def launch(cls, request: dict, fds: list[int]) -> int:
        """Start one keeper with these fds; returns its pid (also its process group)."""
        return int(cls.ask(request, fds)[0])

    @classmethod
    def _forget(cls) -> None:
        cls._process = cls._channel = None

    @classmethod
    def pid(cls) -> int | None:
        return None if cls._process is None else cls._process.pid

    @classmethod
    def _start(cls) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cls._process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(JAIL), str(theirs.fileno())], pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd="/", env={"PATH": "/usr/bin:/bin"}, start_new_session=True,
        )
        theirs.close()
        cls._channel = ours

    @classmethod
    def _end(cls) -> None:
        if cls._process is not None:
            try:
                cls._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                cls._process.kill()
                cls._process.wait()
            cls._process = None
