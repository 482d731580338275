"""`astraios data download`: fetch the benchmark data once, for offline use with --data-dir."""

from __future__ import annotations

import typer

from astraios.cli.errors import FAILED, fail

app = typer.Typer(help="Benchmark data: fetch what the tasks read, for offline evaluation (--data-dir).",
                  no_args_is_help=True)


@app.command(
    epilog="Examples:\n\n"
    "  astraios data download --to data   # every dataset the tasks read\n\n"
    "  astraios eval --model runs/x --tasks humanevalsynthesize-python --data-dir data   # then, offline\n\n"
    "  astraios data download humanevalsynthesize-python recode-format --to data   # what these tasks read\n\n"
    "  astraios data download --all --to data   # also the reference data of the test suite "
    "(ASTRAIOS_DATA_DIR=data make test)\n\n"
    "Datasets: humanevalpack-python, humanevalpack-java, recode, aatk, devign, bigclonebench (the Hub's test "
    "splits); reference data: devign-sample, aatk-original, study-outputs, octopack-oasst. `astraios tasks` says "
    "which tasks' data is already here.",
)
def download(
    names: list[str] = typer.Argument(None, help="Tasks or datasets (default: every dataset a task reads).",
                                      show_default=False),
    to: str | None = typer.Option(None, "--to", help="The data directory to fill (default: $ASTRAIOS_DATA_DIR)."),
    everything: bool = typer.Option(False, "--all", help="Every dataset, with the reference data no task reads."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Fetch datasets into DIR, laid out as --data-dir reads it; every file's checksum is checked, and a
    re-run fetches only what is missing or corrupt."""
    import os
    from pathlib import Path

    from astraios.core.locks import LockHeld
    from astraios.tasks.data import DATA_DIR_ENV
    from astraios.tasks.download import choose
    from astraios.tasks.download import download as fetch

    target = to or os.environ.get(DATA_DIR_ENV)
    if not target:
        fail(f"say where the data goes. Fix: --to DIR (e.g. --to data), or set {DATA_DIR_ENV}=DIR.")
    try:
        datasets = choose(names or [], everything)
    except ValueError as error:
        fail(error)
    try:
        outcomes = fetch(datasets, Path(target).expanduser(), progress=not quiet, report=typer.echo)
    except LockHeld as error:
        fail(error, FAILED)
    failed = [outcome.dataset.name for outcome in outcomes if outcome.error]
    if failed:
        fail(f"{len(failed)} of {len(outcomes)} datasets not fetched ({', '.join(failed)}). Fix: re-run the same "
             f"command: files already in place are kept, the rest is fetched.", FAILED)
    typer.echo(f"use it: --data-dir {target} (or {DATA_DIR_ENV}={target})")
