"""An evaluation's results.json: started from the one already there (same model), one task's entry
merged in under a short lock as each task finishes, the versions that produced it, and the
summary table `astraios eval` prints. File names: `astraios.core.layout`.

Which model the results are of: `fingerprint`, the content hash of the tuned weights
(`astraios.generate.source.fingerprint`). It decides whether an existing results.json is the same
model's (a run directory copied or moved elsewhere still is; a run retrained into the same
directory is not, whatever its path), and `check_current` refuses results whose fingerprint is not
that of the run's `final/` now (a run retrained while, or after, it was evaluated): the grid and the
report read results through it.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING

from astraios.core.io import read_json, write_json
from astraios.core.layout import EVAL_DIR, FINAL_DIR, RESULTS_FILE, RESULTS_LOCK
from astraios.core.locks import exclusive
from astraios.generate.source import fingerprint

if TYPE_CHECKING:
    from astraios.evaluation.config import EvalConfig

RESULTS_LOCK_WAIT_S = 120.0  # another evaluation's results.json update takes milliseconds


def task_warnings(entry: dict) -> list[str]:
    """What the reader of a task's score must know (e.g. it was computed on part of the data, or
    is not the study's measure although asked for under its protocol: the details' `caveat`)."""
    warnings = []
    if partial := entry.get("task_settings", {}).get("partial_data"):
        warnings.append(f"partial data: {partial}")
    if caveat := (entry.get("details") or {}).get("caveat"):
        warnings.append(caveat)
    return warnings


class StaleResultsError(ValueError):
    """A results.json is of another model than the run's weights now; the message names both."""


def recorded_fingerprint(results: dict) -> str | None:
    """The fingerprint of the model `results` are of (results written before it was recorded at the
    top level carry it in their generation details), or None (a base model, saved generations)."""
    return results.get("fingerprint") or (results.get("generation") or {}).get("fingerprint")


def check_current(results: dict | None, run_dir: Path) -> None:
    """Refuse (StaleResultsError) results of `run_dir` whose model is not the run's `final/` now."""
    recorded = recorded_fingerprint(results or {})
    final = Path(run_dir) / FINAL_DIR
    if recorded is None or not final.is_dir():
        return
    current = fingerprint(final)
    if current != recorded:
        path = Path(run_dir) / EVAL_DIR / RESULTS_FILE
        raise StaleResultsError(f"{path} holds results of model fingerprint {recorded}, but {final} is now "
                                f"{current} (the run was trained again since); they are refused. Fix: delete "
                                f"{path.parent} and evaluate the run again.")


def start_results(config: EvalConfig, source, backend) -> dict:
    """A fresh results record, carrying over the tasks of an existing results.json of the same model
    (the same fingerprint; without fingerprints, the same model and adapter names)."""
    results = {
        "model": source.label if source else None,
        "adapter": source.adapter if source else None,
        "fingerprint": source.fingerprint if source else None,
        "backend": backend.name if backend else None,
        "generation": backend.describe() if backend else None,
        "settings": config.settings(),
        "tasks": {},
        "versions": versions(any(task.endswith("-java") for task in config.tasks)),
        "seconds": 0.0,
    }
    path = config.output_dir / RESULTS_FILE
    if path.is_file():
        previous = read_json(path)
        before, now = recorded_fingerprint(previous), results["fingerprint"]
        if before is not None and now is not None:  # the weights decide, wherever they live now
            if before != now:
                raise ValueError(f"{path} holds results of model fingerprint {before} ({previous.get('model')!r}), "
                                 f"not {now} ({results['model']!r}): another model, or this run trained again. "
                                 f"Fix: pass another --output directory, or delete {path} to evaluate again.")
        else:
            for key in ("model", "adapter"):
                if previous.get(key) is not None and results[key] is not None and previous[key] != results[key]:
                    raise ValueError(f"{path} holds results of {key} {previous[key]!r}, not {results[key]!r}. Fix: "
                                     f"pass another --output directory.")
                results[key] = results[key] if results[key] is not None else previous.get(key)
        results["tasks"] = previous.get("tasks", {})
        results["generation"] = previous.get("generation") or results["generation"]
    return results


def save_task(output_dir: Path, results: dict, name: str, entry: dict) -> dict:
    """Write results.json with task `name`'s entry, keeping every task the file holds now (another
    evaluation may have added some since this one started); returns what was written."""
    with exclusive(output_dir, "results.json update", name=RESULTS_LOCK, wait_s=RESULTS_LOCK_WAIT_S):
        on_disk = read_json(output_dir / RESULTS_FILE) or {}
        results = {**results, "tasks": {**results["tasks"], **on_disk.get("tasks", {}), name: entry}}
        write_json(output_dir / RESULTS_FILE, results)
    return results


def versions(java: bool = False) -> dict:
    from importlib import metadata

    from astraios import __version__

    found = {"python": platform.python_version(), "platform": platform.platform(), "astraios": __version__}
    for package in ("torch", "transformers", "peft", "datasets", "vllm"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    if java:
        import subprocess

        try:
            completed = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
            found["java"] = (completed.stderr or completed.stdout).splitlines()[0]
        except (OSError, subprocess.TimeoutExpired, IndexError):
            found["java"] = None
    return found


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def scored(entry: dict, metric: str) -> str:
    """`metric value ± standard error` (lm-evaluation-harness's form); the value alone where there is none."""
    value, stderr = entry["metrics"][metric], entry.get("stderr", {}).get(metric)
    return f"{metric} {_number(value)}" + (f" ± {stderr:.4f}" if value is not None and stderr is not None else "")


def headline(entry: dict) -> str:
    if entry.get("scored") is False:
        return f"generated {entry['num_documents']} documents x {entry['n_samples']} samples -> {entry['generations']}"
    metrics = ", ".join(scored(entry, name) for name in entry["metrics"])
    return f"{metrics or 'no metrics'} ({entry['num_documents']} documents, {entry['seconds']:.1f} s)"


def summary_table(results: dict, tasks: list[str] | None = None):
    """A rich table of `tasks` (default: every task in `results`): the primary metric ± its standard
    error, then its 95% interval, documents x samples and the other metrics in one compact column. It
    reads at 80 columns: the last column wraps, nothing is cut."""
    from rich import box
    from rich.table import Table

    names = [name for name in (tasks if tasks is not None else results["tasks"]) if name in results["tasks"]]
    title = results.get("model") or "saved generations"
    if results.get("adapter"):
        title += f" + {results['adapter']}"
    seconds = sum(results["tasks"][name].get("seconds", 0.0) for name in names)
    table = Table(title=f"astraios eval: {title}", box=box.SIMPLE_HEAD, pad_edge=False, caption_justify="left",
                  caption=f"{len(names)} task(s), {seconds:.1f} s. ± standard error over problems; 95% CI: "
                  f"bootstrap over problems. details: documents x samples, other metrics; all of them in results.json")
    table.add_column("task", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("details", overflow="fold", min_width=16)
    for name in names:
        entry = results["tasks"][name]
        primary = entry.get("primary_metric")
        metrics = entry.get("metrics", {})
        score = f"[bold]{scored(entry, primary)}[/]" if metrics.get(primary) is not None else "-"
        details = []
        interval = entry.get("ci95", {}).get(primary)
        if metrics.get(primary) is not None and interval is not None:
            details.append(f"95% CI {interval[0]:.4f}-{interval[1]:.4f}")
        details.append(f"{entry['num_documents']}x{entry['n_samples'] or 'mixed'}")
        details += [scored(entry, metric) for metric in metrics if metric != primary]
        matrix = entry.get("details", {}).get("confusion_matrix")
        if matrix:
            details.append("tp/fp/tn/fn " + "/".join(str(matrix[key]) for key in ("tp", "fp", "tn", "fn")))
        if entry.get("scored") is False:
            details.append("not scored (--generations-only)")
        table.add_row(name, score, ", ".join(details))
    return table
