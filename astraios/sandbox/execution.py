"""Host side of the sandbox: starting the jail and collecting what it reports, with output kept to
a bounded tail. Which isolation tier is used is `astraios.sandbox.isolation`; the private
directories programs run in are `astraios.sandbox.workspace`."""

from __future__ import annotations

import atexit
import json
import math
import os
import secrets
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from astraios.sandbox.isolation import Isolation, hidden_paths, needed_read_only_paths, python_paths
from astraios.sandbox.workspace import SANDBOX_GID, Workspace

JAIL = Path(__file__).with_name("jail.py")
OUTPUT_CAP_BYTES = 1024 * 1024
BACKSTOP_S = 10.0  # beyond the jail's own time limit, before the runner kills the jail itself
REPORT_GRACE_S = 1.0  # for output still in flight once the jail has reported
# Markers a launcher writes on the proof pipe when a resource limit ended the program (Python and
# Java meet them as exceptions; C is killed by SIGXFSZ, or sees the failed call): verdict `error`.
LIMIT_REASONS = {
    "memory": "memory limit exceeded",
    "fsize": "file size limit exceeded",
    "files": "open-file limit exceeded",
    "space": "work-dir space limit exceeded",
}


@dataclass(frozen=True)
class Limits:
    cpu_s: int | None
    address_space_mb: int | None
    nproc: int = 64
    file_size_mb: int = 64
    open_files: int = 256


@dataclass
class JailRun:
    """One process to start in the jail: `python` runs `source_path` through the Python
    completion-proof launcher, `exec` execs `argv` (absolute path first)."""

    mode: Literal["python", "exec"]
    workdir: Path
    limits: Limits
    timeout_s: float | None
    argv: list[str] = field(default_factory=list)
    source_path: str = ""
    proof: bool = True
    copy_workdir: bool = True  # run on a private, size-capped copy (namespaces); compiles write the real one
    stdin: bytes | None = None
    env: dict[str, str] = field(default_factory=dict)


class TailBuffer:
    """Keeps the last `cap` bytes written to it and counts the rest."""

    def __init__(self, cap: int = OUTPUT_CAP_BYTES) -> None:
        self.cap = cap
        self.data = bytearray()
        self.dropped = 0

    def append(self, chunk: bytes) -> None:
        self.data += chunk
        if len(self.data) > 2 * self.cap:
            excess = len(self.data) - self.cap
            del self.data[:excess]
            self.dropped += excess

    def text(self) -> tuple[str, int]:
        excess = max(0, len(self.data) - self.cap)
        return self.data[excess:].decode(errors="replace"), self.dropped + excess


@dataclass
class Outcome:
    """What the jail reported about one process."""

    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    setup_error: str | None = None
    duration_s: float = 0.0
    proof: str | None = None  # "ok", a LIMIT_REASONS marker, or None
    stdout: TailBuffer = field(default_factory=TailBuffer)
    stderr: TailBuffer = field(default_factory=TailBuffer)


# ------------------------------------------------------------------------------ directories
# ------------------------------------------------------------------------------ running
def minimal_env(workdir: Path, tier: str, extra: dict[str, str]) -> dict[str, str]:
    """The whole environment a program sees: nothing from the runner's (no secrets)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(workdir),
        "TMPDIR": "/tmp" if tier == "namespaces" else str(workdir),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        **extra,
    }


def _process_count(uid: int) -> int:
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat(f"/proc/{entry}").st_uid == uid
            except OSError:
                pass
    return count


def _spec(run: JailRun, tier: str) -> dict:
    uid = Isolation.run_as_uid(tier)
    nproc = run.limits.nproc + 2  # the jail's keeper and init count in the same user namespace
    if tier != "namespaces":  # no user namespace: the limit counts every process of the uid
        nproc += _process_count(os.geteuid() if uid is None else uid)
    return {
        "mode": run.mode,
        "isolation": tier,
        "argv": run.argv,
        "source_path": run.source_path,
        "workdir": str(run.workdir),
        "timeout_s": run.timeout_s,
        "limits": {**run.limits.__dict__, "nproc": nproc},
        "proof": run.proof,
        "copy_workdir": run.copy_workdir,
        "uid": uid,
        "gid": None if uid is None else SANDBOX_GID,
        "landlock_abi": Isolation.landlock(tier),
        "hide": [*hidden_paths(), str(Workspace.base())],
        "scratch": ["/tmp", "/dev/shm"],
        "bind_rw": [str(run.workdir)],
        "bind_ro": list(needed_read_only_paths()),
        "python_path": list(python_paths()),
    }


class ForkServer:
    """The runner's end of the jail's fork server (see jail.serve), started on first use."""

    _lock = threading.Lock()
    _process: subprocess.Popen | None = None
    _channel: socket.socket | None = None
    _owner = 0  # the pid that started it: a forked runner (multiprocessing) starts its own

    @classmethod
    def launch(cls, request: dict, fds: list[int]) -> int:
        """Start one keeper with these fds; returns its pid (also its process group)."""
        with cls._lock:
            if cls._owner != os.getpid():
                cls._process = cls._channel = None  # the parent's: leave them to it
            for _ in range(2):
                if cls._channel is None:
                    cls._start()
                try:
                    socket.send_fds(cls._channel, [json.dumps(request).encode()], fds)
                    reply = cls._channel.recv(64)
                    if reply:
                        return int(reply)
                except OSError:
                    pass
                cls._stop()  # it died (killed from outside?): start a new one, once
            raise RuntimeError("astraios.sandbox: the jail's fork server does not answer")

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
        cls._owner = os.getpid()
        atexit.register(cls._stop)

    @classmethod
    def _stop(cls) -> None:
        if cls._channel is not None:
            cls._channel.close()  # the server sees end-of-file and exits
            cls._channel = None
        if cls._process is not None:
            try:
                cls._process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                cls._process.kill()
                cls._process.wait()
            cls._process = None


@dataclass
class Launched:
    """A started jail: the keeper's pid and the runner's ends of its pipes."""

    pid: int
    stdout: int
    status: int
    stderr: int | None = None
    stdin: int | None = None
    proof: int | None = None
    nonce: bytes = b""

    def close(self) -> None:
        for fd in (self.stdout, self.status, self.stderr, self.stdin, self.proof):
            if fd is not None:
                os.close(fd)


def launch(run: JailRun, tier: str, stdin: int | None = None, stderr: bool = True) -> Launched:
    """Start `run` in the jail. `stdin`: an fd to read from (default: a pipe whose write end is
    returned); `stderr=False` sends it to /dev/null."""
    ours: dict[str, int] = {}
    theirs: list[int] = []
    try:
        if stdin is None:
            read_end, ours["stdin"] = os.pipe()
            theirs.append(read_end)
        else:
            theirs.append(os.dup(stdin))
        for name in ("stdout", "stderr"):
            if name == "stderr" and not stderr:
                theirs.append(os.open(os.devnull, os.O_WRONLY))
                continue
            ours[name], write_end = os.pipe()
            theirs.append(write_end)
        ours["status"], write_end = os.pipe()
        theirs.append(write_end)
        nonce = b""
        if run.proof:
            nonce = secrets.token_hex(16).encode()
            nonce_r, nonce_w = os.pipe()
            os.write(nonce_w, nonce)  # far below the pipe's capacity: never blocks
            os.close(nonce_w)
            ours["proof"], proof_w = os.pipe()
            theirs += [nonce_r, proof_w]
            uid = Isolation.run_as_uid(tier)
            if uid is not None:  # the Java launcher reopens them through /proc/self/fd, as that uid
                for fd in (nonce_r, proof_w):
                    os.fchown(fd, uid, SANDBOX_GID)
        request = {"spec": _spec(run, tier), "env": minimal_env(run.workdir, tier, run.env)}
        pid = ForkServer.launch(request, theirs)
    except BaseException:
        for fd in ours.values():
            os.close(fd)
        raise
    finally:
        for fd in theirs:
            os.close(fd)
    return Launched(pid=pid, nonce=nonce, **ours)


def execute(run: JailRun, tier: str) -> Outcome:
    """Run one process in the jail to its end, keeping bounded tails of its output."""
    if run.stdin is None:
        stdin_fd = os.open(os.devnull, os.O_RDONLY)
    else:  # a file, not a pipe: the runner never blocks writing input
        with tempfile.TemporaryFile() as stdin_file:
            stdin_file.write(run.stdin)
            stdin_file.seek(0)
            stdin_fd = os.dup(stdin_file.fileno())
    try:
        jail = launch(run, tier, stdin=stdin_fd)
    finally:
        os.close(stdin_fd)
    outcome = Outcome()
    status = bytearray()
    try:
        _collect(jail, outcome, status, run.timeout_s)
        proof = _read_available(jail.proof) if jail.proof is not None else b""
    finally:
        jail.close()
    _apply_status(outcome, status)
    lines = proof.split(b"\n")
    if jail.nonce in lines:
        outcome.proof = "ok"
    else:
        outcome.proof = next((marker for marker in LIMIT_REASONS if marker.encode() in lines), None)
    return outcome


def _collect(jail: Launched, outcome: Outcome, status: bytearray, timeout_s: float | None) -> None:
    backstop = time.monotonic() + (timeout_s or 0) + BACKSTOP_S
    streams = {jail.stdout: outcome.stdout, jail.stderr: outcome.stderr}
    selector = selectors.DefaultSelector()
    for fd in [*streams, jail.status]:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    reported_at = None
    with selector:
        while selector.get_map():
            now = time.monotonic()
            limit = backstop if reported_at is None else reported_at + REPORT_GRACE_S
            if now > limit:
                break
            for key, _ in selector.select(timeout=limit - now):
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(key.fd)
                    if key.fd == jail.status:
                        reported_at = time.monotonic()
                elif key.fd == jail.status:
                    status += chunk
                else:
                    streams[key.fd].append(chunk)
    if reported_at is None:  # past the backstop: the keeper itself is stuck
        kill_group(jail.pid)


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _read_available(fd: int) -> bytes:
    os.set_blocking(fd, False)
    data = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def _apply_status(outcome: Outcome, status: bytes) -> None:
    try:
        report = json.loads(status.decode())
    except ValueError:
        outcome.setup_error = "the sandbox's keeper ended without reporting (killed after the backstop time)"
        return
    outcome.exit_code = report.get("exit_code")
    outcome.signal = report.get("signal")
    outcome.timed_out = report.get("timed_out", False)
    outcome.setup_error = report.get("setup_error")
    outcome.duration_s = report.get("duration_s", 0.0)


def cpu_seconds(timeout_s: float) -> int:
    """RLIMIT_CPU for a wall-clock limit: never the binding limit for a single-threaded program."""
    return math.ceil(timeout_s) + 1
