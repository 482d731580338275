"""`astraios sandbox ...`: run one untrusted program from the command line.

Imports only the sandbox (standard library, typer) so the command starts fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from astraios.sandbox.program import MAX_TIMEOUT_S

app = typer.Typer(
    help="Run untrusted Python, Java or C programs in the astraios sandbox.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

SUFFIXES = {".py": "python", ".java": "java", ".c": "c"}


@app.command(
    epilog="Examples:\n\n"
    "  astraios sandbox run solution.py\n\n"
    "  astraios sandbox run Main.java --timeout 5 --memory-mb 512\n\n"
    "  astraios sandbox run prog.txt --language c\n\n"
    "Prints one JSON object: status (passed | failed | timeout | error), phase, exit_code, duration_s,\n"
    "isolation, reason, stdout and stderr tails. Exits 0 whatever the verdict; 2 on usage errors\n"
    "(a bad option or ASTRAIOS_SANDBOX_ISOLATION value); 1 when no isolation tier may run programs here."
)
def run(
    file: Path = typer.Argument(..., help="Program source: .py, .java (public class Main) or .c."),
    language: Optional[str] = typer.Option(
        None, "--language", "-l", help="python, java or c (default: from the file suffix)."
    ),
    timeout: float = typer.Option(10.0, "--timeout", min=0.001, max=MAX_TIMEOUT_S,
                                  help="Wall-clock limit of the run, seconds."),
    memory_mb: int = typer.Option(1024, "--memory-mb", min=64, help="Address-space limit, MiB."),
    stdin: Optional[Path] = typer.Option(None, "--stdin", help="File fed to the program's standard input."),
) -> None:
    """Run FILE in the sandbox and print its verdict as JSON."""
    from astraios.sandbox import Program, SandboxUnavailable, isolation, run_program
    from astraios.sandbox.program import LANGUAGES

    if language is None:
        language = SUFFIXES.get(file.suffix)
        if language is None:
            _usage_error(f"cannot tell the language of {file} from its suffix "
                         f"(known: {', '.join(SUFFIXES)}); pass --language {'|'.join(LANGUAGES)}")
    elif language not in LANGUAGES:
        _usage_error(f"unknown language {language!r}; expected one of {', '.join(LANGUAGES)}")
    try:
        isolation()  # the tier is chosen once: a bad setting or a refusal is an error line, not a traceback
    except SandboxUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    source = _read(file, "program")
    stdin_text = None if stdin is None else _read(stdin, "--stdin")
    result = run_program(Program(language, source, stdin=stdin_text, timeout_s=timeout, memory_mb=memory_mb))
    typer.echo(json.dumps(result.to_dict()))


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        _usage_error(f"{what} file not found: {path}")
    except OSError as exc:
        _usage_error(f"cannot read {what} file {path}: {exc.strerror}")


def _usage_error(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
