"""What the sandbox runs (`Program`) and what it reports (`Result`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

Language = Literal["python", "java", "c"]
Status = Literal["passed", "failed", "timeout", "error"]
Phase = Literal["compile", "run"]
SUFFIXES = {"python": ".py", "java": ".java", "c": ".c"}  # language -> its source files' suffix
LANGUAGES: tuple[str, ...] = tuple(SUFFIXES)
MAX_TESTS_CHARS = 1 << 20  # the judge server takes requests of 8 MiB: room for them JSON-escaped
MAX_TIMEOUT_S = 86_400.0  # a day; beyond it the kernel's timers and rlimits overflow or mean nothing


@dataclass(frozen=True)
class Program:
    """One untrusted program, run on its own or judged by tests.

    On its own (`tests` None), `source` is the whole program: for Python a module, for Java a
    compilation unit with a `public class Main` that has `public static void main(String[])`, for
    C a translation unit with `main`; it passes when it runs to its end and exits 0 (its own
    account: see the package docs for what a hostile program can do to it).

    Judged (`tests` given), `source` is the candidate: a Python module, a Java compilation unit
    (its classes, no `Main` needed) or a C translation unit (its functions, no `main` needed); the
    tests run in another process and reach the candidate's functions only through calls that
    carry plain data: a Python module (the candidate's names it uses are bound to proxies), a Java
    compilation unit with `public class Main` whose classes reach the candidate through
    `AstraiosRemote` (see `astraios.sandbox.java_judge`), or a C translation unit with `main`
    that calls the candidate's functions by name. It passes when the tests ran to their end, the
    candidate answered every call and then exited 0; nothing the candidate does decides that.

    `files` are extra files (relative path -> text) placed beside the candidate in its working
    directory. `timeout_s` bounds the run phase's wall-clock (and CPU) time, of the candidate
    and of its tests each; `memory_mb` their address space (Java: heap = half of it).
    """

    language: Language
    source: str
    tests: str | None = None
    stdin: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0
    memory_mb: int = 1024

    def __post_init__(self) -> None:
        if self.language not in LANGUAGES:
            raise ValueError(f"unknown language {self.language!r}; expected one of {', '.join(LANGUAGES)}")
        if not 0 < self.timeout_s <= MAX_TIMEOUT_S:
            raise ValueError(f"timeout_s must be above 0 and at most {MAX_TIMEOUT_S:g} seconds, got {self.timeout_s}")
        if self.tests is not None and len(self.tests) > MAX_TESTS_CHARS:
            raise ValueError(f"tests of {len(self.tests)} characters: at most {MAX_TESTS_CHARS} are taken")
        if self.memory_mb < 64:
            raise ValueError(f"memory_mb must be at least 64, got {self.memory_mb}")
        for name in self.files:
            parts = name.split("/")
            if not name or name.startswith("/") or ".." in parts or "" in parts:
                raise ValueError(f"extra file name {name!r} must be a relative path without '..'")


@dataclass
class Result:
    """How one program ended.

    status: `passed` (judged: the tests ran to their end and the candidate then exited 0; on its
    own: ran to its end and exited 0), `failed` (a failing test, non-zero exit, exception, crash,
    premature exit, or a compile error with phase `compile`), `timeout` (wall-clock or CPU time
    limit), `error` (the memory, file-size, open-file or work-dir space limit, or the sandbox
    itself failed).
    stdout/stderr are the last `OUTPUT_CAP_BYTES` bytes of each stream (judged: the candidate's,
    then the tests'); `*_truncated_bytes` says how much was dropped before them.
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
