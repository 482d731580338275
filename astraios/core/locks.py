"""Exclusive locks on the directories astraios writes: one writer per run, grid or evaluated task.

    with exclusive(run_dir, "train"):        # refuses at once if another process holds it
        ...
    with exclusive(out, "results", wait_s=60):   # waits up to a minute (a short read-modify-write)
        ...

A lock is a file in the directory (`.astraios.lock` by default) holding the holder's pid, host,
command and start time, and the holder keeps an exclusive `flock` on it. Why both:
- the flock is what excludes: the kernel drops it the moment its holder dies, however it dies
  (SIGKILL, out of memory), so on one host a stale lock cannot exist: the next process finds the
  file unlocked and takes it over, whatever pid the file names (even one reused since);
- the pid and host are what the refusal says ("held by astraios train, pid 4242 on gpu-03 since
  ..."), and what protects across hosts.

Across hosts (a run directory on NFS or another shared filesystem): where the filesystem passes
flock to its server (NFSv4, Lustre with flock enabled), the exclusion holds across hosts as on one.
Where it does not, each host sees only its own locks; so a lock file that names another host is
treated as held even when its flock is free, because astraios cannot check a pid on another
machine. A process killed on host A therefore leaves a lock that a process on host B refuses;
the message names the file to delete once that process is known to be gone. A released lock is
deleted, so this only happens after a crash.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = ".astraios.lock"
POLL_S = 0.1


class LockHeld(RuntimeError):
    """Another live process holds the lock; the message says who and how to proceed."""


@contextlib.contextmanager
def exclusive(directory: str | Path, purpose: str, *, name: str = LOCK_FILE, wait_s: float = 0.0) -> Iterator[Path]:
    """Hold the exclusive lock `name` in `directory` (created if missing) for the `with` block.

    `purpose` says what the holder does (train, grid, eval ...), for the message another process
    gets. With `wait_s` > 0, wait that long for a holder to finish before refusing."""
    directory = Path(directory)
    created = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    deadline = time.monotonic() + wait_s
    while True:
        handle = _try_acquire(path, purpose)
        if handle is not None:
            break
        if time.monotonic() >= deadline:
            raise LockHeld(_held_message(directory, path, purpose))  # `created` is False: it was there
        time.sleep(POLL_S)
    try:
        yield path
    finally:
        # Delete, then unlock: a process waiting on this inode sees it gone and opens the new one.
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        handle.close()
        if created:  # made only to hold the lock (e.g. a run refused before writing anything)
            with contextlib.suppress(OSError):
                directory.rmdir()


def holder(path: str | Path) -> dict | None:
    """What a lock file says about its holder (pid, host, purpose, command, since), if readable."""
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return content if isinstance(content, dict) else None


def _try_acquire(path: Path, purpose: str):
    """An open handle holding the flock of `path` with our record in it, or None when it is held."""
    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (kept open while the lock is held)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        # The holder we waited on may have deleted the file before unlocking it: then we hold the
        # lock of a name nobody else will open, and try again on the file now at `path`.
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                break
        except FileNotFoundError:
            pass
        handle.close()
    previous = holder(path)
    if previous and previous.get("host") not in (None, socket.gethostname()):
        handle.close()  # left by a process on another host: we cannot tell whether it still runs
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose,
                             "command": " ".join(sys.argv), "since": time.strftime("%Y-%m-%dT%H:%M:%S")}))
    handle.flush()
    return handle


def _held_message(directory: Path, path: Path, purpose: str) -> str:
    found = holder(path) or {}
    who = (f"astraios {found.get('purpose', '?')} (pid {found.get('pid', '?')} on host {found.get('host', '?')}, "
           f"since {found.get('since', '?')})")
    if found.get("host") not in (None, socket.gethostname()):
        return (f"{directory} is locked by {who}, another host, so astraios cannot tell whether it still runs; "
                f"{purpose} refused. Fix: wait for it to finish; if that process is gone, delete {path}.")
    return (f"{directory} is in use by {who}; a second {purpose} here would corrupt its files, so it is refused. "
            f"Fix: wait for it to finish (or stop it), or use another directory.")
