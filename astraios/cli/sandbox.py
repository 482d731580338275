"""`astraios sandbox ...`: run one untrusted program from the command line.

Imports only the sandbox (standard library), typer and rich, so the command starts fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from astraios.cli.errors import FAILED, fail, read_text
from astraios.sandbox.program import LANGUAGES, MAX_TIMEOUT_S, SUFFIXES

LANGUAGE_OF = {suffix: language for language, suffix in SUFFIXES.items()}

app = typer.Typer(
    help="Run untrusted Python, Java or C programs in the astraios sandbox.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@app.command(
    epilog="Examples:\n\n"
    "  astraios sandbox run solution.py\n\n"
    "  astraios sandbox run solution.py --tests test_solution.py\n\n"
    "  astraios sandbox run Main.java --timeout 5 --memory-mb 512\n\n"
    "  astraios sandbox run prog.txt --language c\n\n"
    "With --tests, FILE is a candidate judged by the tests in another process (only plain data\n"
    "crosses; see the astraios.sandbox docs): the verdict is the tests', which nothing in FILE can forge.\n"
    "Without, FILE runs on its own and passes when it runs to its end and exits 0.\n\n"
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
    tests: Optional[Path] = typer.Option(None, "--tests", help="Tests that judge FILE from their own process "
                                         "(Python: a module using FILE's functions by name; Java: a Main using "
                                         "AstraiosRemote; C: a main calling FILE's functions)."),
) -> None:
    """Run FILE in the sandbox and print its verdict as JSON."""
    from astraios.sandbox import Program, SandboxUnavailable, isolation, run_program

    if language is None:
        language = LANGUAGE_OF.get(file.suffix)
        if language is None:
            fail(f"cannot tell the language of {file} from its suffix "
                         f"(known: {', '.join(LANGUAGE_OF)}); pass --language {'|'.join(LANGUAGES)}")
    elif language not in LANGUAGES:
        fail(f"unknown language {language!r}; expected one of {', '.join(LANGUAGES)}")
    try:
        isolation(judged=tests is not None)  # a bad setting or a refusal is an error line, not a traceback
    except SandboxUnavailable as exc:
        fail(exc, FAILED)
    source = read_text(file, "program")
    stdin_text = None if stdin is None else read_text(stdin, "--stdin")
    tests_text = None if tests is None else read_text(tests, "--tests")
    result = run_program(Program(language, source, tests=tests_text, stdin=stdin_text, timeout_s=timeout,
                                 memory_mb=memory_mb))
    typer.echo(json.dumps(result.to_dict()))

