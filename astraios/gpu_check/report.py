"""The check's one table (console and markdown) and its JSON, from the step results."""

from __future__ import annotations

from pathlib import Path

from astraios.core.io import write_json, write_text
from astraios.gpu_check import RESULTS_JSON, RESULTS_TABLE, CheckResult

COLUMNS = ("step", "status", "tokens/s", "peak GB", "MFU", "notes")


def rows(result: CheckResult) -> list[list[str]]:
    """One row per step: figures formatted, the reason (skipped, failed) or what was measured as notes."""
    table = []
    for step in result.steps:
        metrics = step.metrics
        tokens = metrics.get("tokens_per_second")
        memory = metrics.get("peak_memory_gb")
        mfu = metrics.get("mfu")
        table.append([
            step.step,
            step.status,
            f"{tokens:,.0f}" if tokens is not None else "",
            f"{memory:.1f}" if memory is not None else "",
            f"{100 * mfu:.1f}%" if mfu is not None else "",
            step.reason or _notes(metrics),
        ])
    return table


def _notes(metrics: dict) -> str:
    parts = []
    if "precision" in metrics:
        parts.append(metrics["precision"])
    if "parameters" in metrics:
        parts.append(f"{metrics['parameters']:,} parameters")
    if "adapter" in metrics:
        parts.append(f"{metrics['adapter']}, {metrics['generated_tokens']:,} tokens")
    if "tests" in metrics:
        parts.append(", ".join(f"{number} {kind}" for kind, number in metrics["tests"].items()))
    if "gpus" in metrics:
        parts.append(f"{metrics['finished']}/{metrics['cells']} cells on {metrics['gpus']} GPU(s), "
                     f"concurrency {metrics['concurrency']:.2f}")
    parts += [metrics[key] for key in ("mfu_note", "note") if metrics.get(key)]
    return "; ".join(parts)


def title(result: CheckResult) -> str:
    gpus = result.environment["gpus"]
    device = f"{len(gpus)} x {gpus[0]['name']} ({gpus[0]['memory_gb']} GB)" if gpus else "no GPU"
    options = result.options
    return (f"astraios gpu-check: {options['model']} (random weights) on {device}, torch {result.environment['torch']}, "
            f"micro-batch {options['batch']} x {options['seq_len']} tokens, {options['steps']} steps, "
            f"{result.seconds:.0f} s")


def markdown(result: CheckResult) -> str:
    lines = [title(result), "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join("---:" if column in {"tokens/s", "peak GB", "MFU"} else "---" for column in COLUMNS) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows(result)]
    return "\n".join(lines) + "\n"


def print_table(result: CheckResult, console) -> None:
    from rich.table import Table

    table = Table(title=title(result), title_justify="left")
    for column in COLUMNS:
        table.add_column(column, justify="right" if column in {"tokens/s", "peak GB", "MFU"} else "left",
                         no_wrap=column != "notes")
    styles = {"ok": "green", "skipped": "yellow", "failed": "red"}
    for row, step in zip(rows(result), result.steps):
        row[1] = f"[{styles[step.status]}]{row[1]}[/]"
        table.add_row(*row)
    console.print(table)


def write(result: CheckResult, output: Path) -> tuple[Path, Path]:
    """`gpu_check.json` (everything) and `gpu_check.md` (the table), written atomically."""
    output.mkdir(parents=True, exist_ok=True)
    json_path, table_path = output / RESULTS_JSON, output / RESULTS_TABLE
    write_json(json_path, result.to_dict())
    write_text(table_path, markdown(result))
    return json_path, table_path
