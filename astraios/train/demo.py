"""`astraios demo`: the whole training path on the embedded default, offline, on a CPU.

LoRA on `tiny-gptbigcode-s` (random weights) over the shipped OctoPack sample, with the config in
`astraios/presets/demo.yaml`. A random base has no knowledge to steer, so the loss moves a little;
the point is to see every stage work end to end and leave a complete run directory.

The demo replaces a previous demo in its directory (the preset's config, whatever `--steps` was)
without asking; a directory holding another run is refused unless `--overwrite` is given, and a
directory with files astraios did not write is refused always, as `astraios train --overwrite` does.
"""

from __future__ import annotations

from pathlib import Path

from astraios.config import ConfigError, RunConfig, load_config
from astraios.core.layout import CONFIG_FILE

DEMO_CONFIG = Path(__file__).parent.parent / "presets" / "demo.yaml"
DEMO_LENGTH = ("train.max_steps ", "train.warmup_steps ")  # what `--steps` changes: still a demo


def demo_config(output_dir: str = "runs/demo", steps: int | None = None) -> RunConfig:
    """The preset, into `output_dir`, for `steps` steps (fewer than its warm-up shorten the warm-up)."""
    overrides = [f"train.output_dir={output_dir}"]
    if steps is not None:
        warmup = load_config(DEMO_CONFIG).train.warmup_steps
        overrides += [f"train.max_steps={steps}", f"train.warmup_steps={min(warmup, max(steps, 0))}"]
    return load_config(DEMO_CONFIG, overrides)


def check_replaceable(config: RunConfig, overwrite: bool) -> None:
    """Refuse to replace a run that is not a demo (another config than the preset's, whatever the
    steps) unless `overwrite`: the demo replaces its own previous run without asking, nothing else."""
    from astraios.train.run_dir import check_clearable, saved_config_differences

    run_dir = config.output_dir()
    if overwrite or not (run_dir / CONFIG_FILE).exists():
        return
    check_clearable(run_dir)  # someone else's files there: refused, whatever the flags
    try:
        differences = [item for item in saved_config_differences(run_dir, config) if not item.startswith(DEMO_LENGTH)]
    except ConfigError as error:
        differences = [str(error)]
    if differences:
        raise ConfigError(f"{run_dir} holds a run that is not a demo ({'; '.join(differences[:3])}); the demo would "
                          f"replace it, so nothing was removed. Fix: pass another --output-dir, or --overwrite to "
                          f"replace that run.")


def run_demo(output_dir: str = "runs/demo", steps: int | None = None, overwrite: bool = False) -> dict:
    from rich.console import Console
    from rich.table import Table

    from astraios.train.loop import run

    config = demo_config(output_dir, steps)
    check_replaceable(config, overwrite)
    console = Console()
    console.print(f"[bold]astraios demo[/]: {config.method.name} on {config.model.name}, config {DEMO_CONFIG}")
    summary = run(config, overwrite=True)
    table = Table(title="demo result")
    for column in ("", "before", "after"):
        table.add_column(column, justify="right")
    table.add_row("train loss", f"{summary['first_train_loss']:.4f}", f"{summary['final_train_loss']:.4f}")
    table.add_row("test loss", f"{summary['initial_test_loss']:.4f}", f"{summary['final_test_loss']:.4f}")
    console.print(table)
    parameters = summary["parameters"]
    console.print(
        f"trainable parameters: {parameters['trainable']:,} of {parameters['total']:,} "
        f"({parameters['trainable_percent']:.2f}%)\n"
        f"{summary['steps']} steps, {summary['tokens_per_second']:.0f} tokens/s, "
        f"{summary['wall_seconds']:.1f} s; run directory: {config.output_dir()}"
    )
    return summary
