"""`astraios grid`: train and evaluate every model x method cell of a study, resumably.

A grid config (YAML, see `configs/grid-tiny.yaml`) names the base models, the methods, one
training recipe (a run config file plus dotted overrides, optionally per method) and the
evaluation. `load_grid` validates all of it and builds every cell's `RunConfig` up front, so a
typo fails before any model loads, with the file, the field and a fix.

Layout of the grid's `output_dir`:
    grid.json               the plan, every job's status, tasks evaluated or skipped, timings
    bases/MODEL/            base warm-up run (only with `base_warmup`): its final/ is the cells' base
    MODEL-METHOD/           a cell: a training run directory (config.yaml, losses.jsonl, summary.json,
                            final/) plus eval/results.json and grid_cell.json (status, error, timings)

Resume: a job whose summary.json (and, for cells, every evaluation task) is there is skipped, after
checking that its saved config equals the grid's, so a changed recipe never mixes silently with old
results; a cell re-evaluates exactly the tasks whose evaluation settings changed
(`astraios.grid_evaluation`); a job with a config.yaml but no summary resumes from its last
checkpoint; a failed job is retried. An exception in one job is recorded and the grid goes on.
A job whose directory holds a run trained with another config than the grid's now (a finished run
or a checkpoint) is reported as `mismatch` in grid.json and the command's summary, and left as it
is: its grid_cell.json keeps saying what it was (a finished cell stays finished), and the grid
exits 1.

One `astraios grid` at a time per output_dir: the directory is locked (`astraios.locks`).

The `evaluation:` section (tasks, sampling, per-task settings and task options) and what counts
as evaluated live in `astraios.grid_evaluation`.

Why `base_warmup`: the tiny models are random-initialised, and their near-uniform outputs give a
parameter-efficient method nothing to steer. The warm-up first trains each base with full
fine-tuning (a stand-in for pre-training), then every method tunes that base, as the study tunes
pre-trained StarCoders.

Evaluation tasks whose data is missing (no local data directory, Hub unreachable) are recorded as
skipped with the reason, once per grid run, and the other tasks go on.

What the grid shows its user (the dry-run plan, the progress view, grid.json) is
`astraios.grid_status`. Where jobs run (`executor:` in the grid, `--executor` on the command line) is
`astraios.grid_executors`: here, one after another or one process per visible GPU (default), or
on a Ray cluster; every executor runs `run_job`, so resume, error records and progress are the same.
"""

from __future__ import annotations

import copy
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from astraios import methods
from astraios.config import (
    ConfigError,
    RunConfig,
    Strict,
    _describe,
    _read_yaml,
    _set_dotted,
    all_or_known,
    validate_config,
)
from astraios.grid_evaluation import (  # noqa: F401  (EVAL_DIR: read through this module by the report)
    EVAL_DIR,
    EvalPlan,
    EvaluationConfig,
    evaluate_cell,
    pending_tasks,
    plan_evaluation,
)
from astraios.grid_executors import ExecutorConfig, make_executor, visible_gpus  # noqa: F401 (visible_gpus: API)
from astraios.io import CorruptFileError, read_json, write_json
from astraios.locks import exclusive
from astraios.train import FINAL_DIR

GRID_FILE = "grid.json"
CELL_FILE = "grid_cell.json"
BASES_DIR = "bases"
# Fields the grid fills in for every job; a recipe that sets them is a mistake worth naming.
GRID_OWNED = {"model.name": "list the models under `models:`", "method.name": "list the methods under `methods:`",
              "train.output_dir": "set the grid's `output_dir:`"}


# ----------------------------------------------------------------------------------------------
# The grid config


class RecipeConfig(Strict):
    config: str | None = Field(None, description="a run config file (relative to the grid file); null = the defaults")
    set: dict[str, Any] = Field(default_factory=dict, description="dotted overrides, e.g. `train.max_steps: 20`")


class WarmupConfig(Strict):
    set: dict[str, Any] = Field(
        default_factory=dict, description="dotted overrides on top of the recipe for the full fine-tuning warm-up"
    )
    evaluate: bool = Field(True, description="evaluate each warmed-up base too: the report's untuned `base` row")


class GridConfig(Strict):
    output_dir: str = Field(description="where the grid's run directories go, e.g. runs/grid-tiny")
    models: list[str] = Field(min_length=1, description="tiny names, StarCoder sizes, Hub ids or local directories")
    methods: list[str] | Literal["all"] = Field("all", description="method names (`astraios methods`) or `all`")
    recipe: RecipeConfig = Field(default_factory=RecipeConfig)
    method_overrides: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per method, dotted overrides on top of the recipe, e.g. `lora: {method.r: 16}`"
    )
    base_warmup: WarmupConfig | None = Field(None, description="train each base with full fine-tuning first")
    seeds: list[int] | None = Field(None, min_length=1, description="train every cell once per seed (train.seed); "
                                                                    "run directories MODEL-METHOD-seedS")
    evaluation: EvaluationConfig | None = Field(None, description="evaluation after training; null = train only")
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig, description="where jobs run: local or ray")

    @field_validator("models")
    @classmethod
    def _distinct_models(cls, value: list[str]) -> list[str]:
        labels = [model_label(name) for name in value]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(f"several models share the run directory name {', '.join(repeated)}. "
                             f"Fix: list each model once (or copy one into a directory of another name)")
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value):
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a seed is listed twice. Fix: list each seed once")
        return value

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value):
        return all_or_known(value, list(methods.METHODS), "method")

    @model_validator(mode="after")
    def _overrides_name_listed_methods(self):
        unused = [name for name in self.method_overrides if name not in self.method_names()]
        if unused:
            raise ValueError(f"method_overrides names {', '.join(unused)}, which is not in `methods`. "
                             f"Fix: add it to `methods` or drop its overrides")
        return self

    def method_names(self) -> list[str]:
        return list(methods.METHODS) if self.methods == "all" else list(self.methods)


def model_label(name: str) -> str:
    """The short name of a model in run directory names and reports (`bigcode/x` -> `x`)."""
    return Path(name.rstrip("/")).name


# ----------------------------------------------------------------------------------------------
# The plan: jobs built from the config


@dataclass
class Job:
    """One training run of the grid: a base warm-up, or a cell (model x method) trained then evaluated."""

    kind: Literal["base", "cell"]
    model: str  # the model's label (e.g. tiny-gptbigcode-s)
    source_model: str  # the model as listed in the grid (name, Hub id or directory)
    method: str
    config: RunConfig
    depends_on: str | None = None  # run directory of the base warm-up this cell trains from
    seed: int | None = None  # the cell's train.seed when the grid lists `seeds`
    evaluated: bool = True  # evaluated after training (cells; base warm-ups unless `base_warmup.evaluate` is false)

    @property
    def run_dir(self) -> Path:
        return self.config.output_dir()

    @property
    def name(self) -> str:
        if self.kind == "base":
            return f"{self.model} base warm-up"
        return f"{self.model} x {self.method}" + (f" (seed {self.seed})" if self.seed is not None else "")


@dataclass
class Grid:
    config: GridConfig
    path: Path
    bases: list[Job]
    cells: list[Job]

    @property
    def output_dir(self) -> Path:
        return Path(self.config.output_dir)

    @property
    def jobs(self) -> list[Job]:
        return [*self.bases, *self.cells]

    def set_data_dir(self, data_dir: str) -> None:
        """`astraios grid --data-dir`: where the evaluation reads its data (not a score setting)."""
        if self.config.evaluation is None:
            raise ConfigError(f"--data-dir {data_dir}: {self.path} has no `evaluation:` section, so nothing reads "
                              f"data. Fix: drop --data-dir, or add an evaluation section.")
        self.config.evaluation.data_dir = data_dir

    def set_executor(self, name: str | None, address: str | None) -> None:
        """`astraios grid --executor/--address`: over the grid file's `executor:` section."""
        settings = self.config.executor.model_dump()
        settings.update({key: value for key, value in (("name", name), ("address", address)) if value is not None})
        try:
            self.config.executor = ExecutorConfig.model_validate(settings)
        except ValidationError as error:
            raise ConfigError(_describe(error, f"{self.path} (--executor/--address)", {}, root=ExecutorConfig)) from None


def load_grid(path: str | Path) -> Grid:
    """Read and validate a grid config and every job's run config."""
    path = Path(path)
    raw = _read_yaml(path, sections="output_dir/models/methods/recipe/evaluation", example="configs/grid-tiny.yaml")
    try:
        config = GridConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, str(path), {}, root=GridConfig)) from None
    recipe = _recipe_raw(config, path)
    output_dir = Path(config.output_dir)
    bases: dict[str, Job] = {}
    if config.base_warmup is not None:
        for name in config.models:
            label = model_label(name)
            layers = [("recipe.set", config.recipe.set), ("base_warmup.set", config.base_warmup.set)]
            run_config = _job_config(recipe, layers, name, "full", output_dir / BASES_DIR / label, path)
            bases[name] = Job("base", label, name, "full", run_config, evaluated=config.base_warmup.evaluate)
    cells = []
    for name in config.models:
        base = bases.get(name)
        trained_from = str(base.run_dir / FINAL_DIR) if base else name
        for method in config.method_names():
            layers = [("recipe.set", config.recipe.set),
                      (f"method_overrides.{method}", config.method_overrides.get(method, {}))]
            for seed in config.seeds or [None]:
                run_dir = output_dir / f"{model_label(name)}-{method}"
                if seed is not None:
                    _check_seed_not_set(layers, path)
                    run_dir = run_dir.with_name(f"{run_dir.name}-seed{seed}")
                seeded = layers if seed is None else [*layers, ("seeds", {"train.seed": seed})]
                run_config = _job_config(recipe, seeded, trained_from, method, run_dir, path)
                cells.append(Job("cell", model_label(name), name, method, run_config,
                                 depends_on=str(base.run_dir) if base else None, seed=seed))
    return Grid(config, path, list(bases.values()), cells)


def _check_seed_not_set(layers: list[tuple[str, dict]], grid_path: Path) -> None:
    for where, overrides in layers:
        if "train.seed" in overrides:
            raise ConfigError(f"{grid_path}: field `{where}`: `train.seed` is set for each cell by `seeds:`. "
                              f"Fix: drop it from `{where}` and list the seeds under `seeds:`.")


def _recipe_raw(config: GridConfig, grid_path: Path) -> dict:
    """The recipe file's sections, without what the grid sets per job."""
    if config.recipe.config is None:
        return {}
    recipe_path = Path(config.recipe.config)
    if not recipe_path.is_absolute():
        recipe_path = grid_path.parent / recipe_path
    if not recipe_path.is_file():
        raise ConfigError(f"{grid_path}: field `recipe.config`: {recipe_path} does not exist. Fix: give a run "
                          f"config path relative to the grid file (e.g. astraios.yaml beside it), or null.")
    raw = _read_yaml(recipe_path)
    # The recipe file may name a model, method and output directory (to be usable alone); the grid sets its own.
    raw.pop("method", None)
    raw.get("model", {}).pop("name", None)
    raw.get("train", {}).pop("output_dir", None)
    return raw


def _job_config(recipe: dict, layers: list[tuple[str, dict]], model: str, method: str, run_dir: Path,
                grid_path: Path) -> RunConfig:
    raw = copy.deepcopy(recipe)
    raw["method"] = {"name": method}
    for where, overrides in layers:
        for key, value in overrides.items():
            owned = GRID_OWNED.get(key)
            if owned or (where != f"method_overrides.{method}" and key.startswith("method.")):
                fix = owned or f"put method settings under `method_overrides: {{{method}: {{{key}: ...}}}}`"
                raise ConfigError(f"{grid_path}: field `{where}`: `{key}` is set by the grid for each job. Fix: {fix}.")
            _set_dotted(raw, key, value, f"{grid_path}: field `{where}`")
    raw.setdefault("model", {})["name"] = model
    raw.setdefault("train", {})["output_dir"] = str(run_dir)
    layer_names = " + ".join(where for where, overrides in layers if overrides) or "defaults"
    return validate_config(raw, f"{grid_path} ({layer_names}, method {method})")


# ----------------------------------------------------------------------------------------------
# Status of a job on disk


def job_status(job: Job) -> str:
    """What is on disk, before any check of settings: finished | failed | trained (a cell whose
    evaluation has not finished) | interrupted (training started, no summary) | pending."""
    from astraios.train import CONFIG_FILE, SUMMARY_FILE

    record = read_cell_record(job.run_dir)
    if record and record.get("status") == "finished" and (job.run_dir / SUMMARY_FILE).is_file():
        return "finished"
    if record and record.get("status") == "failed":
        return "failed"
    if (job.run_dir / SUMMARY_FILE).is_file():
        return "trained" if job.kind == "cell" or job.evaluated else "finished"
    if (job.run_dir / CONFIG_FILE).is_file():
        return "interrupted"
    return "pending"


def read_cell_record(run_dir: Path) -> dict | None:
    """The job's grid_cell.json; a torn one counts as absent (the status is then read from the run's
    own files) and is rewritten when the job next runs."""
    try:
        return read_json(Path(run_dir) / CELL_FILE)
    except CorruptFileError:
        return None


# ----------------------------------------------------------------------------------------------
# Running one job


def run_job(job: Job, evaluation: EvalPlan, *, show_progress: bool, trainer=None) -> dict:
    """Train (or resume) and evaluate one job; never raises for the job's own errors: the record says.
    `trainer(config, resume=, overwrite=, show_progress=)` trains (default `train.run`, in this process)."""
    from astraios.train import SUMMARY_FILE

    previous = read_cell_record(job.run_dir) or {}
    record = {"kind": job.kind, "model": job.model, "source_model": job.source_model, "method": job.method,
              "seed": job.seed, "base_model": job.config.model.name, "status": "running", "stage": "train",
              "train_seconds": previous.get("train_seconds", 0.0), "eval_seconds": previous.get("eval_seconds", 0.0),
              "skipped_tasks": evaluation.skipped if job.evaluated else {}}
    try:
        if job.depends_on and not base_trained(Path(job.depends_on)):
            raise RuntimeError(f"its base warm-up ({job.depends_on}) did not finish; see its {CELL_FILE}")
        if (job.run_dir / SUMMARY_FILE).is_file():
            if mismatch := settings_mismatch(job):  # checked here too: a Ray worker or GPU process runs only this
                raise ConfigError(mismatch)
        else:
            from astraios import train
            from astraios.train import checkpoint

            trainer = trainer or train.run
            # Resume from a checkpoint; without one there is nothing to keep, so start over (a cell
            # that failed before its first checkpoint, e.g. on a bad setting, runs again once fixed).
            resume = checkpoint.latest(job.run_dir) is not None
            started = time.perf_counter()
            try:
                trainer(job.config, resume=resume, overwrite=not resume, show_progress=show_progress)
            finally:
                record["train_seconds"] += time.perf_counter() - started
        if job.evaluated and evaluation.settings is not None:
            record["stage"] = "eval"
            started = time.perf_counter()
            try:
                pending = evaluate_cell(job.run_dir, evaluation, show_progress)
                record["evaluated_tasks"] = pending  # task -> why it was (re-)evaluated in this run
            finally:
                record["eval_seconds"] += time.perf_counter() - started
        record.update(status="finished", stage=None, error=None, traceback=None)
    except Exception as error:  # one cell's failure must not stop the grid
        record.update(status="failed", error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc())
    record["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    write_json(job.run_dir / CELL_FILE, record)
    return record


def base_trained(run_dir: Path) -> bool:
    """Whether a base warm-up finished training (its own evaluation may have failed: cells go on)."""
    record = read_cell_record(run_dir) or {}
    return record.get("status") == "finished" or (record.get("status") == "failed" and record.get("stage") == "eval")


def config_differences(job: Job) -> list[str]:
    """Fields in which the job's saved config.yaml differs from the grid's config for it."""
    from astraios.train.loop import saved_config_differences

    return saved_config_differences(job.run_dir, job.config)


def settings_mismatch(job: Job) -> str | None:
    """Why `job`'s directory holds a run trained with another config than the grid's now, or None.
    (Results with other evaluation settings are not a mismatch: those tasks are evaluated again.)"""
    from astraios.train import SUMMARY_FILE
    from astraios.train import checkpoint

    started = (job.run_dir / SUMMARY_FILE).is_file() or checkpoint.latest(job.run_dir) is not None
    if started and (differences := config_differences(job)):
        return (f"{job.run_dir} holds a run whose config differs from the grid's: {'; '.join(differences)}. Fix: "
                f"restore the grid's recipe, or delete {job.run_dir} to train it again with the new one.")
    return None


# ----------------------------------------------------------------------------------------------
# Running the grid


@dataclass
class GridOutcome:
    records: dict[str, dict]  # run dir -> the job's record (this run's, or the one found on disk)
    skipped_jobs: list[str]  # run dirs already finished before this run
    evaluation: EvalPlan
    wall_seconds: float

    @property
    def failed(self) -> list[str]:
        return [run_dir for run_dir, record in self.records.items() if record.get("status") == "failed"]

    @property
    def mismatched(self) -> list[str]:
        return [run_dir for run_dir, record in self.records.items() if record.get("status") == "mismatch"]


def run_grid(grid: Grid, *, show_progress: bool = True, gpus: list[str] | None = None, console=None) -> GridOutcome:
    """Run every unfinished job of the grid with its executor; locally, `gpus` (default: the visible CUDA
    devices) run jobs in parallel.
    The output directory is locked meanwhile: a second grid there is refused (`LockHeld`)."""
    with exclusive(grid.output_dir, "grid"):
        return _run_grid(grid, show_progress=show_progress, gpus=gpus, console=console)


def _run_grid(grid: Grid, *, show_progress: bool, gpus: list[str] | None, console) -> GridOutcome:
    from rich.console import Console

    from astraios.grid_status import GridProgress, write_manifest  # it builds on this module

    console = console or Console(stderr=True, quiet=not show_progress)
    started = time.perf_counter()
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S")
    evaluation = plan_evaluation(grid.config.evaluation)
    for name, reason in evaluation.skipped.items():
        console.print(f"[yellow]skipping task {name}:[/] {reason}")
    for name, warnings in evaluation.warnings.items():
        for warning in warnings:
            Console(stderr=True).print(f"[yellow]warning:[/] {name}: {warning}")
    records: dict[str, dict] = {}
    skipped_jobs = []
    progress = GridProgress(grid.jobs, console)
    executor = make_executor(grid.config.executor, output_dir=grid.output_dir, grid_path=grid.path, gpus=gpus)
    with executor:
        for stage in (grid.bases, grid.cells):
            todo = []
            for job in stage:
                if is_done(job, evaluation):
                    skipped_jobs.append(str(job.run_dir))
                    records[str(job.run_dir)] = read_cell_record(job.run_dir) or {"status": "finished"}
                    progress.skip(job)
                elif mismatch := settings_mismatch(job) or _base_mismatch(job, records):
                    # Reported, not run: the directory's own record keeps saying what it holds.
                    records[str(job.run_dir)] = {**(read_cell_record(job.run_dir) or {}), "status": "mismatch",
                                                 "error": mismatch}
                    progress.mismatch(job, mismatch)
                else:
                    todo.append(job)
            records.update(executor.run(todo, evaluation, progress, show_progress=show_progress))
            write_manifest(grid, evaluation, records, started_at, time.perf_counter() - started)
    outcome = GridOutcome(records, skipped_jobs, evaluation, time.perf_counter() - started)
    progress.summary(outcome)
    return outcome


def _base_mismatch(job: Job, records: dict[str, dict]) -> str | None:
    if job.depends_on and records.get(job.depends_on, {}).get("status") == "mismatch":
        return f"its base warm-up ({job.depends_on}) holds a run with other settings than the grid's"
    return None


def is_done(job: Job, evaluation: EvalPlan) -> bool:
    """Finished with the grid's config and, for a cell, every task evaluated with the grid's current settings.
    Anything else goes to `run_job`, which resumes it or records why it cannot."""
    if job_status(job) != "finished" or config_differences(job):
        return False
    if not job.evaluated or evaluation.settings is None or not evaluation.tasks:
        return True
    try:
        return not pending_tasks(job.run_dir, evaluation)
    except CorruptFileError:  # a torn results.json: `run_job` meets it again and records that cell's failure
        return False
