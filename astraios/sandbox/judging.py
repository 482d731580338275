"""Host side of judged runs: a candidate program in its jail, its tests in the judge server's
(launchers/judge_server.py), joined only by the candidate's channel (two pipes the runner makes
and hands to each side), and the verdict from what both reported. See the package docs."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field

from astraios.sandbox.execution import (
    BACKSTOP_S,
    JailRun,
    Launched,
    Limits,
    Outcome,
    Watched,
    collect,
    kill_group,
    launch,
    minimal_env,
    share_with_run_uid,
    stdin_fd,
)
from astraios.sandbox.host import python_paths
from astraios.sandbox.servers import WarmServer
from astraios.sandbox.workspace import Workspace

JUDGE_SERVER_LIMITS = Limits(cpu_s=None, address_space_mb=None, nproc=4096, open_files=1024)


@dataclass
class JudgeRun:
    """The tests of one judged run: `tests` (Python source, run by the judge server's own
    interpreter) or `argv` (a Java or C judge to exec), under `limits` and `timeout_s`."""

    language: str
    limits: Limits
    timeout_s: float
    tests: str = ""
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)


class JudgeServer(WarmServer):
    """The runner's end of the judge server, started on first use (per process and tier)."""

    name = "judge server"
    _lock = threading.Lock()
    _jail: Launched | None = None
    _tier = ""

    @classmethod
    def launch(cls, request: dict, fds: list[int], tier: str) -> int:
        """Start one judge with these fds; returns a pidfd of it."""
        _, pidfds = cls.ask(request, fds, tier)
        if not pidfds:
            raise RuntimeError("astraios.sandbox: the judge server answered without the judge's pidfd")
        return pidfds[0]

    @classmethod
    def _stale(cls, tier: str) -> bool:
        return cls._tier != tier

    @classmethod
    def _forget(cls) -> None:
        cls._jail = cls._channel = None  # the parent's (or another tier's): leave them be

    @classmethod
    def pid(cls) -> int | None:
        """The keeper pid of this process's judge server, while one runs (it outlives runs)."""
        return cls._jail.pid if cls._jail is not None and cls._owner == os.getpid() else None

    @classmethod
    def _start(cls, tier: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            run = JailRun("judge-server", Workspace.judges(), JUDGE_SERVER_LIMITS, timeout_s=None, channel=None,
                          copy_workdir=False, writable=False)
            cls._jail = launch(run, tier, stdin=theirs.fileno(), stderr=False)
        finally:
            theirs.close()
        cls._channel, cls._tier = ours, tier

    @classmethod
    def _end(cls) -> None:
        if cls._jail is not None:
            kill_group(cls._jail.pid)
            cls._jail.close()
            cls._jail = None


def execute_judged(candidate: JailRun, judge: JudgeRun, tier: str) -> tuple[Outcome, Outcome]:
    """Run `candidate` (channel "calls") against `judge`; (candidate's outcome, judge's outcome)."""
    calls_r, calls_w = os.pipe()
    replies_r, replies_w = os.pipe()
    ours: list[int] = []
    theirs = [calls_r, calls_w, replies_r, replies_w]
    jail = pidfd = None
    try:
        share_with_run_uid(theirs, tier)
        judge_out, judge_out_w = os.pipe()
        judge_err, judge_err_w = os.pipe()
        judge_status, judge_status_w = os.pipe()
        ours += [judge_out, judge_err, judge_status]
        theirs += [judge_out_w, judge_err_w, judge_status_w]
        request = {"language": judge.language, "timeout_s": judge.timeout_s, "limits": judge.limits.__dict__,
                   "env": minimal_env(Workspace.judges(), tier, judge.env), "workdir": str(Workspace.judges()),
                   "python_path": list(python_paths()), "tests": judge.tests, "argv": judge.argv}
        pidfd = JudgeServer.launch(request, [judge_out_w, judge_err_w, judge_status_w, calls_w, replies_r], tier)
        stdin = stdin_fd(candidate.stdin)
        try:
            jail = launch(candidate, tier, stdin=stdin, calls=(calls_r, replies_w))
        finally:
            os.close(stdin)
    finally:
        for fd in theirs:
            os.close(fd)
        if jail is None:
            for fd in ours:
                os.close(fd)
            if pidfd is not None:
                os.close(pidfd)
    candidate_outcome, judge_outcome = Outcome(), Outcome()
    judged = Watched(judge_out, judge_err, judge_status, judge_outcome, lambda: _kill(pidfd),
                     backstop=time.monotonic() + judge.timeout_s + BACKSTOP_S)
    try:
        collect([Watched.of(jail, candidate_outcome, candidate.timeout_s), judged])
    finally:
        jail.close()
        for fd in (*ours, pidfd):
            os.close(fd)
    return candidate_outcome, judge_outcome


def _kill(pidfd: int) -> None:
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except ProcessLookupError:
        pass


__all__ = ["JudgeRun", "JudgeServer", "execute_judged"]
