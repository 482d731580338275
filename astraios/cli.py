"""The `astraios` command line.

Heavy libraries (torch, transformers) are imported inside each command so that light commands
such as `astraios sandbox run` and `--help` start fast.
"""

from __future__ import annotations

import typer

from astraios import __version__

app = typer.Typer(
    name="astraios",
    help="Instruction-tune code LLMs with seven tuning methods and measure what each buys.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"astraios {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """astraios: tune, evaluate, grid and report."""
