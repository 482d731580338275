"""`astraios grid`: the plan (`--dry-run`) or the run of a grid config."""

from __future__ import annotations

import typer

from astraios.cli.errors import FAILED, INTERRUPTED, fail
from astraios.core.layout import BASES_DIR, GRID_FILE

app = typer.Typer()  # merged into the `astraios` app (astraios.cli.app)


@app.command(
    epilog="Examples:\n\n"
    "  astraios grid configs/grid-tiny.yaml --dry-run     # the plan: parameter counts, training FLOPs (meta device)\n\n"
    "  astraios grid configs/grid-2026.yaml --dry-run     # today's code models x 15 methods, costed offline\n\n"
    "  astraios grid configs/grid-tiny.yaml --data-dir data   # run (again: finished cells are skipped)\n\n"
    "  astraios grid configs/grid-astraios.yaml           # the study; one cell per GPU when several are visible\n\n"
    "  astraios grid configs/grid-astraios.yaml --executor ray --address auto   # on the running Ray cluster"
)
def grid(
    config: str = typer.Argument(..., help="YAML grid config (see configs/grid-*.yaml)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan with parameter counts and training FLOPs; "
                                 "train nothing."),
    data_dir: str | None = typer.Option(None, "--data-dir", help="Local data directory of the evaluation (overrides "
                                        "evaluation.data_dir; else $ASTRAIOS_DATA_DIR, else the Hub)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
    executor: str | None = typer.Option(None, "--executor", help="Where jobs run: local (this machine; default) or "
                                        "ray (over the grid file's `executor.name`)."),
    address: str | None = typer.Option(None, "--address", help="Ray cluster: auto (the running one) or "
                                       "ray://HOST:10001; omitted: a local cluster."),
) -> None:
    """Train and evaluate every model x method cell of a grid; resumable, one failed cell never stops the others."""
    from astraios import grid as grids
    from astraios.config import ConfigError

    try:
        plan = grids.load_grid(config)
        if data_dir is not None:
            plan.set_data_dir(data_dir)
        if executor is not None or address is not None:
            plan.set_executor(executor, address)
    except ConfigError as error:
        fail(error)
    if dry_run:
        if not _print_grid_plan(plan):
            raise typer.Exit(1)
        return
    from astraios.core.locks import LockHeld

    try:
        outcome = grids.run_grid(plan, show_progress=not quiet)
    except (LockHeld, ConfigError) as error:  # ConfigError: the executor's checks (Ray missing, cluster, shared disk)
        fail(error, FAILED)
    except KeyboardInterrupt as interrupted:
        fail(f"grid interrupted ({interrupted or 'Ctrl-C'}). Resume with: astraios grid {config} (finished jobs are "
             f"skipped, an interrupted one resumes from its checkpoint)", INTERRUPTED)
    typer.echo(f"grid: {plan.output_dir / GRID_FILE}; report: astraios report {plan.output_dir}")
    if outcome.failed or outcome.mismatched:
        raise typer.Exit(1)


ASSUMED_MFU = 0.4  # a typical bf16 training MFU on one H100; `astraios gpu-check` measures the real one


def _pflop(flops: float) -> str:
    """FLOPs in PFLOP: whole numbers with thousands separators from 1,000, else four significant digits."""
    value = flops / 1e15
    return f"{value:,.0f}" if value >= 1000 else f"{value:.4g}"


def _h100_hours(flops: float) -> float:
    from astraios.gpu_check.flops import peak_bf16_tflops

    return flops / (peak_bf16_tflops("H100") * 1e12 * ASSUMED_MFU) / 3600


def _print_grid_plan(plan) -> bool:
    """Print the plan; False when a model cannot be built (the real run would fail those cells)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from astraios.grid.evaluation import plan_evaluation
    from astraios.grid.status import plan_rows

    console = Console(width=max(Console().width, 140))
    console.print(f"astraios grid {plan.path}: {len(plan.cells)} cells"
                  + (f" after {len(plan.bases)} base warm-ups" if plan.bases else ""))
    table = Table()
    # Run directories follow one pattern, said once below: the columns that differ keep the width.
    numbers = {"steps", "trainable", "total", "trainable %", "PFLOP"}
    for column in ("job", "model", "method", "steps", "trainable", "total", "trainable %", "PFLOP", "status"):
        table.add_column(column, justify="right" if column in numbers else "left", no_wrap=True)
    rows = plan_rows(plan)
    for row in rows:
        known = row["trainable"] is not None
        table.add_row(row["job"], row["model"], row["method"], str(row["steps"]),
                      f"{row['trainable']:,}" if known else "?", f"{row['total']:,}" if known else "?",
                      f"{row['trainable_percent']:.4f}" if known else "?",
                      _pflop(row["train_flops"]) if known else "?", row["status"])
    console.print(table)
    console.print(f"run directories: {plan.output_dir}/MODEL-METHOD"
                  + (f", base warm-ups: {plan.output_dir}/{BASES_DIR}/MODEL" if plan.bases else ""))
    if costed := [row["train_flops"] for row in rows if row["train_flops"] is not None]:
        console.print(f"training compute: {_pflop(sum(costed))} PFLOP over {len(costed)} jobs (full-length "
                      f"sequences; evaluation not counted), {_h100_hours(sum(costed)):,.3g} H100-hours at "
                      f"{ASSUMED_MFU:.0%} MFU (measure yours with `astraios gpu-check`)")
    problems = dict.fromkeys(row["note"] for row in rows if row.get("note"))
    for problem in problems:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(problem)}")
    if plan.config.evaluation is None:
        console.print("evaluation: none (train only)")
        return not problems
    evaluation = plan_evaluation(plan.config.evaluation)
    settings = plan.config.evaluation
    console.print(f"evaluation: {', '.join(evaluation.tasks) or 'no task with data'} "
                  f"(n={settings.n_samples}, temperature {settings.temperature}, max {settings.max_new_tokens} new "
                  f"tokens, limit {settings.limit or 'none'})")
    for line in settings.describe_tasks():
        console.print(f"  {escape(line)}")
    for name, reason in evaluation.skipped.items():
        console.print(f"[yellow]skipped {name}:[/] {escape(reason)}")
    return not problems
