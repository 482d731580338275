"""The `astraios` command: one module per command group, wired here in the order of the data flow.

Every command imports its heavy libraries (torch, transformers) inside its body, so `--help`,
`astraios tasks` and the sandbox and security commands start without them. Errors are one line
(`astraios.cli.errors`).
"""

from __future__ import annotations

import typer

from astraios import __version__
from astraios.cli import (
    data,
    evaluate,
    gpu_check,
    grid,
    perturb,
    report,
    runs,
    sandbox,
    security,
    train,
)

app = typer.Typer(
    name="astraios",
    help="Instruction-tune code LLMs with the study's seven tuning methods and seven newer ones, and measure what "
         "each buys.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
for commands in (train.app, evaluate.app, runs.app, grid.app, report.app, perturb.app, gpu_check.app):
    app.add_typer(commands)
app.add_typer(data.app, name="data")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(security.app, name="security")


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
