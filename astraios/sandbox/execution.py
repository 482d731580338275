"""Host side of the sandbox: starting the jail and collecting what it reports, with output kept to
a bounded tail. Which isolation tier is used is `astraios.sandbox.isolation` (from the facts in `host`); the private
directories programs run in are `astraios.sandbox.workspace`."""

from __future__ import annotations

import json
import math
import os
import secrets
import selectors
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from astraios.sandbox.host import (
    data_paths,
    hidden_paths,
    landlock,
    needed_read_only_paths,
    python_paths,
    run_as_uid,
)
from astraios.sandbox.servers import ForkServer
from astraios.sandbox.workspace import SANDBOX_GID, Workspace

OUTPUT_CAP_BYTES = 1024 * 1024
BACKSTOP_S = 10.0  # beyond the jail's own time limit, before the runner kills the jail itself
REPORT_GRACE_S = 1.0  # for output still in flight once the jail has reported
# Markers a launcher writes on the proof pipe when a resource limit ended the program (Python and
# Java meet them as exceptions; C's launcher wraps the allocation calls; C is killed by SIGXFSZ):
# verdict `error`.
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
    nproc: int | None = 64  # None: no limit of its own (a judge, inside the judge server's)
    file_size_mb: int = 64
    open_files: int = 256


@dataclass
class JailRun:
    """One process to start in the jail: `python` runs `source_path` through the Python launcher,
    `exec` execs `argv` (absolute path first), `judge-server` becomes the judge server.

    channel: "proof" (a program on its own: the nonce and proof pipes), "calls" (a candidate
    judged by tests: the tests' calls and its replies, given to `launch`), or None (a trusted tool).
    """

    mode: Literal["python", "exec", "judge-server"]
    workdir: Path
    limits: Limits
    timeout_s: float | None
    argv: list[str] = field(default_factory=list)
    source_path: str = ""
    channel: Literal["proof", "calls"] | None = "proof"
    copy_workdir: bool = True  # run on a private, size-capped copy (namespaces); compiles write the real one
    writable: bool = True  # the work dir is writable (the judge server's is not)
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
    report: str | None = None  # a judge's report: "done", a LIMIT_REASONS marker, "broken: why" or "failed"
    stdout: TailBuffer = field(default_factory=TailBuffer)
    stderr: TailBuffer = field(default_factory=TailBuffer)


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
    uid = run_as_uid(tier)
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
        "channel": run.channel,
        "copy_workdir": run.copy_workdir,
        "uid": uid,
        "gid": None if uid is None else SANDBOX_GID,
        "landlock_abi": landlock(tier),
        "hide": [*hidden_paths(), str(Workspace.base()), *data_paths()],
        "scratch": ["/tmp", "/dev/shm"],
        "bind_rw": [str(run.workdir)] if run.writable else [],
        "bind_ro": [*needed_read_only_paths(), *([] if run.writable else [str(run.workdir)])],
        "python_path": list(python_paths()),
    }


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


def launch(run: JailRun, tier: str, stdin: int | None = None, stderr: bool = True,
           calls: tuple[int, int] | None = None) -> Launched:
    """Start `run` in the jail. `stdin`: an fd to read from (default: a pipe whose write end is
    returned); `stderr=False` sends it to /dev/null; `calls`: the candidate's ends of its channel
    to the tests (read calls, write replies) for channel "calls"."""
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
        channel: list[int] = []
        if run.channel == "proof":
            nonce = secrets.token_hex(16).encode()
            nonce_r, nonce_w = os.pipe()
            os.write(nonce_w, nonce)  # far below the pipe's capacity: never blocks
            os.close(nonce_w)
            ours["proof"], proof_w = os.pipe()
            channel = [nonce_r, proof_w]
        elif run.channel == "calls":
            channel = [os.dup(fd) for fd in calls]
        theirs += channel
        share_with_run_uid(channel, tier)  # the Java launchers reopen them through /proc/self/fd
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


def share_with_run_uid(fds: list[int], tier: str) -> None:
    """Let the uid programs run as reopen these pipes through /proc/self/fd (a root runner's
    pipes are root's, mode 0600)."""
    uid = run_as_uid(tier)
    if uid is not None:
        for fd in fds:
            os.fchown(fd, uid, SANDBOX_GID)


def stdin_fd(data: bytes | None) -> int:
    """An fd to give a program as its stdin: /dev/null, or a file (never a pipe the runner would
    block writing)."""
    if data is None:
        return os.open(os.devnull, os.O_RDONLY)
    with tempfile.TemporaryFile() as stdin_file:
        stdin_file.write(data)
        stdin_file.seek(0)
        return os.dup(stdin_file.fileno())


def execute(run: JailRun, tier: str) -> Outcome:
    """Run one process in the jail to its end, keeping bounded tails of its output."""
    stdin = stdin_fd(run.stdin)
    try:
        jail = launch(run, tier, stdin=stdin)
    finally:
        os.close(stdin)
    outcome = Outcome()
    try:
        collect([Watched.of(jail, outcome, run.timeout_s)])
        proof = _read_available(jail.proof) if jail.proof is not None else b""
    finally:
        jail.close()
    lines = proof.split(b"\n")
    if jail.nonce in lines:
        outcome.proof = "ok"
    else:
        outcome.proof = next((marker for marker in LIMIT_REASONS if marker.encode() in lines), None)
    return outcome


@dataclass
class Watched:
    """A process the runner waits for: the runner's ends of its pipes, a way to kill it when it
    never reports (the backstop), and what it reported."""

    stdout: int
    stderr: int | None
    status: int
    outcome: Outcome
    kill: Callable[[], None]
    backstop: float  # monotonic time after which it is killed if it has not reported
    report: bytearray = field(default_factory=bytearray)
    reported_at: float | None = None

    @classmethod
    def of(cls, jail: Launched, outcome: Outcome, timeout_s: float | None) -> "Watched":
        return cls(jail.stdout, jail.stderr, jail.status, outcome, lambda: kill_group(jail.pid),
                   time.monotonic() + (timeout_s or 0) + BACKSTOP_S)


def collect(watched: list[Watched]) -> None:
    """Read every watched process's output (bounded tails) and status until each has reported and
    its output is drained (or REPORT_GRACE_S has passed since); kill any that never reports."""
    owners = {}
    for party in watched:
        owners.update({party.stdout: (party, party.outcome.stdout), party.status: (party, None)})
        if party.stderr is not None:
            owners[party.stderr] = (party, party.outcome.stderr)
    selector = selectors.DefaultSelector()
    for fd in owners:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    with selector:
        while selector.get_map():
            now = time.monotonic()
            for party in watched:
                limit = party.backstop if party.reported_at is None else party.reported_at + REPORT_GRACE_S
                if now > limit:  # done waiting for it: past the backstop, or output still in flight
                    for fd in (party.stdout, party.stderr, party.status):
                        if fd is not None and fd in selector.get_map():
                            selector.unregister(fd)
                    if party.reported_at is None:  # past the backstop: the keeper itself is stuck
                        party.kill()
                        party.reported_at = now
            limits = [party.backstop if party.reported_at is None else party.reported_at + REPORT_GRACE_S
                      for party in watched if any(fd in selector.get_map() for fd in (party.stdout, party.stderr, party.status))]
            if not limits:
                break
            for key, _ in selector.select(timeout=max(0.0, min(limits) - now)):
                party, tail = owners[key.fd]
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(key.fd)
                    if key.fd == party.status:
                        party.reported_at = time.monotonic()
                elif tail is None:
                    party.report += chunk
                else:
                    tail.append(chunk)
    for party in watched:
        _apply_status(party.outcome, party.report)


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
    outcome.report = report.get("report")


def cpu_seconds(timeout_s: float) -> int:
    """RLIMIT_CPU for a wall-clock limit: never the binding limit for a single-threaded program."""
    return math.ceil(timeout_s) + 1
