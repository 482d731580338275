"""`astraios train`, `astraios methods`, `astraios demo`: tune a model, count what each method trains."""

from __future__ import annotations

import typer

from astraios.cli.errors import FAILED, INTERRUPTED, fail

app = typer.Typer()  # merged into the `astraios` app (astraios.cli.app)


@app.command(
    epilog="Examples:\n\n"
    "  astraios train configs/tiny.yaml      # tiny model, shipped data, about a minute on a CPU, offline\n\n"
    "  astraios train configs/tiny.yaml --set method.name=ia3 --set train.max_steps=20\n\n"
    "  astraios train configs/astraios.yaml --set model.name=starcoderbase-1b --set method.name=lora   # the study\n\n"
    "  astraios train runs/tiny-gptbigcode-s-lora --resume   # continue a run after a crash, with its own config\n\n"
    "  accelerate launch -m astraios train configs/astraios.yaml   # several GPUs (DDP/FSDP/DeepSpeed)"
)
def train(
    config: str = typer.Argument(..., help="YAML run config (see configs/), or a run directory (its config.yaml)."),
    set_: list[str] = typer.Option([], "--set", help="Override a field: --set train.max_steps=20 (repeatable). "
                                   "A new method.name starts that method's section from its defaults."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the run directory's last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over: remove the previous run's files (only "
                                   "in a directory astraios made; anything else is refused)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Instruction-tune a base model with one method; write losses, checkpoints and weights to a run directory."""
    from pathlib import Path

    from astraios.config import ConfigError, load_config

    try:
        if Path(config).is_dir():  # a run directory: its own config, and the run stays where it is
            if not (Path(config) / "config.yaml").is_file():
                raise ConfigError(f"{config} is a directory without config.yaml. Fix: pass a YAML config (e.g. "
                                  f"configs/tiny.yaml) or a run directory that astraios train wrote.")
            run_config = load_config(Path(config) / "config.yaml", [f"train.output_dir={config}", *set_])
        else:
            run_config = load_config(config, set_)
    except ConfigError as error:
        fail(error)
    from astraios import train as training
    from astraios.core.locks import LockHeld
    from astraios.train.loop import TrainingInterrupted

    try:
        summary = training.run(run_config, resume=resume, overwrite=overwrite, show_progress=not quiet)
    except (ConfigError, ValueError, FileNotFoundError, LockHeld) as error:
        fail(error, FAILED)
    except TrainingInterrupted as interrupted:
        fail(interrupted, INTERRUPTED)
    typer.echo(
        f"done: {summary['steps']} steps, train loss {summary['final_train_loss']:.4f}, "
        f"test loss {summary['final_test_loss']:.4f} -> {run_config.output_dir()}"
    )


@app.command(
    epilog="Examples:\n\n"
    "  astraios methods                              # starcoderbase-1b, on the meta device\n\n"
    "  astraios methods --model starcoderbase-15b\n\n"
    "  astraios methods --model qwen2.5-coder-7b       # any shipped architecture (astraios.models.sizes)\n\n"
    "  astraios methods --model tiny-llama-m --json\n\n"
    "  astraios methods --model bigcode/starcoderbase-3b   # any Hub id (reads its config only)"
)
def methods(
    model: str = typer.Option("starcoderbase-1b", "--model", help="Tiny model, shipped architecture (starcoder2-7b, "
                              "qwen2.5-coder-7b, ...), Hub id or local dir."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the tuning methods with trainable parameters, total parameters and trainable % for a model."""
    import json

    from astraios.methods.accounting import parameter_table

    try:
        rows = parameter_table(model)
    except (ValueError, OSError) as error:
        fail(error, FAILED)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Tuning methods on {model}")
    for column in ("method", "name", "family", "trainable", "total", "trainable %"):
        table.add_column(column, justify="right" if column in {"trainable", "total", "trainable %"} else "left", no_wrap=True)
    for row in rows:
        counted = row["trainable"] is not None
        table.add_row(
            row["title"], row["method"], row["family"], f"{row['trainable']:,}" if counted else "refused",
            f"{row['total']:,}" if counted else "-", f"{row['trainable_percent']:.4f}" if counted else "-",
        )
    console = Console(width=max(Console().width, 100))
    console.print(table)
    from rich.markup import escape

    refused: dict[str, list[str]] = {}  # one line per reason, naming the methods it refuses
    for row in rows:
        if "refused" in row:
            refused.setdefault(row["refused"].removeprefix(f"method `{row['method']}` "), []).append(row["method"])
    for reason, names in refused.items():
        console.print(f"[yellow]{', '.join(names)}:[/] {escape(reason)}", soft_wrap=True)


@app.command(
    epilog="Examples:\n\n  astraios demo\n\n  astraios demo --output-dir /tmp/demo --steps 20\n\n"
    "  astraios demo --output-dir runs/old-experiment --overwrite   # replace a run that is not a demo"
)
def demo(
    output_dir: str = typer.Option("runs/demo", "--output-dir", help="Run directory (a previous demo there is "
                                   "replaced; another run only with --overwrite; a directory with other files is "
                                   "refused)."),
    steps: int | None = typer.Option(None, "--steps", min=1, help="Optimiser steps (default: the demo config's)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a run there that is not a demo."),
) -> None:
    """Tune a tiny GPTBigCode with LoRA on the shipped instruction sample, on CPU, in about a minute."""
    from astraios.config import ConfigError
    from astraios.core.locks import LockHeld
    from astraios.train.demo import run_demo
    from astraios.train.loop import TrainingInterrupted

    try:
        run_demo(output_dir, steps, overwrite)
    except (ConfigError, ValueError, LockHeld) as error:
        fail(error, FAILED)
    except TrainingInterrupted as interrupted:
        fail(interrupted, INTERRUPTED)
