"""Atomic file writes: a crash never leaves a half-written file in a run directory.

Every file astraios writes into a run directory goes through here: the content is written to a
temporary file in the same directory, flushed to disk, then renamed over the target (rename is
atomic on POSIX filesystems), so a reader sees the old file or the new one, never a torn one. The
file gets the mode a plain `open()` would give (0666 less the umask), not mkstemp's private 0600.

JSON is always valid JSON: a non-finite float (NaN, infinity) is written as `null`, never as the
bare `NaN` Python's json module emits by default and other readers reject. A file that cannot be
read back (torn, empty, not JSON) raises `CorruptFileError`, which names the file and line.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml


class CorruptFileError(ValueError):
    """A file astraios reads is torn, empty or not the format it should be; the message names it."""


def write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask, read without changing it where Linux says it (/proc), since setting it
    to read it back races with other threads creating files."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(directory: str | Path) -> None:
    """Give every file below `directory` the mode the umask asks for: some writers astraios calls
    (safetensors) create private 0600 files whatever the umask."""
    mode = 0o666 & ~current_umask()
    for path in Path(directory).rglob("*"):
        if path.is_file() and not path.is_symlink():
            path.chmod(mode)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def not_unicode(text: str) -> str | None:
    """Why `text` (a program, a field of a data file) cannot be written as UTF-8 (a lone surrogate from
    a JSON escape), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return (f"not valid Unicode text (lone surrogate U+{ord(text[error.start]):04X} at character "
                f"{error.start}), so it cannot be saved as a file")
    return None


def json_safe(data: Any) -> Any:
    """`data` with every non-finite float replaced by None (JSON has no NaN or infinity)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: json_safe(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_safe(value) for value in data]
    return data


def dumps(data: Any, **options) -> str:
    """Strict JSON text of `data` (non-finite floats as null)."""
    return json.dumps(json_safe(data), allow_nan=False, **options)


def write_json(path: str | Path, data: Any) -> None:
    write_text(path, dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_yaml(path: str | Path, data: Any) -> None:
    write_text(path, yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


def write_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    write_bytes(path, b"".join(_jsonl_line(record) for record in records))


def _jsonl_line(record: dict) -> bytes:
    """One UTF-8 jsonl line; text that UTF-8 cannot hold (a lone surrogate) is kept as a JSON escape."""
    try:
        return (dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (dumps(record) + "\n").encode("ascii")


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one record as a single write, so a crash loses at most that line, never splits one.

    A torn last line (a crash mid-write: no newline at the end) is cut off first; appending after
    it would glue the new record onto it and make a corrupt line in the middle of the file."""
    line = _jsonl_line(record)
    with open(path, "a+b") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end:
            handle.seek(end - 1)
            if handle.read(1) != b"\n":
                handle.truncate(_last_line_end(handle, end))
        handle.write(line)
        handle.flush()


def _last_line_end(handle, end: int, chunk: int = 1 << 16) -> int:
    """The offset just after the last newline before `end` (0 when there is none)."""
    position = end
    while position > 0:
        start = max(0, position - chunk)
        handle.seek(start)
        found = handle.read(position - start).rfind(b"\n")
        if found != -1:
            return start + found + 1
        position = start
    return 0


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a jsonl file, ignoring a torn last line left by a crash mid-append; any other bad line
    raises CorruptFileError naming the file and line."""
    records = []
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                records.append(json.loads(line.decode("utf-8")))
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                if line.endswith(b"\n"):
                    reason = getattr(error, "msg", None) or str(error)
                    raise CorruptFileError(f"{path}: line {number} is not valid JSON ({reason}). Fix: delete "
                                           f"that line (or the file) and run again.") from None
    return records


def read_json(path: str | Path) -> Any:
    """A JSON file's content, or None when there is no such file (a run not written yet); a torn or
    empty file raises CorruptFileError naming it."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        problem = "it is empty" if not path.stat().st_size else f"not valid JSON: {error}"
        raise CorruptFileError(f"{path}: {problem}. Fix: delete it to have it written again, or restore it.") from None


def replace_dir(tmp_dir: str | Path, final_dir: str | Path) -> None:
    """Move a fully written directory into place, replacing any previous one."""
    final_dir = Path(final_dir)
    if final_dir.exists():
        # A name of its own: a fixed `.NAME.old` could be someone's folder, removed unseen.
        trash = final_dir.with_name(f".{final_dir.name}.old-{secrets.token_hex(8)}")
        os.replace(final_dir, trash)
        os.replace(tmp_dir, final_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp_dir, final_dir)
