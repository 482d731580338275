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
its error: the report leaves it out with a note, as it does interrupted cells. So does a cell whose
results.json is of another model than its final/ now (`astraios.evaluation.results.check_current`:
the run was trained again after it was evaluated).

Bases: a grid's evaluated base warm-ups load as cells of method `base` (`load_cells(kind="base")`),
the untuned reference of the score tables. Seeds: a grid with `seeds:` has one run directory per
seed; `aggregate_seeds` makes one cell per experiment with the mean of every number, the standard
deviation over seeds of the losses and scores, and the seeds' per-problem outcomes pooled.

Only runs of one experiment are pooled: the same model and method trained with the same recipe
(the run config, less its seed and where the run lives and reports, plus the steps its summary
says were trained), each with its own seed and its own trained model. Runs of one model x method
that are not one experiment (another recipe, the same seed twice, or the same model fingerprint
twice: a copy, a rerun) stay separate cells, labelled with their run directories
(`label_experiments`), and the report says why. Every cell lists the runs it holds (`run_dirs`).
A task's score is averaged over seeds only when every seed scored it, with the same evaluation
(`evaluation_of`: sampling, limit, options, task file, metric, problems); otherwise the pooled cell
leaves it out and says why (`left_out`).
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from astraios.config import differences
from astraios.core.io import CorruptFileError, read_json, read_jsonl
from astraios.core.layout import (
    CELL_FILE,
    CONFIG_FILE,
    EVAL_DIR,
    FINAL_DIR,
    GRID_FILE,
    LOSSES_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
)
from astraios.evaluation import task_warnings
from astraios.evaluation.results import StaleResultsError, check_current, recorded_fingerprint
from astraios.outcomes import Outcomes, outcomes_from_results, pool_seeds

FINAL_TRAIN_SHARE = 10  # final train loss: the mean over the last 1/10 of the steps
BASE_METHOD = "base"  # the method name of an evaluated base warm-up (the untuned model)
# Run-config fields that differ between seeds of one experiment, or say where it lives and reports.
NOT_RECIPE = (("train", "seed"), ("train", "output_dir"), ("train", "log_to"))


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
    outcomes: dict[str, Outcomes] = field(default_factory=dict)  # task -> per-problem outcomes (intervals)
    seeds: list[int] = field(default_factory=list)  # the train seeds behind this cell
    run_dirs: list[Path] = field(default_factory=list)  # the runs this cell holds (several: one per seed)
    recipe: dict = field(default_factory=dict)  # the run config without seed, output_dir and log_to
    spread: dict[str, float] = field(default_factory=dict)  # over seeds: standard deviation of final_test_loss,
    # final_train_loss and each task's score
    fingerprint: str | None = None  # of the trained model its results came from
    left_out: dict[str, str] = field(default_factory=dict)  # task -> why the seeds' scores were not averaged

    @property
    def trained(self) -> bool:
        return self.final_test_loss is not None

    @property
    def experiment(self) -> str:
        """What runs of one experiment share: model, method and recipe."""
        recipe = json.dumps(self.recipe, sort_keys=True, default=str)
        return f"{self.model}|{self.method}|{hashlib.sha256(recipe.encode()).hexdigest()[:16]}"


def load_cells(runs_dir: str | Path, kind: str = "cell") -> list[Cell]:
    """Every cell under `runs_dir` (or, with kind="base", every evaluated base warm-up of a grid, as
    method `base`), ordered by model size, then method name."""
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
            if (record.get("kind") == "base") != (kind == "base"):
                continue
            cell = _cell(run_dir, record)
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, yaml.YAMLError) as error:
            reason = str(error) if isinstance(error, (CorruptFileError, StaleResultsError)) else (
                f"{run_dir}: unreadable files ({type(error).__name__}: {error})")
            cell = Cell(run_dir=run_dir, model=record.get("model") or run_dir.name,
                        method=record.get("method") or "?", status="unreadable", error=reason, run_dirs=[run_dir])
        if kind == "base":
            if not cell.scores:
                continue
            cell.method = BASE_METHOD
        cells.append(cell)
    if not cells and kind != "base":
        raise FileNotFoundError(f"{runs_dir}: no training run directories (folders with {CONFIG_FILE}) below it. "
                                f"Fix: run `astraios grid GRID.yaml` first, or pass the folder that holds the runs.")
    return sorted(cells, key=lambda cell: (cell.base_parameters or 0, cell.model, cell.method))


def load_grid_manifest(runs_dir: str | Path) -> dict | None:
    return read_json(Path(runs_dir) / GRID_FILE)


def _cell(run_dir: Path, record: dict) -> Cell:
    config = yaml.safe_load((run_dir / CONFIG_FILE).read_text(encoding="utf-8")) or {}
    model_name = config.get("model", {}).get("name", "?")
    seed = record.get("seed") if record.get("seed") is not None else config.get("train", {}).get("seed")
    recipe = json.loads(json.dumps(config, default=str))  # a copy
    for section, key in NOT_RECIPE:
        recipe.get(section, {}).pop(key, None)
    summary = read_json(run_dir / SUMMARY_FILE)
    if summary and summary.get("steps") is not None:  # what was trained, whatever config.yaml says now
        recipe.setdefault("train", {})["steps_trained"] = summary["steps"]
    cell = Cell(run_dir=run_dir, model=record.get("model") or _model_label(model_name),
                method=record.get("method") or config.get("method", {}).get("name", "?"),
                status="interrupted", error=record.get("error"), seeds=[seed] if seed is not None else [],
                run_dirs=[run_dir], recipe=recipe,
                train_seconds=record.get("train_seconds"), eval_seconds=record.get("eval_seconds"))
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
    check_current(results, run_dir)
    cell.fingerprint = recorded_fingerprint(results or {})
    for task, entry in (results or {}).get("tasks", {}).items():
        cell.evaluations[task] = entry
        metric = entry.get("primary_metric")
        if metric and entry.get("metrics", {}).get(metric) is not None:
            cell.scores[task] = float(entry["metrics"][metric])
            cell.metrics[task] = metric
            outcomes = outcomes_from_results(entry)
            if outcomes is not None:
                cell.outcomes[task] = outcomes
        if warnings := task_warnings(entry):
            cell.warnings[task] = warnings
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


def label_experiments(cells: list[Cell]) -> list[str]:
    """Give the runs of one model x method that are not one experiment labels of their own (the method
    followed by their run directories), so that nothing pools or pivots them together; returns a note
    per model x method so split, saying why."""
    by_cell: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for cell in cells:
        by_cell[cell.model, cell.method].append(cell)
    notes = []
    for (model, method), runs in by_cell.items():
        experiments = _experiments(runs)
        if len(experiments) == 1:
            continue
        recipes = list({run.experiment: run.recipe for run in runs}.values())
        reasons = []
        if len(recipes) > 1:
            changed = list(dict.fromkeys(change for recipe in recipes[1:] for change in differences(recipes[0], recipe)))
            reasons.append(f"their recipes differ ({'; '.join(changed[:3])}{'; ...' if len(changed) > 3 else ''})")
        if len(experiments) > len(recipes):
            reasons.append("some repeat a seed or a trained model (a copy or a rerun, not another seed)")
        notes.append(f"The {len(runs)} runs of {model} x {method} are {len(experiments)} experiments, not seeds of one: "
                     f"{' and '.join(reasons)}. Each is its own cell, labelled with its run directories; nothing was "
                     f"averaged across them.")
        for group in experiments:
            label = f"{method} ({', '.join(run.run_dir.name for run in group)})"
            for run in group:
                run.method = label
    return notes


def _experiments(runs: list[Cell]) -> list[list[Cell]]:
    """The runs grouped by experiment (same recipe, distinct seeds, distinct trained models); a group
    in which a seed or a model fingerprint repeats is no experiment: each of its runs stands alone."""
    by_recipe: dict[str, list[Cell]] = defaultdict(list)
    for run in runs:
        by_recipe[run.experiment].append(run)
    groups = []
    for group in by_recipe.values():
        seeds = [tuple(run.seeds) for run in group]
        models = [run.fingerprint for run in group if run.fingerprint]
        distinct = len(set(seeds)) == len(seeds) and len(set(models)) == len(models)
        groups += [group] if distinct else [[run] for run in group]
    return groups


def evaluation_of(entry: dict) -> str:
    """What decided a task's score besides the model (its results.json entry): the request
    (sampling, limit, options, task file), the task's settings (its protocol among them), the
    primary metric and the number of problems scored."""
    return json.dumps({key: entry.get(key) for key in ("request", "task_settings", "primary_metric", "num_documents")},
                      sort_keys=True, default=str)


def aggregate_seeds(cells: list[Cell], average_over: list[str] = ()) -> list[Cell]:
    """One cell per experiment (after `label_experiments`): a single run as it is, several seeds as their
    mean (scores of tasks every seed scored; losses of seeds that trained), with spreads (also of the
    average score over the tasks `average_over`) and pooled outcomes."""
    groups: dict[tuple[str, str], list[Cell]] = defaultdict(list)
    for cell in cells:
        groups[cell.model, cell.method].append(cell)
    for (model, method), group in groups.items():
        if len(_experiments(group)) > 1:  # a caller that skipped `label_experiments`: never average those
            raise ValueError(f"the runs of {model} x {method} are not one experiment: "
                             f"{', '.join(str(cell.run_dir) for cell in group)}; label them first")
    return [group[0] if len(group) == 1 else _mean_cell(group, list(average_over)) for group in groups.values()]


def _mean_cell(group: list[Cell], average_over: list[str]) -> Cell:
    trained = [cell for cell in group if cell.trained] or group
    first = trained[0]

    def mean(values):
        values = [value for value in values if value is not None]
        return statistics.fmean(values) if values else None

    def spread(values):
        values = [value for value in values if value is not None]
        return statistics.stdev(values) if len(values) > 1 else None

    tasks, left_out = _poolable_tasks(group)
    steps = sorted(set.intersection(*(set(dict(cell.test_curve)) for cell in trained)))
    curves = [dict(cell.test_curve) for cell in trained]
    statuses = {cell.status for cell in group}
    cell = replace(
        first, status=next((s for s in ("failed", "running", "interrupted", "trained") if s in statuses), "finished"),
        error="; ".join(cell.error for cell in group if cell.error) or None,
        seeds=sorted(seed for cell in group for seed in cell.seeds),
        run_dirs=[run_dir for cell in group for run_dir in cell.run_dirs],
        final_train_loss=mean(c.final_train_loss for c in trained), final_test_loss=mean(c.final_test_loss for c in trained),
        initial_test_loss=mean(c.initial_test_loss for c in trained),
        test_curve=[(step, statistics.fmean(curve[step] for curve in curves)) for step in steps],
        scores={task: statistics.fmean(cell.scores[task] for cell in group) for task in tasks},
        metrics={task: first.metrics.get(task) or group[0].metrics[task] for task in tasks},
        outcomes={task: pool_seeds([cell.outcomes[task] for cell in group]) for task in tasks
                  if all(task in cell.outcomes for cell in group)},
        train_seconds=mean(c.train_seconds for c in group), eval_seconds=mean(c.eval_seconds for c in group),
        tokens_per_second=mean(c.tokens_per_second for c in trained),
        peak_memory_bytes=max((c.peak_memory_bytes for c in trained if c.peak_memory_bytes), default=None),
        left_out=left_out,
    )
    cell.spread = {key: value for key, value in {
        "final_test_loss": spread(c.final_test_loss for c in trained),
        "final_train_loss": spread(c.final_train_loss for c in trained),
        "average": spread(statistics.fmean(c.scores[t] for t in average_over) for c in group
                          if average_over and set(average_over) <= set(c.scores)),
        **{task: spread(c.scores[task] for c in group) for task in tasks}}.items() if value is not None}
    return cell


def _poolable_tasks(group: list[Cell]) -> tuple[set[str], dict[str, str]]:
    """The tasks every seed scored with the same evaluation, and why each other scored task is not."""
    scored = set.union(*(set(cell.scores) for cell in group))
    tasks, left_out = set(), {}
    for task in sorted(scored):
        missing = [cell for cell in group if task not in cell.scores]
        if missing:
            left_out[task] = (f"scored by {len(group) - len(missing)} of its {len(group)} seeds (not by "
                              f"{', '.join(str(cell.run_dir) for cell in missing)})")
        elif len({evaluation_of(cell.evaluations[task]) for cell in group}) > 1:
            left_out[task] = "its seeds were evaluated differently (sampling, limit, options, protocol or problems)"
        else:
            tasks.add(task)
    return tasks, left_out
