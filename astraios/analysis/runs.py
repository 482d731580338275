"""Read training run directories (and their evaluation results) into one record per cell.

A run directory is any folder under RUNS_DIR with a `config.yaml` (astraios train or astraios
grid made it). Base warm-ups of a grid (`grid_cell.json` kind `base`) are not cells. Nothing here
imports torch: a report builds in seconds on any machine.

Model size N is the base model's parameter count: the adapted model's total minus what the method
trains (full fine-tuning trains the base itself, so N is its total).

Final train loss is the mean over the last tenth of the steps: one step's batch loss varies from
batch to batch more than methods differ. Final test loss is the last held-out evaluation.

A cell whose files cannot be read (a torn results.json, an empty summary.json, a malformed
losses.jsonl line, a broken config.yaml) becomes a cell with status `unreadable` and the reason as
its error: the report leaves it out with a note, as it does interrupted cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from astraios.evaluate import RESULTS_FILE, task_warnings
from astraios.grid import CELL_FILE, EVAL_DIR, GRID_FILE
from astraios.io import CorruptFileError, read_json, read_jsonl
from astraios.train import CONFIG_FILE, FINAL_DIR, LOSSES_FILE, SUMMARY_FILE

FINAL_TRAIN_SHARE = 10  # final train loss: the mean over the last 1/10 of the steps


@dataclass
class Cell:
    run_dir: Path
    model: str
    method: str
    status: str  # finished | failed | running | trained (no evaluation) | interrupted | unreadable
    error: str | None = None
    base_parameters: int | None = None
    trainable: int | None = None
    total: int | None = None
    trainable_percent: float | None = None
    final_train_loss: float | None = None
    final_test_loss: float | None = None
    initial_test_loss: float | None = None
    test_curve: list[tuple[int, float]] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)  # task -> primary metric
    metrics: dict[str, str] = field(default_factory=dict)  # task -> name of its primary metric
    warnings: dict[str, list[str]] = field(default_factory=dict)  # task -> what qualifies its score (partial data)
    evaluations: dict[str, dict] = field(default_factory=dict)  # task -> its results.json entry (all metrics, details)
    train_seconds: float | None = None
    eval_seconds: float | None = None
    tokens_per_second: float | None = None  # training throughput, from summary.json
    peak_memory_bytes: int | None = None
    memory_kind: str | None = None  # what peak_memory_bytes measures (e.g. cuda_max_allocated, cpu_max_rss)

    @property
    def trained(self) -> bool:
        return self.final_test_loss is not None


def load_cells(runs_dir: str | Path) -> list[Cell]:
    """Every cell under `runs_dir`, ordered by model size, then method name."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"{runs_dir}: no such directory. Fix: pass the grid's output_dir (e.g. runs/grid-tiny) "
                                f"or a folder of training run directories.")
    cells = []
    for config_path in sorted(runs_dir.rglob(CONFIG_FILE)):
        run_dir = config_path.parent
        record = {}
        try:
            record = read_json(run_dir / CELL_FILE) or {}
            if record.get("kind") == "base":
                continue
            cells.append(_cell(run_dir, record))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, yaml.YAMLError) as error:
            reason = str(error) if isinstance(error, CorruptFileError) else (
                f"{run_dir}: unreadable files ({type(error).__name__}: {error})")
            cells.append(Cell(run_dir=run_dir, model=record.get("model") or run_dir.name,
                              method=record.get("method") or "?", status="unreadable", error=reason))
    if not cells:
        raise FileNotFoundError(f"{runs_dir}: no training run directories (folders with {CONFIG_FILE}) below it. "
                                f"Fix: run `astraios grid GRID.yaml` first, or pass the folder that holds the runs.")
    return sorted(cells, key=lambda cell: (cell.base_parameters or 0, cell.model, cell.method))


def load_grid_manifest(runs_dir: str | Path) -> dict | None:
    return read_json(Path(runs_dir) / GRID_FILE)


def _cell(run_dir: Path, record: dict) -> Cell:
    config = yaml.safe_load((run_dir / CONFIG_FILE).read_text(encoding="utf-8")) or {}
    model_name = config.get("model", {}).get("name", "?")
    cell = Cell(run_dir=run_dir, model=record.get("model") or _model_label(model_name),
                method=record.get("method") or config.get("method", {}).get("name", "?"),
                status="interrupted", error=record.get("error"),
                train_seconds=record.get("train_seconds"), eval_seconds=record.get("eval_seconds"))
    summary = read_json(run_dir / SUMMARY_FILE)
    if summary:
        parameters = summary["parameters"]
        cell.trainable, cell.total = parameters["trainable"], parameters["total"]
        cell.trainable_percent = parameters["trainable_percent"]
        cell.base_parameters = cell.total if cell.trainable == cell.total else cell.total - cell.trainable
        cell.final_test_loss = summary.get("final_test_loss")
        cell.initial_test_loss = summary.get("initial_test_loss")
        cell.tokens_per_second = summary.get("tokens_per_second")
        cell.peak_memory_bytes = summary.get("peak_memory_bytes")
        cell.memory_kind = summary.get("memory_kind")
        if cell.train_seconds is None:
            cell.train_seconds = summary.get("wall_seconds")
        cell.status = "trained"
    if (run_dir / LOSSES_FILE).is_file():
        records = read_jsonl(run_dir / LOSSES_FILE)
        cell.test_curve = [(r["step"], r["loss"]) for r in records if r["split"] == "test"]
        train = [r["loss"] for r in records if r["split"] == "train"]
        if summary and train:
            tail = train[-max(1, len(train) // FINAL_TRAIN_SHARE):]
            cell.final_train_loss = sum(tail) / len(tail)
    results = read_json(run_dir / EVAL_DIR / RESULTS_FILE)
    for task, entry in (results or {}).get("tasks", {}).items():
        cell.evaluations[task] = entry
        metric = entry.get("primary_metric")
        if metric and entry.get("metrics", {}).get(metric) is not None:
            cell.scores[task] = float(entry["metrics"][metric])
            cell.metrics[task] = metric
        if task_warnings(entry):
            cell.warnings[task] = task_warnings(entry)
    if record.get("status") in {"finished", "failed", "running"}:
        cell.status = record["status"]
    elif results and summary:
        cell.status = "finished"
    return cell


def _model_label(name: str) -> str:
    """A model's short name; for a base that is another run's final/ (a warm-up), that run's model."""
    path = Path(name.rstrip("/"))
    if path.name == FINAL_DIR and (path.parent / CONFIG_FILE).is_file():
        parent = yaml.safe_load((path.parent / CONFIG_FILE).read_text(encoding="utf-8")) or {}
        return _model_label(parent.get("model", {}).get("name", path.parent.name))
    return path.name
