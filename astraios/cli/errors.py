"""How every command reports a mistake: one line on stderr (`error: ...`, never a traceback) and an
exit code: 2 for a usage error (a bad option, file or config), 1 for a run that could not be done,
130 for a run stopped by Ctrl-C (as a shell reports SIGINT)."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

USAGE = 2
FAILED = 1
INTERRUPTED = 130


def fail(error: Exception | str, code: int = USAGE) -> NoReturn:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(error))}")  # one line, even in logs
    raise typer.Exit(code)


def read_text(path: Path, what: str = "input") -> str:
    """A file's text (undecodable bytes replaced); a missing or unreadable file is a usage error."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        fail(f"{what} file not found: {path}")
    except OSError as exc:
        fail(f"cannot read {what} file {path}: {exc.strerror}")
