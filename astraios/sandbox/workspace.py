"""The private directories programs run in: one base directory per runner process (removed at
exit, and by the next runner when its owner was killed) holding one directory per run, whose work
dir is the program's cwd and only writable place. Split from `execution` because where programs
run and how they are started are separate concerns: the tools (compilers, analysers) use these
directories without the jail's launch protocol."""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path

SANDBOX_UID = SANDBOX_GID = 65534  # nobody/nogroup: who runs programs when the runner is root


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
    def judges(cls) -> Path:
        """Where the judge server works and judges' compiled tests are kept: never in a candidate's
        view (its jail hides the base and shows only its own work dir)."""
        path = cls.base() / "judges"
        path.mkdir(mode=0o755, exist_ok=True)
        return path

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
