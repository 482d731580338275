"""astraios's per-user cache: small JSON answers that are slow to find and cheap to keep (parameter
counts, generation batch sizes), each under a digest of everything that decides it.

An entry holds its whole key beside its values, so a digest collision or a hand-copied file is never
taken for another's answer; a torn, foreign or malformed entry reads as absent and is found and
written again. Entries are written whole (write to a temporary file, then rename).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
import json
import logging
import os
from importlib import metadata
from pathlib import Path

from astraios.core.io import CorruptFileError, read_json, write_json

log = logging.getLogger(__name__)
CACHE_ENV = "ASTRAIOS_CACHE_DIR"


def user_cache_dir() -> Path:
    """$ASTRAIOS_CACHE_DIR, else the platform's user cache directory (~/.cache/astraios on Linux)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    import platformdirs

    return Path(platformdirs.user_cache_dir("astraios"))


@functools.lru_cache(maxsize=None)
def library_versions() -> dict:
    """The versions a cached answer about a model depends on (read from the installed metadata,
    without importing the libraries)."""
    import astraios

    found = {"astraios": astraios.__version__}
    for name in ("torch", "transformers", "peft"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def entry_path(kind: str, key: dict) -> Path:
    return user_cache_dir() / kind / f"{digest(key)}.json"


def read_entry(kind: str, key: dict) -> dict | None:
    """The values cached under `key`, or None (absent, torn, or another key's)."""
    try:
        entry = read_json(entry_path(kind, key))
    except (CorruptFileError, OSError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("values"), dict):
        return None
    return entry["values"]


def remembered(kind: str, key: dict | None, valid: Callable[[dict], bool], find: Callable[[], dict]) -> tuple[dict, bool]:
    """The values cached under `key` when they are `valid`, else `find()`'s, cached; and whether they
    came from the cache. A None key (nothing identifies the answer) is never cached."""
    cached = None if key is None else read_entry(kind, key)
    if cached is not None and valid(cached):
        return cached, True
    values = find()
    if key is not None:
        write_entry(kind, key, values)
    return values, False


def write_entry(kind: str, key: dict, values: dict) -> None:
    try:
        write_json(entry_path(kind, key), {"key": key, "values": values})
    except OSError as error:  # a read-only cache only costs time
        log.warning("%s not cached (%s): the next call finds it again", kind, error)
