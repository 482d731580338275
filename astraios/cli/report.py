"""`astraios report`: the study's tables and figures from a folder of runs."""

from __future__ import annotations

import typer

from astraios.cli.errors import FAILED, fail

app = typer.Typer()  # merged into the `astraios` app (astraios.cli.app)


@app.command(
    epilog="Examples:\n\n"
    "  astraios report runs/grid-tiny                   # writes runs/grid-tiny/report/index.html\n\n"
    "  astraios report runs/grid-astraios --output reports/astraios"
)
def report(
    runs_dir: str = typer.Argument(..., help="A grid's output_dir, or any folder of training run directories."),
    output: str | None = typer.Option(None, "--output", help="Where to write index.html, report.md, figures/ and "
                                      "tables/ (default: RUNS_DIR/report)."),
) -> None:
    """Tables, figures (PNG + SVG + CSV) and an offline index.html comparing methods across model sizes."""
    from pathlib import Path

    from astraios.analysis import build_report

    try:
        built = build_report(runs_dir, output or Path(runs_dir) / "report")
    except (FileNotFoundError, FileExistsError) as error:
        fail(error, FAILED)
    for note in built.notes:
        typer.echo(f"note: {note}")
    typer.echo(f"report: {built.output / 'index.html'} ({len(built.figures)} figures, {len(built.tables)} tables)")
