"""The judge server: runs the tests of judged programs, in a jail of its own (see
astraios/sandbox/__init__.py).

One server per runner process, started like a program (jail.become_program, mode "judge-server")
in its own user, PID, mount, network, IPC and UTS namespaces (or its own Landlock domain), so no
candidate, each in a jail of its own, can see, signal, trace or read it. It is a fork of the
jail's fork server and imports nothing else. Per run it forks a fresh judge: the tests, with the
run's end of the candidate's channel. So tests never share state between programs, and no
candidate code ever runs here: only plain data arrives, on the channel. The server itself waits
for its judges (one event loop: the runner's requests, the judges' pidfds, their deadlines) and
reports how each ended.

Request (one SOCK_SEQPACKET message, JSON, with the fds stdout, stderr, status, calls, replies):
    {"language", "timeout_s", "limits", "env", "workdir", "python_path",
     "tests" (python: the tests' source) | "argv" (java, c: the judge to exec)}
Answer: the judge's pid, with a pidfd of it (the runner's backstop kill).
Status (one JSON line on the status fd once the judge ended): exit_code or signal, timed_out,
duration_s, and the judge's report ("done", a limit marker, "broken: why" or "failed").
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time

MAX_REQUEST_BYTES = 1 << 23  # tests of at most program.MAX_TESTS_CHARS, JSON-escaped
# The judge's fds: stdin (/dev/null), stdout, stderr, the calls it makes, the candidate's replies,
# and its report.
CALLS_FD, REPLIES_FD, REPORT_FD = 3, 4, 5


class Judge:
    """A running judge: its pid, the runner's status pipe, its report pipe (read once it ended)."""

    def __init__(self, pid: int, status: int, report: int, start: float, deadline: float):
        self.pid, self.status, self.report, self.start, self.deadline = pid, status, report, start, deadline


def serve(channel_fd: int, jail) -> None:
    """Start a judge per request and report each one's end, until the runner closes the
    channel. Never returns."""
    channel = socket.socket(fileno=channel_fd)
    judges: dict[int, Judge] = {}  # pidfd -> judge
    while True:
        now = time.monotonic()
        timeout = max(0.0, min(judge.deadline for judge in judges.values()) - now) if judges else None
        ready, _, _ = select.select([channel, *judges], [], [], timeout)
        now = time.monotonic()
        for pidfd in [fd for fd, judge in judges.items() if fd in ready or judge.deadline <= now]:
            finish(judges.pop(pidfd), pidfd, timed_out=pidfd not in ready)
        if channel in ready:
            message, fds, _, _ = socket.recv_fds(channel, MAX_REQUEST_BYTES, 8)
            if not message:
                os._exit(0)
            request = json.loads(message)
            if request["language"] == "python":
                jail.PYTHON_CALLS.prepared(request["tests"])  # compiled here once, inherited by every judge
            stdout, stderr, status, calls, replies = fds
            report_r, report_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                channel.close()
                become_judge(request, [os.open(os.devnull, os.O_RDONLY), stdout, stderr, calls, replies, report_w], jail)
            pidfd = os.pidfd_open(pid)
            for fd in (stdout, stderr, calls, replies, report_w):
                os.close(fd)
            start = time.monotonic()
            judges[pidfd] = Judge(pid, status, report_r, start, start + request["timeout_s"])
            socket.send_fds(channel, [str(pid).encode()], [pidfd])


def finish(judge: Judge, pidfd: int, timed_out: bool) -> None:
    """Kill what is left of the judge's group (all of it on timeout), reap it, report its end."""
    try:
        os.killpg(judge.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _, wait_status = os.waitpid(judge.pid, 0)
    os.close(pidfd)
    os.set_blocking(judge.report, False)
    try:
        report = os.read(judge.report, 4096).decode(errors="replace").strip()
    except BlockingIOError:
        report = ""
    outcome = {"timed_out": timed_out, "duration_s": time.monotonic() - judge.start, "report": report[:2000]}
    if not timed_out:
        if os.WIFSIGNALED(wait_status):
            outcome["signal"] = os.WTERMSIG(wait_status)
        else:
            outcome["exit_code"] = os.WEXITSTATUS(wait_status)
    try:
        os.write(judge.status, (json.dumps(outcome) + "\n").encode())
    except OSError:  # the runner gave up on this run
        pass
    os.close(judge.status)
    os.close(judge.report)


def become_judge(request: dict, fds: list[int], jail) -> None:
    """The judge: its fds at 0-5, its own group and limits, then the tests. Never returns."""
    try:
        parked = [os.dup(fd) for fd in fds]
        for fd in fds:
            os.close(fd)
        for target, fd in enumerate(parked):
            os.dup2(fd, target)
            os.close(fd)
        jail._close_fds_except({CALLS_FD, REPLIES_FD, REPORT_FD})
        os.setpgid(0, 0)
        os.chdir(request["workdir"])
        jail.set_limits(request["limits"])
        os.environ.clear()
        os.environ.update(request["env"])
        if request["language"] != "python":
            for number in (signal.SIGPIPE, signal.SIGXFSZ):
                signal.signal(number, signal.SIG_DFL)
            os.execve(request["argv"][0], request["argv"], os.environ)
    except OSError as exc:
        os.write(REPORT_FD, f"broken: the judge could not start: {exc}\n".encode())
        os._exit(126)
    sys.argv = ["<tests>"]
    sys.path.extend(request["python_path"])
    jail.PYTHON_CALLS.judge(request["tests"], CALLS_FD, REPLIES_FD, REPORT_FD)
