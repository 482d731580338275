"""The `astraios` command line.

Heavy libraries (torch, transformers) are imported inside each command so that light commands
such as `astraios sandbox run` and `--help` start fast.
"""

from __future__ import annotations

import typer

from astraios import __version__
from astraios.sandbox.cli import app as sandbox_app

app = typer.Typer(
    name="astraios",
    help="Instruction-tune code LLMs with seven tuning methods and measure what each buys.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(sandbox_app, name="sandbox")


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


def _fail(error: Exception, code: int = 2) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[bold red]error:[/] {escape(str(error))}")
    raise typer.Exit(code)


@app.command(
    epilog="Examples:\n\n"
    "  astraios train configs/astraios.yaml --set model.name=starcoderbase-1b --set method.name=lora\n\n"
    "  astraios train configs/astraios.yaml --set model.name=tiny-gptbigcode-s --set data.seq_len=256\n\n"
    "  astraios train configs/astraios.yaml --resume      # continue after a crash\n\n"
    "  accelerate launch -m astraios train configs/astraios.yaml   # several GPUs (DDP/FSDP/DeepSpeed)"
)
def train(
    config: str = typer.Argument(..., help="YAML run config (see configs/)."),
    set_: list[str] = typer.Option([], "--set", help="Override a field: --set train.max_steps=20 (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run directory's last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete an existing run directory and start over."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Instruction-tune a base model with one method; write losses, checkpoints and weights to a run directory."""
    from astraios.config import ConfigError, load_config

    try:
        run_config = load_config(config, set_)
    except ConfigError as error:
        _fail(error)
    from astraios import train as training

    try:
        summary = training.run(run_config, resume=resume, overwrite=overwrite, show_progress=not quiet)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        _fail(error, 1)
    typer.echo(
        f"done: {summary['steps']} steps, train loss {summary['final_train_loss']:.4f}, "
        f"test loss {summary['final_test_loss']:.4f} -> {run_config.output_dir()}"
    )


@app.command(
    epilog="Examples:\n\n"
    "  astraios methods                              # starcoderbase-1b, on the meta device\n\n"
    "  astraios methods --model starcoderbase-15b\n\n"
    "  astraios methods --model tiny-llama-m --json\n\n"
    "  astraios methods --model bigcode/starcoderbase-3b   # any Hub id (reads its config only)"
)
def methods(
    model: str = typer.Option("starcoderbase-1b", "--model", help="Tiny model, StarCoder size, Hub id or local dir."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the tuning methods with trainable parameters, total parameters and trainable % for a model."""
    import json

    from astraios.methods.accounting import parameter_table

    try:
        rows = parameter_table(model)
    except (ValueError, OSError) as error:
        _fail(error, 1)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Tuning methods on {model}")
    for column in ("method", "name", "family", "trainable", "total", "trainable %"):
        table.add_column(column, justify="right" if column in {"trainable", "total", "trainable %"} else "left", no_wrap=True)
    for row in rows:
        table.add_row(
            row["title"], row["method"], row["family"], f"{row['trainable']:,}", f"{row['total']:,}",
            f"{row['trainable_percent']:.4f}",
        )
    Console(width=max(Console().width, 100)).print(table)


@app.command(
    epilog="Examples:\n\n  astraios demo\n\n  astraios demo --output-dir /tmp/demo --steps 20"
)
def demo(
    output_dir: str = typer.Option("runs/demo", "--output-dir", help="Run directory (replaced if it exists)."),
    steps: int | None = typer.Option(None, "--steps", help="Optimiser steps (default: the demo config's)."),
) -> None:
    """Tune a tiny GPTBigCode with LoRA on the shipped instruction sample, on CPU, in about a minute."""
    from astraios.demo import run_demo

    run_demo(output_dir, steps)
