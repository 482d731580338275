"""The grid's evaluation: what every cell evaluates, with which settings, and whether a cell's saved
results are still current. Its own module because it is its own concept: the rest of
`astraios.grid` trains and schedules, this decides what "evaluated" means.

The `evaluation:` section of a grid config:
    tasks: [devign, humanevalsynthesize-python]   # or `all`; a task file (my_task.yaml, problems.jsonl;
                                                  #   relative to the working directory) is a task too
    n_samples: 20                                 # sampling for every task (the study's: T = 0.2, n = 20)
    temperature: 0.2
    top_p: 0.95
    max_new_tokens: 512
    limit, batch_size, data_dir, backend, dtype, seed, workers, timeout_s
    per_task:                                     # task name or glob pattern -> settings for those tasks
      "*": {timeout_s: 20}                        #   every task that takes the option
      devign: {protocol: study}                   #   any task option (`astraios tasks`' classes' arguments)
      "recode-*": {n_samples: 1, temperature: 0}  #   sampling fields: n_samples, temperature, top_p, max_new_tokens
      toy-synthesize: {limit: all}                #   `limit` (N or `all`) in place of the section's
Entries apply in the order written, a later one winning for the same setting. A pattern must match
an evaluated task, and an option must be one that some task it matches takes: a typo is an error
naming the file, the field and the options there are. Every task is also built with its options
when the config loads, so a bad value (`protocol: studdy`) or a contradiction (`protocol: study`
with `dtype: bfloat16`) fails before any training.

Results are current per task: each task's results entry records its request (sampling when the
task samples, limit, the options it takes; `astraios.evaluation.task_request`), and a cell
re-evaluates exactly the tasks whose recorded request differs from the grid's, or that are missing.
Entries written before requests were recorded are compared on what the grid could set then
(sampling, limit, seed) and count as stale when the grid now sets another option for them.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from astraios.config import Strict, all_or_known
from astraios.core.layout import EVAL_DIR
from astraios.generate.base import Sampling

SAMPLING_FIELDS = ("n_samples", "temperature", "top_p", "max_new_tokens")
NSamples = Annotated[int, Field(ge=1, description="samples per problem (the study: 20)")]
Temperature = Annotated[float, Field(ge=0, description="0 = greedy (the study: 0.2)")]
TopP = Annotated[float, Field(gt=0, le=1)]
MaxNewTokens = Annotated[int, Field(ge=1)]


class TaskSettings(BaseModel):
    """One `per_task` entry: sampling fields, checked here, and task options, checked against the
    tasks the entry matches."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    n_samples: NSamples | None = None
    temperature: Temperature | None = None
    top_p: TopP | None = None
    max_new_tokens: MaxNewTokens | None = None
    limit: Annotated[int, Field(ge=1)] | Literal["all"] | None = Field(
        None, description="the first N documents of these tasks, or `all`, in place of the section's `limit`")

    def sampling(self) -> dict:
        return {name: getattr(self, name) for name in SAMPLING_FIELDS if getattr(self, name) is not None}

    def options(self) -> dict:
        return dict(self.model_extra or {})


class EvaluationConfig(Strict):
    tasks: list[str] | Literal["all"] = Field("all", description="task names (`astraios tasks`) or task files, or `all`")
    n_samples: NSamples = Sampling.n
    temperature: Temperature = Sampling.temperature
    top_p: TopP = Sampling.top_p
    max_new_tokens: MaxNewTokens = Sampling.max_new_tokens
    batch_size: Annotated[int, Field(ge=1)] | Literal["auto"] = Field(
        16, description="rows (prompt x sample) decoded at once, or auto: the most that fit (found once, cached)")
    limit: int | None = Field(None, ge=1, description="evaluate only the first N documents of each task")
    data_dir: str | None = Field(None, description="local data directory; null = $ASTRAIOS_DATA_DIR, else the Hub")
    backend: Literal["transformers", "vllm"] = "transformers"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    seed: int = 0
    workers: int | None = Field(None, ge=1, description="programs executed at once (default: one per CPU)")
    timeout_s: float | None = Field(None, gt=0, description="seconds each test program may run (default: 10)")
    per_task: dict[str, TaskSettings] = Field(
        default_factory=dict, description="task name or glob pattern -> sampling fields and task options for those "
        "tasks, e.g. `devign: {protocol: study}`, `recode-*: {n_samples: 1, temperature: 0}`")

    @field_validator("tasks")
    @classmethod
    def _known_tasks(cls, value):
        from astraios import tasks as task_registry
        from astraios.tasks.custom import is_task_file

        if value == "all":
            return value
        names = [reference for reference in value if not is_task_file(reference)]
        if names or not value:
            all_or_known(names, task_registry.names(), "task")  # none, or a typo: said with a did-you-mean
        # Task files by their absolute path: cells may run in another working directory (a Ray worker).
        references = [str(Path(ref).expanduser().resolve()) if is_task_file(ref) else ref for ref in value]
        task_registry.resolve_all(references)  # reads and checks the task files now
        return list(dict.fromkeys(references))

    @field_validator("per_task")
    @classmethod
    def _patterns_match_known_options(cls, value: dict[str, TaskSettings], info: ValidationInfo):
        from astraios import tasks as task_registry

        if "tasks" not in info.data:  # `tasks` itself is wrong, and said so
            return value
        names = task_registry.names() if info.data["tasks"] == "all" else task_registry.resolve_all(info.data["tasks"])
        for pattern, settings in value.items():
            matched = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
            if not matched:
                raise ValueError(f"`{pattern}` matches none of the evaluated tasks ({', '.join(names)}). Fix: correct "
                                 f"the name or pattern, or add the task to `tasks`")
            taken = sorted({option for name in matched for option in task_registry.option_names(name)})
            unknown = [option for option in settings.options() if option not in taken]
            if unknown:
                accepted = ", ".join([*SAMPLING_FIELDS, "limit", *taken])
                raise ValueError(f"`{pattern}`: unknown setting `{unknown[0]}` (the tasks it matches, "
                                 f"{', '.join(matched[:4])}{', ...' if len(matched) > 4 else ''}, take: {accepted}). "
                                 f"Fix: use one of those")
        return value

    @model_validator(mode="after")
    def _tasks_accept_their_options(self):
        """Build every task with its options now: a bad value or a contradiction fails at load time."""
        from astraios import tasks as task_registry
        from astraios.evaluation import task_request
        from astraios.evaluation.config import required_dtype

        config = self.eval_config(self.task_names(), Path("."), None)
        built = []
        for name in self.task_names():
            options = task_request(config, name)["options"]
            try:
                task = task_registry.get(name, **options)
                task.check_sampling(config.sampling_for(name))
            except ValueError as error:
                given = ", ".join(f"{key}: {value}" for key, value in options.items())
                reason = str(error).removeprefix(f"{name}: ")
                raise ValueError(f"task `{name}` with {{{given}}} (named below as `astraios eval` flags): {reason}") from None
            built.append(task)
        required_dtype(self.dtype, built, spell=lambda setting, value: f"`{setting}: {value}`")
        return self

    def task_names(self) -> list[str]:
        """The evaluated tasks' names (task files read and registered in this process)."""
        from astraios import tasks as task_registry

        return task_registry.names() if self.tasks == "all" else task_registry.resolve_all(self.tasks)

    def sampling(self) -> Sampling:
        return Sampling(self.n_samples, self.temperature, self.top_p, self.max_new_tokens)

    def settings_for(self, task: str) -> tuple[dict, dict]:
        """(sampling fields and `limit`, options taken by `task`) that `per_task` sets for it, later
        entries winning."""
        from astraios import tasks as task_registry

        sampling, options = {}, {}
        for pattern, settings in self.per_task.items():
            if fnmatch.fnmatchcase(task, pattern):
                sampling.update(settings.sampling())
                if settings.limit is not None:
                    sampling["limit"] = settings.limit
                options.update(task_registry.accepted_options(task, settings.options()))  # `*` reaches those that take it
        return sampling, options

    def eval_config(self, tasks: list[str], output_dir: Path, model: str | None):
        """The `astraios eval` config of a cell evaluating `tasks`."""
        from astraios import tasks as task_registry
        from astraios.evaluation import EvalConfig

        base = {"n_samples": self.n_samples, "temperature": self.temperature, "top_p": self.top_p,
                "max_new_tokens": self.max_new_tokens}
        per_task_sampling, per_task_options, task_limits = {}, {}, {}
        # Every task, also those added as another's requirement, gets its settings; a task file's own
        # sampling applies where the section does not set that field itself.
        for name in dict.fromkeys([*task_registry.names(), *self.task_names()]):
            own = {key: value for key, value in task_registry.sampling_defaults(name).items()
                   if key not in self.model_fields_set}
            sampling, options = self.settings_for(name)
            sampling = {**own, **sampling}
            if "limit" in sampling:
                limit = sampling.pop("limit")
                task_limits[name] = None if limit == "all" else limit
            if sampling:
                merged = {**base, **sampling}
                per_task_sampling[name] = Sampling(merged["n_samples"], merged["temperature"], merged["top_p"],
                                                   merged["max_new_tokens"])
            if options:
                per_task_options[name] = options
        return EvalConfig(
            tasks=tasks, output_dir=output_dir, model=model, sampling=self.sampling(), backend=self.backend,
            batch_size=self.batch_size, limit=self.limit, data_dir=self.data_dir, dtype=self.dtype, seed=self.seed,
            workers=self.workers, task_options={"timeout_s": self.timeout_s} if self.timeout_s else {},
            per_task_options=per_task_options, per_task_sampling=per_task_sampling, task_limits=task_limits,
        )

    def describe_tasks(self) -> list[str]:
        """One line per task whose settings differ from the section's own (for the dry run)."""
        lines = []
        for name in self.task_names():
            sampling, options = self.settings_for(name)
            if sampling or options:
                lines.append(f"{name}: " + ", ".join(f"{key} {value}" for key, value in {**sampling, **options}.items()))
        return lines


# ----------------------------------------------------------------------------------------------
# The plan: tasks with data


@dataclass
class EvalPlan:
    """What every cell evaluates: the tasks whose data is present, and why the others are skipped."""

    settings: EvaluationConfig | None
    tasks: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)  # task -> e.g. partial data, said once per grid

    def data_dir(self) -> str | None:
        """The local data directory the tasks read (the grid's, else $ASTRAIOS_DATA_DIR), if any."""
        from astraios.tasks import DATA_DIR_ENV

        return (self.settings.data_dir if self.settings else None) or os.environ.get(DATA_DIR_ENV)


def plan_evaluation(settings: EvaluationConfig | None) -> EvalPlan:
    """Check each task's data once, so a missing dataset is one recorded skip, not 28 failed cells.

    Tasks are probed at once in threads: offline, each Hub lookup spends ~20 s in retries."""
    import logging
    from concurrent.futures import ThreadPoolExecutor

    plan = EvalPlan(settings)
    if settings is None:
        return plan
    names = settings.task_names()
    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)  # the retry warnings repeat what the skip reason says
    try:
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            checks = list(pool.map(lambda name: _data_check(name, settings.data_dir), names))
    finally:
        hub_logger.setLevel(level)
    for name, (problem, warnings) in zip(names, checks):
        if problem:
            plan.skipped[name] = problem
        else:
            plan.tasks.append(name)
            if warnings:
                plan.warnings[name] = warnings
    return plan


def _data_check(task: str, data_dir: str | None) -> tuple[str | None, list[str]]:
    """(why the task cannot run, or None; what qualifies its scores, e.g. partial data)."""
    from astraios import tasks as task_registry
    from astraios.evaluation import task_warnings

    try:
        loaded = task_registry.get(task)
        loaded.documents(data_dir)
    except (FileNotFoundError, ValueError) as error:  # DataNotFoundError, a missing --data-dir, unreadable data
        return str(error), []
    return None, task_warnings({"task_settings": loaded.settings()})


# ----------------------------------------------------------------------------------------------
# Current results and evaluating a cell


def evaluated_tasks(results: dict | None) -> set[str]:
    return {name for name, entry in (results or {}).get("tasks", {}).items() if entry.get("metrics")}


def pending_tasks(run_dir: Path, results: dict | None, evaluation: EvalPlan) -> dict[str, str]:
    """The plan's tasks a cell (its directory and its results.json) still has to evaluate, each with
    why: not yet evaluated, or evaluated with another request than the grid's."""
    from astraios.evaluation import task_request

    done = evaluated_tasks(results)
    config = evaluation.settings.eval_config(evaluation.tasks, Path(run_dir) / EVAL_DIR, str(run_dir))
    pending = {}
    for name in evaluation.tasks:
        if name not in done:
            pending[name] = "not evaluated yet"
            continue
        expected = task_request(config, name)
        changes = request_changes(expected, saved_request(results, name, expected))
        if changes:
            pending[name] = f"evaluated with other settings: {'; '.join(changes)}"
    return pending


def saved_request(results: dict, name: str, expected: dict) -> dict:
    """A task's recorded request; for an entry written before requests were recorded, what the
    grid could set then: the top-level sampling, limit and seed (timeout_s went unrecorded)."""
    entry = results["tasks"][name]
    if "request" in entry:
        return entry["request"]
    from astraios import tasks as task_registry

    settings = results.get("settings", {})
    options = task_registry.accepted_options(name, {"seed": settings.get("seed")})
    if "timeout_s" in expected["options"]:
        options["timeout_s"] = expected["options"]["timeout_s"]
    return {"sampling": {key: settings.get(key) for key in SAMPLING_FIELDS}, "limit": settings.get("limit"),
            "options": options}


def request_changes(expected: dict, saved: dict) -> list[str]:
    """`name (saved -> expected)` for each setting that differs; sampling only for tasks that sample."""
    changes = []
    if expected["sampling"] is not None:
        saved_sampling = saved.get("sampling") or {}
        changes += [f"{key} ({saved_sampling.get(key)!r} -> {value!r})" for key, value in expected["sampling"].items()
                    if saved_sampling.get(key) != value]
    if saved.get("limit") != expected["limit"]:
        changes.append(f"limit ({saved.get('limit')!r} -> {expected['limit']!r})")
    saved_options, options = saved.get("options") or {}, expected["options"]
    changes += [f"{key} ({saved_options.get(key)!r} -> {options.get(key)!r})"
                for key in sorted({*saved_options, *options}) if saved_options.get(key) != options.get(key)]
    if saved.get("task_file") != expected.get("task_file"):
        changes.append("the task file or its problems changed")
    return changes


def evaluate_cell(run_dir: Path, evaluation: EvalPlan, pending: dict[str, str], show_progress: bool) -> None:
    """Evaluate the cell's `pending` tasks (a stale one's entry is replaced)."""
    from astraios.evaluation import evaluate

    if pending:
        evaluate(evaluation.settings.eval_config(list(pending), Path(run_dir) / EVAL_DIR, str(run_dir)),
                 progress=show_progress, warn=False)  # the grid says its data warnings once
