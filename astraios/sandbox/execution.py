"""Host side of the sandbox: isolation tiers, private directories, starting the jail and
collecting what it reports, with output kept to a bounded tail."""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import functools
import json
import math
import os
import secrets
import selectors
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from astraios.sandbox.jail import SYS_LANDLOCK_CREATE, _under

JAIL = Path(__file__).with_name("jail.py")
TIERS = ("namespaces", "landlock", "rlimits")
TIER_DESCRIPTIONS = {
    "namespaces": "user, PID, network, mount, IPC and UTS namespaces; read-only root, private /tmp; rlimits",
    "landlock": "Landlock (writes only in the work dir, no TCP, no signals out); rlimits; subreaper kill",
    "rlimits": "rlimits, own session and process group, subreaper kill only",
}
ISOLATION_ENV = "ASTRAIOS_SANDBOX_ISOLATION"
OUTPUT_CAP_BYTES = 1024 * 1024
SANDBOX_UID = SANDBOX_GID = 65534  # nobody/nogroup: who runs programs when the runner is root
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
class Workspace:
    """A per-process base directory (removed at exit) holding one private directory per run.

    The base is named after its owner's pid and holds a lock file its owner keeps locked for its
    whole life, so the first run of a process also removes the bases of dead owners (a runner
    killed with SIGKILL runs no exit handler): a lock that can be taken means its owner is gone,
    whatever its pid became since. Bases without a lock file are left alone.

    Under `namespaces` isolation the base is in memory (/dev/shm, when it is a tmpfs with room):
    programs write only to private tmpfs copies of their work dirs, so the base holds only what
    the runner writes (sources) and compilers produce, and creating and removing a directory per
    run costs no disk metadata. Under the other tiers programs write their work dirs, so the
    base stays on disk (the temporary directory).
    """

    PREFIX = "astraios-sandbox-"
    LOCK = ".owner.lock"
    MEMORY = Path("/dev/shm")
    MEMORY_FREE_BYTES = 1 << 30  # use /dev/shm only when it is this roomy (Docker's default is 64 MiB)
    _lock = threading.Lock()
    _base: Path | None = None
    _owner_fd: int | None = None
    _in_memory = False

    @classmethod
    def place(cls, in_memory: bool) -> None:
        """Where the next base goes (see above); an empty base elsewhere is moved there."""
        with cls._lock:
            in_memory = in_memory and cls._memory_usable()
            if in_memory != cls._in_memory and cls._base is not None and list(cls._base.iterdir()) == [cls._base / cls.LOCK]:
                remove_tree(cls._base)
                os.close(cls._owner_fd)
                cls._base = cls._owner_fd = None
            cls._in_memory = in_memory

    @classmethod
    def _memory_usable(cls) -> bool:
        try:
            info = os.statvfs(cls.MEMORY)
        except OSError:
            return False
        return os.access(cls.MEMORY, os.W_OK) and info.f_bavail * info.f_frsize >= cls.MEMORY_FREE_BYTES

    @classmethod
    def roots(cls) -> list[Path]:
        """Where bases may be: the temporary directory and, if usable, /dev/shm."""
        return [Path(tempfile.gettempdir()), *([cls.MEMORY] if cls.MEMORY.is_dir() else [])]

    @classmethod
    def base(cls) -> Path:
        with cls._lock:
            if cls._base is None:
                for root in cls.roots():
                    remove_stale_workspaces(root)
                root = cls.MEMORY if cls._in_memory else Path(tempfile.gettempdir())
                base = Path(tempfile.mkdtemp(prefix=f"{cls.PREFIX}{os.getpid()}-", dir=root))
                cls._owner_fd = os.open(base / cls.LOCK, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
                fcntl.flock(cls._owner_fd, fcntl.LOCK_EX)
                base.chmod(0o711)  # traversable, not listable, by the sandbox uid
                cls._base = base
                atexit.register(cls._remove, base)
            return cls._base

    @classmethod
    def _remove(cls, base: Path) -> None:
        if base.exists():
            remove_tree(base)

    @classmethod
    def new_run_dir(cls) -> tuple[Path, Path]:
        """(run dir, work dir): the work dir is the program's cwd and its only writable place."""
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=cls.base()))
        run_dir.chmod(0o711)
        workdir = run_dir / "work"
        workdir.mkdir()
        if os.geteuid() == 0:
            os.chown(workdir, SANDBOX_UID, SANDBOX_GID)
        return run_dir, workdir


def remove_stale_workspaces(root: Path | None = None) -> list[Path]:
    """Remove this user's sandbox base directories whose owner process is dead (see Workspace);
    returns what was removed."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    for entry in root.glob(f"{Workspace.PREFIX}[0-9]*-*"):
        try:
            info = entry.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
                continue
            fd = os.open(entry / Workspace.LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:  # gone meanwhile, or no lock file yet (an owner still starting)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held until removed: one cleaner at a time
            remove_tree(entry)
            removed.append(entry)
        except OSError:  # its owner holds the lock (alive), or another cleaner was first
            continue
        finally:
            os.close(fd)
    return removed


def remove_tree(path: Path) -> None:
    """Remove a run's directory whatever the program did to permissions inside it."""

    def make_writable_and_retry(function, failed_path, _exc_info) -> None:
        parent = os.path.dirname(failed_path)
        os.chmod(parent, 0o700)
        if os.path.isdir(failed_path) and not os.path.islink(failed_path):
            os.chmod(failed_path, 0o700)
        function(failed_path)

    shutil.rmtree(path, onerror=make_writable_and_retry)  # onexc needs 3.12; onerror works on all


def write_files(workdir: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if os.geteuid() == 0:  # the sandbox uid may rewrite its own inputs, as in any working dir
            for part in [path, *path.relative_to(workdir).parents]:
                os.chown(workdir / part, SANDBOX_UID, SANDBOX_GID)


def cache_dir() -> Path:
    """A per-user directory for compiled launchers, shared by runs: only ever read by programs."""
    root = Path(tempfile.gettempdir()) / f"astraios-sandbox-cache-{os.geteuid()}"
    root.mkdir(mode=0o755, exist_ok=True)
    info = root.lstat()
    if info.st_uid != os.geteuid() or info.st_mode & 0o022 or root.is_symlink():
        raise RuntimeError(f"{root} is not a directory owned and writable only by this user; remove it")
    return root


# ------------------------------------------------------------------------------ tiers
def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is unavailable."""
    libc = ctypes.CDLL(None, use_errno=True)
    version = libc.syscall(SYS_LANDLOCK_CREATE, None, 0, 1)  # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
    return max(version, 0)


def _world_traversable(path: str) -> bool:
    current = Path(path).resolve()
    for directory in [current, *current.parents]:
        if directory.exists() and not directory.stat().st_mode & 0o001:
            return False
    return True


@functools.cache
def _python_paths() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(dict.fromkeys([paths["purelib"], paths["platlib"]]))


@functools.cache
def _hidden_paths() -> tuple[str, ...]:
    candidates = ["/tmp", "/var/tmp", "/dev/shm", "/run", "/root", "/home", str(Path.home()), tempfile.gettempdir()]
    return tuple(p for p in dict.fromkeys(candidates) if p != "/" and os.path.isdir(p) and not os.path.islink(p))


@functools.cache
def _needed_read_only_paths() -> tuple[str, ...]:
    """What programs must read and that may lie under hidden paths: interpreter, JDK, launchers."""
    needed = [sys.base_prefix, sys.prefix, *_python_paths(), str(cache_dir())]
    java = shutil.which("java")
    if java:
        needed.append(str(Path(java).resolve().parent.parent))
    needed = [str(Path(p).resolve()) for p in needed]
    hidden = _hidden_paths()
    under_hidden = [p for p in dict.fromkeys(needed) if any(_under(p, h) for h in hidden)]
    return tuple(p for p in under_hidden if not any(q != p and _under(p, q) for q in under_hidden))



class SandboxUnavailable(RuntimeError):
    """No isolation tier may run untrusted code here (or the forced one is unknown): nothing runs."""

class Isolation:
    """The tier this process uses, chosen once: the strongest one whose probe program passes."""

    _lock = threading.Lock()
    _tier: str | None = None
    _landlock = 0
    _fallback_uid: int | None = None

    @classmethod
    def tier(cls) -> str:
        with cls._lock:
            if cls._tier is None:
                cls._tier = cls._choose()
            return cls._tier

    @classmethod
    def _choose(cls) -> str:
        cls._landlock = landlock_abi()
        if os.geteuid() == 0 and all(_world_traversable(p) for p in [sys.base_prefix, sys.prefix, *_python_paths()]):
            cls._fallback_uid = SANDBOX_UID
        forced = os.environ.get(ISOLATION_ENV)
        if forced:
            if forced not in TIERS:
                raise SandboxUnavailable(f"{ISOLATION_ENV}={forced!r}: expected one of {', '.join(TIERS)}. Fix: unset "
                                         f"{ISOLATION_ENV} to use the strongest tier that works")
            candidates = [forced]
        else:
            candidates = [t for t in TIERS if t != "landlock" or cls._landlock]
        failures = []
        for tier in candidates:
            Workspace.place(in_memory=tier == "namespaces")
            problem = cls._refusal(tier) or _probe(tier)
            if problem is None:
                if tier != "namespaces":
                    warnings.warn(
                        f"astraios.sandbox: namespaces unavailable ({'; '.join(failures) or 'forced'}); "
                        f"falling back to '{tier}' isolation: {TIER_DESCRIPTIONS[tier]}",
                        RuntimeWarning,
                        stacklevel=4,
                    )
                return tier
            failures.append(f"{tier}: {problem}")
        raise SandboxUnavailable("astraios.sandbox: no isolation tier works here: " + "; ".join(failures))

    @classmethod
    def _refusal(cls, tier: str) -> str | None:
        """Why `tier` must not be used here: untrusted code never runs as root (root could
        signal every process, reboot, and ignores the process limit)."""
        if tier == "namespaces" or os.geteuid() != 0 or cls._fallback_uid is not None:
            return None
        return (f"the runner is root and the Python installation is not reachable by uid {SANDBOX_UID}, "
                "so programs would run as root; run as a normal user, or where user namespaces are allowed")

    @classmethod
    def run_as_uid(cls, tier: str) -> int | None:
        if os.geteuid() != 0:
            return None
        return SANDBOX_UID if tier == "namespaces" else cls._fallback_uid

    @classmethod
    def landlock(cls, tier: str) -> int:
        return cls._landlock if tier == "landlock" else 0


def _probe(tier: str) -> str | None:
    """Run a tiny Python program in `tier`; None when it passed, else what went wrong."""
    run_dir, workdir = Workspace.new_run_dir()
    try:
        write_files(workdir, {"main.py": "import json, decimal\n"})
        run = JailRun("python", workdir, Limits(cpu_s=10, address_space_mb=None), timeout_s=10.0,
                      source_path=str(workdir / "main.py"))
        outcome = execute(run, tier)
    finally:
        remove_tree(run_dir)
    if outcome.setup_error:
        return outcome.setup_error
    if outcome.proof != "ok" or outcome.exit_code != 0:
        return f"probe program did not pass: exit {outcome.exit_code}, {outcome.stderr.text()[0][-300:]}"
    return None


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
        "hide": [*_hidden_paths(), str(Workspace.base())],
        "scratch": ["/tmp", "/dev/shm"],
        "bind_rw": [str(run.workdir)],
        "bind_ro": list(_needed_read_only_paths()),
        "python_path": list(_python_paths()),
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
