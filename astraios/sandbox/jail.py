"""The in-sandbox half of astraios.sandbox: builds the jail, runs one program in it, reports.

Started once per runner process as a fork server, ``python -I -S jail.py CHANNEL_FD`` (an
isolated interpreter), so this file imports only the standard library, and everything it needs
before any process gives up privileges: it stays one self-contained file, longer than a module
would otherwise be, because the jail may import nothing from the package. Each run is a fresh fork of the server; three processes
take part:

* the keeper (this process) optionally drops root for an unprivileged uid, enters new user,
  mount, network, IPC, UTS and PID namespaces (``namespaces`` isolation) or becomes a child
  subreaper (``landlock`` / ``rlimits`` isolation), enforces the wall-clock limit and writes one
  JSON status line to the runner on the status fd, which the program never holds;
* the init (namespaces only): PID 1 of the new PID namespace; mounts the jail, forks the program,
  reaps orphans and exits as soon as the program exits, which makes the kernel kill everything
  left in the namespace, detached ``setsid`` children included;
* the program: sets resource limits, drops every capability (or applies Landlock), then either
  ``execve``s the command (Java, C, compilers), or, for Python, runs the user's source in this
  interpreter through the launcher (``launchers/python_launcher.py``: a judged candidate answers
  its tests' calls on the channel fds, a program on its own proves completion on them; see
  ``astraios/sandbox/__init__.py``), or becomes the judge server (``launchers/judge_server.py``),
  which forks the tests of judged runs from this warm interpreter.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import json
import os
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import time

# A program's channel: for a program run on its own, the runner's per-run nonce (readable once)
# and the proof fd, where the launcher writes it after the program's last statement; for a
# candidate judged by tests, the tests' calls and the candidate's replies.
CHANNEL_FDS = (3, 4)
STATUS_FD = 5  # the keeper's one-line JSON report to the runner; the program never holds it
SCRATCH_TMPFS_MB = 64  # the private /tmp and /dev/shm
WORKDIR_TMPFS_MB = 256  # a run's private copy of its work dir

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
AT_FDCWD, AT_RECURSIVE, MOUNT_ATTR_RDONLY = -100, 0x8000, 1
SYS_MOUNT_SETATTR, SYS_LANDLOCK_CREATE, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT = 442, 444, 445, 446
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 36, 38, 47, 4

_libc = ctypes.CDLL(None, use_errno=True)


class SetupError(Exception):
    """The jail could not be built; reported to the runner as status ``error``."""


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(err)}")
    return result


# ----------------------------------------------------------------------------------- mounts
def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: None if s is None else s.encode()  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _set_readonly(path: str, readonly: bool, recursive: bool) -> None:
    attr = struct.pack("QQQQ", MOUNT_ATTR_RDONLY if readonly else 0, 0 if readonly else MOUNT_ATTR_RDONLY, 0, 0)
    buf = ctypes.create_string_buffer(attr, len(attr))
    flags = AT_RECURSIVE if recursive else 0
    _check(_libc.syscall(SYS_MOUNT_SETATTR, AT_FDCWD, path.encode(), flags, buf, len(attr)), f"mount_setattr {path}")


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def build_mounts(spec: dict) -> None:
    """Read-only root; empty tmpfs over hidden paths; the work dir and bound paths at their own
    paths; private writable /tmp and /dev/shm; a /proc of the new PID namespace. A hidden path
    inside a bound one (a package in a site-packages under /root) is hidden again after the bind."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    binds = {path: os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for path in [*spec["bind_rw"], *spec["bind_ro"]]}
    inside_binds = [path for path in spec["hide"] if any(_under(path, target) and path != target for target in binds)]
    hidden = _hide([path for path in spec["hide"] if path not in inside_binds], spec)
    for target, fd in binds.items():
        os.makedirs(target, exist_ok=True)
        if spec["copy_workdir"] and target == spec["workdir"]:
            _private_copy(f"/proc/self/fd/{fd}", target, spec)
        else:
            _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        os.close(fd)
    _hide(inside_binds, spec)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _set_readonly("/", True, recursive=True)
    # /proc stays writable: a process's own /proc/self files, and the user namespace maps
    # that init writes after these mounts; the rest of /proc checks privileges itself.
    for path in [*spec["bind_rw"], *(p for p in spec["scratch"] if p in hidden), "/proc"]:
        _set_readonly(path, False, recursive=False)


def _hide(paths: list[str], spec: dict) -> list[str]:
    """An empty tmpfs over each directory of `paths` (writable for the scratch ones); the ones hidden."""
    hidden: list[str] = []
    for path in sorted(paths, key=len):
        if os.path.isdir(path) and not any(_under(path, h) for h in hidden):
            writable = path in spec["scratch"]
            options = f"mode={'1777' if writable else '0755'},size={SCRATCH_TMPFS_MB if writable else 1}m"
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, options)
            hidden.append(path)
    return hidden


def _private_copy(source: str, target: str, spec: dict) -> None:
    """A size-capped tmpfs holding a copy of the work dir: whatever the program writes stays in
    memory it cannot grow past the cap, never on the host's disk."""
    owner = spec["uid"] if spec["uid"] is not None and os.geteuid() == 0 else os.geteuid()
    group = spec["gid"] if spec["gid"] is not None and os.geteuid() == 0 else os.getegid()
    _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV,
           f"mode=0755,size={WORKDIR_TMPFS_MB}m,uid={owner},gid={group}")
    shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    for directory, names, files in os.walk(target):
        for name in [*names, *files]:
            os.lchown(os.path.join(directory, name), owner, group)


# ------------------------------------------------------------------------------ privileges
def drop_to_uid(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def unshare(flags: int) -> None:
    """Enter new namespaces; with a new user namespace, be its root, mapped to our own uid."""
    uid, gid = os.geteuid(), os.getegid()
    _check(_libc.unshare(flags), "unshare")
    if flags & CLONE_NEWUSER:
        for name, content in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(content)


def drop_capabilities() -> None:
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last_cap = int(f.read())
    for cap in range(last_cap + 1):
        _check(_libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "drop bounding capability")
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = bytes(24)  # effective, permitted, inheritable = 0 (two 32-bit words each)
    _check(_libc.capset(ctypes.c_char_p(header), ctypes.c_char_p(data)), "capset")


def apply_landlock(abi: int, writable: list[str]) -> None:
    """Writes only beneath `writable` (and to /dev/null), no TCP bind/connect (ABI >= 4), no
    signals or abstract-socket connections to processes outside the sandbox (ABI >= 6)."""
    fs = (1 << 13) - 1 - 0b1101  # every write-like right of ABI 1 (execute, read file, read dir excluded)
    if abi >= 2:
        fs |= 1 << 13  # refer
    if abi >= 3:
        fs |= 1 << 14  # truncate
    net = 0b11 if abi >= 4 else 0
    scoped = 0b11 if abi >= 6 else 0
    attr = struct.pack("QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    ruleset = _check(_libc.syscall(SYS_LANDLOCK_CREATE, ctypes.c_char_p(attr), len(attr), 0), "landlock ruleset")
    file_rights = fs & ((1 << 1) | (1 << 14))  # write file, truncate: the rights a file rule may hold
    for path, rights in [*((p, fs) for p in writable), ("/dev/null", file_rights)]:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        rule = struct.pack("=Qi", rights, fd)
        _check(_libc.syscall(SYS_LANDLOCK_ADD_RULE, ruleset, 1, ctypes.c_char_p(rule), 0), f"landlock rule {path}")
        os.close(fd)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _check(_libc.syscall(SYS_LANDLOCK_RESTRICT, ruleset, 0), "landlock restrict")
    os.close(ruleset)


def set_limits(limits: dict) -> None:
    mib = 1024 * 1024
    pairs = {
        resource.RLIMIT_FSIZE: (limits["file_size_mb"] * mib,) * 2,
        resource.RLIMIT_NOFILE: (limits["open_files"],) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    if limits["nproc"] is not None:
        pairs[resource.RLIMIT_NPROC] = (limits["nproc"],) * 2
    if limits["cpu_s"]:
        pairs[resource.RLIMIT_CPU] = (limits["cpu_s"], limits["cpu_s"] + 1)  # SIGXCPU, then SIGKILL
    if limits["address_space_mb"]:
        pairs[resource.RLIMIT_AS] = (limits["address_space_mb"] * mib,) * 2
    for which, value in pairs.items():
        resource.setrlimit(which, value)


# ------------------------------------------------------------------------------- processes
def _wait_with_deadline(pid: int, deadline: float | None) -> tuple[int | None, bool]:
    """Wait for child `pid`; returns (raw wait status, timed out). On timeout the child is not reaped."""
    pidfd = os.pidfd_open(pid)
    try:
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return None, True
            ready, _, _ = select.select([pidfd], [], [], remaining)
            if ready:
                _, status = os.waitpid(pid, 0)
                return status, False
    finally:
        os.close(pidfd)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, frontier = [], [root]
    while frontier:
        frontier = [child for pid in frontier for child in children.get(pid, [])]
        found += frontier
    return found


def kill_descendants() -> None:
    """As a child subreaper, every orphan of the subtree comes back to us: kill the whole subtree
    (a killed process forks no more; anything forked meanwhile is caught by the next sweep) and
    reap, until nothing is left."""
    while True:
        tree = _descendants(os.getpid())
        for pid in tree:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                break
        if not tree:
            time.sleep(0.001)


def _close_fds_except(keep: set[int]) -> None:
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


# ------------------------------------------------------------------------------ the program
# Standard-library modules the fork server imports once, so that Python programs importing them
# (test headers import most: bigcode-evaluation-harness's imports all of these) skip that work,
# which costs more than most tests. Only the standard library, imported by trusted code before any
# program exists; `random`'s state is reseeded in every forked child (by `random` itself).
WARM_MODULES = ("collections", "copy", "datetime", "functools", "hashlib", "heapq", "importlib.util", "itertools",
                "math", "re", "statistics", "string", "typing")
def move_high(fd: int) -> int:
    """Move a channel fd to the highest free number, out of the way of the program's own files."""
    highest = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 1
    while highest > 2:
        try:
            os.fstat(highest)
            highest -= 1
        except OSError:
            break
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, highest)
    os.close(fd)
    return moved


def load_launcher(name: str):
    """A file of launchers/, loaded by path (the server is an isolated interpreter that cannot
    import astraios) and registered as the module `astraios_NAME`, which the next ones import."""
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "launchers", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"astraios_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# Loaded by the server before it forks any keeper (all standard library only): the plain-data
# wire format and the calls between candidates and tests, the Python launcher, the judge server.
LAUNCHERS = ("python_wire", "python_calls", "python_launcher", "judge_server")
PYTHON_CALLS = PYTHON_LAUNCHER = JUDGE_SERVER = None


def become_program(spec: dict, report_fd: int) -> None:
    """Runs in the program's process: limits, privileges, then the program itself. Never returns."""
    try:
        os.chdir(spec["workdir"])
        if spec["isolation"] == "namespaces":
            drop_capabilities()
        else:
            if os.geteuid() == 0:  # the keeper stays root, out of the program's reach
                drop_to_uid(spec["uid"], spec["gid"])
            _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # own /proc/self (the Java launcher reads its fds there)
            if spec["landlock_abi"]:
                apply_landlock(spec["landlock_abi"], spec["bind_rw"])
        set_limits(spec["limits"])
        keep = {CHANNEL_FDS[0], CHANNEL_FDS[1]} if spec["channel"] else set()
        _close_fds_except(keep | {report_fd})
        os.setpgid(0, 0)  # its own group, so a group kill from inside cannot reach init or keeper
        if spec["mode"] == "exec":
            for number in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores them; exec keeps that
                signal.signal(number, signal.SIG_DFL)
            os.execve(spec["argv"][0], spec["argv"], os.environ)
        fds = tuple(move_high(fd) for fd in CHANNEL_FDS) if spec["channel"] else ()
    except (OSError, SetupError) as exc:
        os.write(report_fd, f"setup-error {exc}\n".encode())
        os._exit(126)
    os.close(report_fd)
    if spec["mode"] == "judge-server":
        JUDGE_SERVER.serve(0, sys.modules[__name__])
    PYTHON_LAUNCHER.run_python_source(spec["source_path"], spec["python_path"], spec["channel"], fds, PYTHON_CALLS)


def init_main(spec: dict, report_fd: int) -> None:
    """PID 1 of the new PID namespace: builds the jail, runs the program, and exits with it,
    which makes the kernel kill every process left in the namespace."""
    try:
        unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
        build_mounts(spec)
        if os.geteuid() == 0 and spec["uid"] is not None:
            # Root ignores RLIMIT_NPROC: run as an unprivileged uid, in a user namespace of this
            # run's own so that the process count is per run, not shared by concurrent runs.
            drop_to_uid(spec["uid"], spec["gid"])
            _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # the uid change cleared it; the maps need it
            unshare(CLONE_NEWUSER)
    except (OSError, SetupError) as exc:
        os.write(report_fd, f"setup-error {exc}\n".encode())
        os._exit(126)
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # after the last credential change, which clears it
    program = os.fork()
    if program == 0:
        become_program(spec, report_fd)
    if spec["channel"]:
        for fd in CHANNEL_FDS:
            os.close(fd)
    while True:  # reap adopted orphans until the program itself exits
        pid, status = os.wait()
        if pid == program:
            os.write(report_fd, f"exit {status}\n".encode())
            os._exit(0)


def _read_to_end(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    return data


def _wait_for_program(init: int, report_r: int, deadline: float | None) -> tuple[int | None, bool, bytes]:
    """Namespaces: (raw wait status, timed out, init's messages) as soon as init reports the
    program's exit, without waiting for the namespaces to be torn down (the kernel kills what is
    left in them; keeper_process reaps init after reporting). On timeout, init is killed, which
    ends everything in the jail."""
    pidfd = os.pidfd_open(init)
    messages = b""
    try:
        while not any(line.startswith(b"exit ") for line in messages.split(b"\n")[:-1]):
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                os.kill(init, signal.SIGKILL)
                return None, True, messages
            ready, _, _ = select.select([report_r, pidfd], [], [], remaining)
            if report_r in ready:
                chunk = os.read(report_r, 65536)
                if not chunk:
                    break
                messages += chunk
            elif pidfd in ready:  # init ended without reporting the program's exit (a setup error)
                _, status = os.waitpid(init, 0)
                return status, False, messages + _read_to_end(report_r)
    finally:
        os.close(pidfd)
    return None, False, messages


def _close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def keeper_main(spec: dict) -> dict:
    """Build the jail, run the program under the wall-clock limit and describe how it ended."""
    namespaces = spec["isolation"] == "namespaces"
    if namespaces:
        # Root may create the PID namespace in the initial user namespace, so init can mount
        # with full rights; anyone else needs a user namespace of their own first.
        unshare(CLONE_NEWPID if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWPID)
    else:
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # nothing of the same uid may ptrace or read the keeper
    report_r, report_w = os.pipe()
    start = time.monotonic()
    deadline = None if spec["timeout_s"] is None else start + spec["timeout_s"]
    child = os.fork()
    if child == 0:
        os.close(report_r)
        _close_quietly(STATUS_FD)
        if namespaces:
            init_main(spec, report_w)
        become_program(spec, report_w)
    os.close(report_w)
    if spec["channel"]:
        for fd in CHANNEL_FDS:
            os.close(fd)
    if namespaces:
        status, timed_out, messages = _wait_for_program(child, report_r, deadline)
    else:
        status, timed_out = _wait_with_deadline(child, deadline)
        if timed_out:
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
        kill_descendants()
        messages = _read_to_end(report_r)
    outcome: dict = {"timed_out": timed_out, "duration_s": time.monotonic() - start}
    for line in messages.decode(errors="replace").splitlines():
        kind, _, value = line.partition(" ")
        if kind == "setup-error":
            outcome["setup_error"] = value
        elif kind == "exit":
            status = int(value)
    if status is not None and not timed_out and "setup_error" not in outcome:
        if os.WIFSIGNALED(status):
            outcome["signal"] = os.WTERMSIG(status)
        else:
            outcome["exit_code"] = os.WEXITSTATUS(status)
    return outcome


def _place_fds(fds: list[int]) -> None:
    """Put the received fds at their fixed numbers: stdin, stdout, stderr at 0-2, the status
    fd at 5 and the channel's two fds (if any) at 3 and 4. All go through high numbers first,
    so none is clobbered."""
    targets = [0, 1, 2, STATUS_FD, *CHANNEL_FDS][: len(fds)]
    parked = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
    for fd in fds:
        os.close(fd)
    for target, fd in zip(targets, parked):
        os.dup2(fd, target, inheritable=target != STATUS_FD)
        os.close(fd)


def keeper_process(request: dict, fds: list[int]) -> None:
    """A freshly forked keeper: its own session, the run's fds and environment, then the run."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.setsid()
    _place_fds(fds)
    os.environ.clear()
    os.environ.update(request["env"])
    try:
        outcome = keeper_main(request["spec"])
    except (OSError, SetupError) as exc:
        outcome = {"setup_error": str(exc)}
    os.write(STATUS_FD, (json.dumps(outcome) + "\n").encode())
    os.close(STATUS_FD)  # the runner has its verdict; what is left is cleaning up
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
    os._exit(0)


def warm_import_paths(paths: list[str]) -> None:
    """Give the server the import-path finders of `paths` (site-packages), each with its directory
    listing, so a forked program's `import` or `find_spec` there (the harness header's numpy
    lookup) does not list the directory again. Nothing is imported; a finder rereads its
    directory when the directory changes."""
    for path in paths:
        if path in sys.path_importer_cache:
            continue
        for hook in sys.path_hooks:
            try:
                finder = hook(path)
            except ImportError:
                continue
            finder.find_spec("astraios_warm_up")  # fills the finder's listing; no such module
            sys.path_importer_cache[path] = finder
            break


def serve(channel_fd: int) -> None:
    """Fork server: one warm interpreter, started once per runner process, forks a fresh keeper
    per run (saving an interpreter start and these imports each time). It never runs a program
    itself, so every run starts from the same pristine state and none shares anything with another.
    Requests are one JSON message with the run's fds (SCM_RIGHTS); the answer is the keeper's pid.
    It imports WARM_MODULES once, so a Python program finds them loaded (as after any import)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps finished keepers
    for name in WARM_MODULES:
        __import__(name)
    global PYTHON_CALLS, PYTHON_LAUNCHER, JUDGE_SERVER
    _, PYTHON_CALLS, PYTHON_LAUNCHER, JUDGE_SERVER = (load_launcher(name) for name in LAUNCHERS)
    gc.freeze()  # the collector never walks (so never copies) the server's pages in a forked child
    channel = socket.socket(fileno=channel_fd)
    while True:
        message, fds, _, _ = socket.recv_fds(channel, 1 << 20, 8)
        if not message:
            return  # the runner is gone
        request = json.loads(message)
        warm_import_paths(request["spec"]["python_path"])
        pid = os.fork()
        if pid == 0:
            channel.close()
            keeper_process(request, fds)
        for fd in fds:
            os.close(fd)
        channel.send(str(pid).encode())


if __name__ == "__main__":
    serve(int(sys.argv[1]))
