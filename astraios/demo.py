"""`astraios demo`: the whole training path on the embedded default, offline, on a CPU.

LoRA on `tiny-gptbigcode-s` (random weights) over the shipped OctoPack sample, with the config in
`astraios/presets/demo.yaml`. A random base has no knowledge to steer, so the loss moves a little;
the point is to see every stage work end to end and leave a complete run directory.
"""

from __future__ import annotations

from pathlib import Path

from astraios.config import RunConfig, load_config

DEMO_CONFIG = Path(__file__).parent / "presets" / "demo.yaml"


def demo_config(output_dir: str = "runs/demo", steps: int | None = None) -> RunConfig:
    """The preset, into `output_dir`, for `steps` steps (fewer than its warm-up shorten the warm-up)."""
    overrides = [f"train.output_dir={output_dir}"]
    if steps is not None:
        warmup = load_config(DEMO_CONFIG).train.warmup_steps
        overrides += [f"train.max_steps={steps}", f"train.warmup_steps={min(warmup, max(steps, 0))}"]
    return load_config(DEMO_CONFIG, overrides)


def run_demo(output_dir: str = "runs/demo", steps: int | None = None) -> dict:
    from rich.console import Console
    from rich.table import Table

    from astraios import train

    config = demo_config(output_dir, steps)
    console = Console()
    console.print(f"[bold]astraios demo[/]: {config.method.name} on {config.model.name}, config {DEMO_CONFIG}")
    summary = train.run(config, overwrite=True)
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
