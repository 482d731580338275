"""What the sandbox runs (`Program`) and what it reports (`Result`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

Language = Literal["python", "java", "c"]
Status = Literal["passed", "failed", "timeout", "error"]
Phase = Literal["compile", "run"]
LANGUAGES: tuple[str, ...] = ("python", "java", "c")
MAX_TIMEOUT_S = 86_400.0  # a day; beyond it the kernel's timers and rlimits overflow or mean nothing


@dataclass(frozen=True)
class Program:
    """One untrusted program.

    `source` is the whole program: for Python a module, for Java a compilation unit with a
    `public class Main` that has `public static void main(String[])`, for C a translation unit
    with `main`. `files` are extra files (relative path -> text) placed beside it in the working
    directory. `timeout_s` bounds the run phase's wall-clock (and CPU) time; `memory_mb` its
    address space (Java: heap = half of it; see the package docs).
    """

    language: Language
    source: str
    stdin: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    memory_mb: int = 1024

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"unknown language {self.language!r}; expected one of {', '.join(LANGUAGES)}")
        if not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            raise ValueError(f"timeout_s must be above 0 and at most {MAX_TIMEOUT_S:g} seconds, got {self.timeout_s}")
        if self.memory_mb < 64:
            raise ValueError(f"memory_mb must be at least 64, got {self.memory_mb}")
        for name in self.files:
            parts = name.split("/")
            if not name or name.startswith("/") or ".." in parts or "" in parts:
                raise ValueError(f"extra file name {name!r} must be a relative path without '..'")


@dataclass
class Result:
    """How one program ended.

    status: `passed` (ran to its end, proven out of band, and exited 0), `failed` (non-zero exit,
    exception, crash, premature exit, or a compile error with phase `compile`), `timeout`
    (wall-clock or CPU time limit), `error` (the memory, file-size, open-file or work-dir space
    limit, or the sandbox itself failed).
    stdout/stderr are the last `OUTPUT_CAP_BYTES` bytes of each stream; `*_truncated_bytes` says
    how much was dropped before them.
    """

    status: Status
    phase: Phase
    exit_code: int | None
    duration_s: float
    stdout: str
    stderr: str
    isolation: str
    reason: str = ""
    language: str = ""
    signal: str | None = None
    stdout_truncated_bytes: int = 0
    stderr_truncated_bytes: int = 0
    compile_duration_s: float | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        """A JSON-serialisable dict of every field."""
        return dataclasses.asdict(self)
