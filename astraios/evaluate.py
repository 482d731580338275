"""`astraios eval`: run tasks against a model (or saved generations) and write `results.json`.

For each task, in an order where every task comes after the tasks it needs (explain-synthesize
after explain-describe, which is added automatically when not requested): take predictions from
a saved-generations file if one was given, else generate them through the cache; save them in
the harness's format under `generations/`; score them (unless `--generations-only`); and rewrite
`results.json` atomically, so a crash keeps every finished task. Tasks already in an existing
`results.json` of the same model are kept, so tasks can be evaluated one command at a time.

Concurrent evaluations into one output directory: each holds a lock per task it evaluates
(`astraios.locks`), so a second evaluation of the same task there is refused, while evaluations of
different tasks run side by side; results.json is re-read and updated under a short lock each time
a task finishes, so each one's tasks are merged in, never overwritten.

Output directory:
    results.json          scores, per-document pass counts, settings, versions, timings
    generations/TASK.json predictions, bigcode-evaluation-harness format
    logs/TASK.jsonl       one execution record per sample (status, reason, stderr tail)
    cache/TASK.jsonl      raw completions keyed by model, settings, document and sample (resume)

results.json:
    {"model", "adapter", "backend", "generation": {backend details}, "settings": {...},
     "tasks": {TASK: {"metrics": {"pass@1": ...}, "primary_metric": "pass@1", "n_samples",
                      "num_documents", "per_document": [{"doc_id", "passed", "n"}, ...],
                      "seconds", "generation_seconds", "scoring_seconds", "details",
                      "task_settings", "generations", "requested",
                      "request": {"sampling", "limit", "options"}}},
     "versions": {...}, "seconds": ...}
`request` is what decided the task's scores besides the model (`task_request`): its sampling (null
for tasks that do not sample), the limit and the options it took; a grid compares it to re-evaluate
exactly the tasks whose settings changed. Sampling, options and the limit can differ per task
(`per_task_sampling`, `per_task_options`, `task_limits`). A task whose protocol needs a dtype (`--protocol study`:
float32) sets `--dtype auto` to it for the whole run and refuses a contradicting `--dtype`.
A task that only feeds another (explain-describe) has `primary_metric: null`; with
`--generations-only` tasks have empty `metrics` and `"scored": false`.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from astraios import tasks as task_registry
from astraios.generate import GenerationCache, Sampling, create_backend, resolve
from astraios.generate.base import Backend, score_choices
from astraios.io import read_json, write_json, write_jsonl
from astraios.locks import exclusive

RESULTS_FILE = "results.json"
RESULTS_LOCK = ".astraios-results.lock"
RESULTS_LOCK_WAIT_S = 120.0  # another evaluation's results.json update takes milliseconds


@dataclass
class EvalConfig:
    tasks: list[str]
    output_dir: Path
    model: str | None = None
    adapter: str | None = None
    sampling: Sampling = field(default_factory=Sampling)
    backend: str = "transformers"
    batch_size: int = 16
    limit: int | None = None
    task_limits: dict[str, int | None] = field(default_factory=dict)  # per task, in place of `limit` (None: all)
    data_dir: str | None = None
    generations: dict[str, str] = field(default_factory=dict)  # task -> saved generations file
    generations_only: bool = False
    dtype: str = "auto"
    device: str = "auto"
    revision: str | None = None
    trust_remote_code: bool = False
    base_url: str | None = None
    concurrency: int = 8
    seed: int = 0
    workers: int | None = None
    cache_dir: Path | None = None
    task_options: dict = field(default_factory=dict)  # options for every task whose constructor takes them
    per_task_options: dict[str, dict] = field(default_factory=dict)  # task -> options on top of task_options
    per_task_sampling: dict[str, Sampling] = field(default_factory=dict)  # task -> sampling instead of `sampling`

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be at least 1, got {self.limit}")
        check_backend_options(self.backend, self.dtype, self.device, self.batch_size, self.model, self.base_url)
        unknown = [name for name in self.generations if name not in self.tasks]
        if unknown:
            raise ValueError(f"--generations names {', '.join(unknown)}, which is not among --tasks "
                             f"({', '.join(self.tasks)}). Fix: add it to --tasks or drop that file.")

    def sampling_for(self, task: str) -> Sampling:
        return self.per_task_sampling.get(task, self.sampling)

    def limit_for(self, task: str) -> int | None:
        return self.task_limits.get(task, self.limit)

    def options_for(self, task: str) -> dict:
        return {"seed": self.seed, **self.task_options, **self.per_task_options.get(task, {})}

    def settings(self) -> dict:
        return {
            **self.sampling.settings(), "batch_size": self.batch_size, "limit": self.limit,
            **({"task_limits": dict(self.task_limits)} if self.task_limits else {}),
            "seed": self.seed, "dtype": self.dtype, "device": self.device, "data_dir": self.data_dir,
            "generations_only": self.generations_only, "generations_files": dict(self.generations),
        }


def check_backend_options(backend: str, dtype: str, device: str, batch_size: int = 1, model: str | None = None,
                          base_url: str | None = None) -> None:
    """Every option a backend reads, checked before any data loads or progress bar is drawn."""
    import difflib
    import importlib.util
    import re

    from astraios.generate import BACKENDS
    from astraios.generate.base import DTYPES
    from astraios.generate.openai_api import BASE_URL_ENV

    for option, value, choices in (("--backend", backend, BACKENDS), ("--dtype", dtype, DTYPES)):
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1)
            guess = f"did you mean {close[0]}? " if close else ""
            raise ValueError(f"{option} {value}: unknown. Fix: {guess}use one of {', '.join(choices)}.")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", device):
        raise ValueError(f"--device {device}: unknown. Fix: use auto, cpu, cuda or cuda:N.")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    if model is None:
        return
    if backend == "openai" and not (base_url or os.environ.get(BASE_URL_ENV)):
        raise ValueError("--backend openai sends prompts to a server. Fix: pass its address, e.g. "
                         "--base-url http://localhost:8000/v1.")
    if backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise ValueError("--backend vllm needs vLLM. Fix: pip install 'astraios[vllm]' (a GPU machine), or use "
                         "--backend transformers.")


def evaluate(config: EvalConfig, backend: Backend | None = None, *, progress: bool = True, console=None,
             warn: bool = True) -> dict:
    """Evaluate `config.tasks`; `backend` replaces loading `config.model` (tests, embedding); `warn`
    prints what qualifies a score (partial data), also without `progress`."""
    plan = _plan(config)
    source = (resolve(config.model, config.adapter, config.revision, config.trust_remote_code)
              if config.model else None)
    if source and backend is None and config.backend != "openai" and set(config.tasks) - set(config.generations):
        check_model(source)  # a mistyped or unreachable model fails now, before any output is made
    if not config.generations_only and any(task.executes_code for task in plan):
        from astraios.sandbox import isolation

        isolation()  # no sandbox (root without a usable tier): fail before hours of generation, not after
    with contextlib.ExitStack() as locks:
        for task in plan:
            locks.enter_context(exclusive(config.output_dir, f"eval of {task.name}",
                                          name=f".astraios-eval-{task.name}.lock"))
        return _evaluate(config, plan, source, backend, progress=progress, console=console, warn=warn)


def _evaluate(config: EvalConfig, plan: list, source, backend: Backend | None, *, progress: bool, console,
              warn: bool) -> dict:
    from rich.console import Console
    from rich.markup import escape

    console = console or Console(stderr=True, quiet=not progress)
    started = time.perf_counter()
    # Data and saved generations are checked before any model loads.
    tasks_by_name = {task.name: task for task in plan}
    files = {name: _read_generations(path) for name, path in config.generations.items()}
    all_documents = {task.name: task.documents(config.data_dir) for task in plan}
    for name, lists in files.items():
        all_documents[name] = tasks_by_name[name].complete_documents(all_documents[name], lists,
                                                                    f"--generations {config.generations[name]}")
    documents = {task.name: task.select(all_documents[task.name], config.limit_for(task.name)) for task in plan}
    given = {name: tasks_by_name[name].from_file(lists, all_documents[name], documents[name],
                                                 f"--generations {config.generations[name]}")
             for name, lists in files.items()}
    to_generate = [task.name for task in plan if task.name not in given]
    config = _with_required_dtype(config, [task for task in plan if task.name in to_generate])
    if to_generate and backend is None:
        if source is None:
            raise ValueError(f"nothing to generate with: {', '.join(to_generate)} need --model (or "
                             f"--generations {to_generate[0]}=FILE with saved generations).")
        backend = LazyBackend(config, source, console)
    else:
        _seed(config.seed)
    identity = source.identity() if source else {"backend": backend.describe() if backend else None}
    cache = GenerationCache(config.cache_dir or config.output_dir / "cache", identity)
    results = _start_results(config, source, backend)
    for task in plan:
        task_started = time.perf_counter()
        task_documents = documents[task.name]
        if task.name in given:
            predictions = given[task.name]
            generations_path = config.generations[task.name]
        else:
            sampling = replace(config.sampling_for(task.name), seed=config.seed)  # one seed for the run: --seed
            predictions = _generate(task, backend, task_documents, sampling, cache, progress)
            generations_path = config.output_dir / "generations" / f"{task.name}.json"
            write_json(generations_path, task.to_file(task_documents, predictions))
        generated = time.perf_counter()
        for dependent in plan:
            if task.name in dependent.requires:
                dependent.use_predictions(task.name, {document["doc_id"]: texts
                                                      for document, texts in zip(task_documents, predictions)})
        entry = {
            "metrics": {}, "primary_metric": task.primary_metric, "n_samples": _samples(predictions),
            "num_documents": len(task_documents), "per_document": [], "generations": str(generations_path),
            "task_settings": task.settings(), "requested": task.name in config.tasks,
            "request": task_request(config, task.name),
        }
        if config.generations_only:
            entry["scored"] = False
        else:
            score = task.score(task_documents, predictions, workers=config.workers, progress=progress)
            if score.logs:
                write_jsonl(config.output_dir / "logs" / f"{task.name}.jsonl", score.logs)
            entry.update(metrics=score.metrics, per_document=score.per_document, details=score.details)
        finished = time.perf_counter()
        entry.update(seconds=round(finished - task_started, 3), generation_seconds=round(generated - task_started, 3),
                     scoring_seconds=round(finished - generated, 3))
        entry["warnings"] = task_warnings(entry)
        if backend is not None and getattr(backend, "loaded", True) is not None:  # an unloaded model changed nothing
            results["generation"] = backend.describe()
        results["seconds"] = round(time.perf_counter() - started, 3)
        results = _save_task(config.output_dir, results, task.name, entry)
        console.print(f"{task.name}: {_headline(entry)}")
        for warning in entry["warnings"] if warn else ():  # shown even with --quiet: they qualify the score
            (Console(stderr=True) if console.quiet else console).print(f"[yellow]warning:[/] {task.name}: {escape(warning)}")
    return results


def check_model(source) -> None:
    """Read the base model's config and a Hub adapter's (no weights): an unknown name or an unreachable
    Hub id fails here, before any data loads."""
    from astraios.models import model_config

    model_config(source.model, source.revision, source.trust_remote_code)
    if source.adapter and not Path(source.adapter).exists():
        import peft

        from astraios.hub import hub_errors

        with hub_errors("adapter", source.adapter, "pass a run's final/ directory (e.g. runs/my-run/final)"):
            peft.PeftConfig.from_pretrained(source.adapter, revision=source.revision)


def task_warnings(entry: dict) -> list[str]:
    """What the reader of a task's score must know (e.g. it was computed on part of the data)."""
    partial = entry.get("task_settings", {}).get("partial_data")
    return [f"partial data: {partial}"] if partial else []


class LazyBackend:
    """Loads the model on first use, so a run whose generations are all cached or given never
    loads it (resuming a finished 15B evaluation takes seconds)."""

    def __init__(self, config: EvalConfig, source, console):
        self.name = config.backend
        self.config = config
        self.source = source
        self.console = console
        self.loaded: Backend | None = None

    def _backend(self) -> Backend:
        if self.loaded is None:
            config = self.config
            self.console.print(f"loading {self.source.label} into the {config.backend} backend")
            self.loaded = create_backend(config.backend, self.source, batch_size=config.batch_size,
                                         dtype=config.dtype, device=config.device, base_url=config.base_url,
                                         concurrency=config.concurrency, seed=config.seed)
            _seed(config.seed)
        return self.loaded

    @property
    def rows_per_call(self) -> int:
        return self._backend().rows_per_call

    def generate(self, *args, **kwargs):
        return self._backend().generate(*args, **kwargs)

    @property
    def generate_stream(self):
        """The loaded backend's `generate_stream`, or None when it has none."""
        return getattr(self._backend(), "generate_stream", None)

    def loglikelihood(self, requests):
        return self._backend().loglikelihood(requests)

    def loglikelihood_choices(self, requests):
        return score_choices(self._backend(), requests)

    @property
    def tokenizer(self):
        """The local tokenizer (None for a remote server): tasks fit long prompts with it."""
        return getattr(self._backend(), "tokenizer", None)

    @property
    def context(self) -> int | None:
        return getattr(self._backend(), "context", None)

    def describe(self) -> dict:
        return self.loaded.describe() if self.loaded else {"backend": self.name, **self.source.describe(),
                                                            "loaded": False}


def _plan(config: EvalConfig) -> list:
    """Task objects in run order: each after the tasks whose predictions it needs."""
    ordered: dict[str, object] = {}

    def add(name: str) -> None:
        if name in ordered:
            return
        task = task_registry.get(name, **config.options_for(name))
        if name not in config.generations:
            for required in task.requires:
                add(required)
        ordered[name] = task

    for name in config.tasks:
        add(name)
    return list(ordered.values())


def _read_generations(path: str) -> list:
    from astraios.tasks.data import open_text

    try:
        with open_text(Path(path)) as handle:  # plain or gzipped (.gz) JSON
            return json.load(handle)
    except FileNotFoundError:
        raise ValueError(f"--generations {path}: no such file. Fix: check the path.") from None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise ValueError(f"--generations {path}: not valid JSON ({error}). Fix: pass the file "
                         f"bigcode-evaluation-harness or `astraios eval --generations-only` wrote.") from None


def task_request(config: EvalConfig, name: str) -> dict:
    """What decides a task's scores besides the model: its sampling (when it samples), the
    --limit, and the options its constructor takes. Recorded in each task's results entry, so a
    grid re-evaluates exactly the tasks whose request changed."""
    task_class, _ = task_registry.REGISTRY[name]
    return {"sampling": config.sampling_for(name).settings() if task_class.uses_sampling else None,
            "limit": config.limit_for(name), "options": task_registry.accepted_options(name, config.options_for(name))}


def _with_required_dtype(config: EvalConfig, generating: list) -> EvalConfig:
    """The config with the dtype the generating tasks need (the study's float32 under --protocol
    study) in place of `auto`; an explicit other dtype is a contradiction worth stopping for."""
    import dataclasses

    required = {task.required_dtype: task.name for task in generating if task.required_dtype}
    if not required:
        return config
    if len(required) > 1:
        raise ValueError(f"tasks need different dtypes ({', '.join(f'{name}: {dtype}' for dtype, name in required.items())}). "
                         f"Fix: evaluate them in separate commands.")
    (dtype, name), = required.items()
    if config.dtype not in ("auto", dtype):
        raise ValueError(f"--dtype {config.dtype}: {name} --protocol study evaluates in {dtype}, as the study did. "
                         f"Fix: drop --dtype (or pass --dtype {dtype}), or use --protocol astraios.")
    return dataclasses.replace(config, dtype=dtype)


def _generate(task, backend, documents, sampling, cache, progress: bool) -> list[list[str]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn()]
    with Progress(*columns, disable=not progress) as bar:
        handle = bar.add_task(f"generating {task.name}", total=task.expected_predictions(documents, sampling))
        return task.predict(backend, documents, sampling, cache, on_progress=lambda count: bar.advance(handle, count))


def _samples(predictions: list[list[str]]) -> int | None:
    counts = {len(texts) for texts in predictions}
    return counts.pop() if len(counts) == 1 else None


def _seed(seed: int) -> None:
    import sys

    random.seed(seed)
    if "torch" in sys.modules:  # only when a local model was loaded; never import torch just for this
        sys.modules["torch"].manual_seed(seed)


def _start_results(config: EvalConfig, source, backend) -> dict:
    """A fresh results record, carrying over the tasks of an existing results.json of the same model."""
    results = {
        "model": source.label if source else None,
        "adapter": source.adapter if source else None,
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
        for key in ("model", "adapter"):
            if previous.get(key) is not None and results[key] is not None and previous[key] != results[key]:
                raise ValueError(f"{path} holds results of {key} {previous[key]!r}, not {results[key]!r}. Fix: pass "
                                 f"another --output directory.")
            results[key] = results[key] if results[key] is not None else previous.get(key)
        results["tasks"] = previous.get("tasks", {})
        results["generation"] = previous.get("generation") or results["generation"]
    return results


def _save_task(output_dir: Path, results: dict, name: str, entry: dict) -> dict:
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


def _headline(entry: dict) -> str:
    if entry.get("scored") is False:
        return f"generated {entry['num_documents']} documents x {entry['n_samples']} samples -> {entry['generations']}"
    metrics = ", ".join(f"{name} {_number(value)}" for name, value in entry["metrics"].items())
    return f"{metrics or 'no metrics'} ({entry['num_documents']} documents, {entry['seconds']:.1f} s)"


def summary_table(results: dict, tasks: list[str] | None = None):
    """A rich table of `tasks` (default: every task in `results`): the primary metric, then documents x
    samples and the other metrics in one compact column. It reads at 80 columns: the last column
    wraps, nothing is cut."""
    from rich import box
    from rich.table import Table

    names = [name for name in (tasks if tasks is not None else results["tasks"]) if name in results["tasks"]]
    title = results.get("model") or "saved generations"
    if results.get("adapter"):
        title += f" + {results['adapter']}"
    seconds = sum(results["tasks"][name].get("seconds", 0.0) for name in names)
    table = Table(title=f"astraios eval: {title}", box=box.SIMPLE_HEAD, pad_edge=False, caption_justify="left",
                  caption=f"{len(names)} task(s), {seconds:.1f} s. details: documents x samples, other metrics; "
                  f"all of them in results.json")
    table.add_column("task", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("details", overflow="fold", min_width=16)
    for name in names:
        entry = results["tasks"][name]
        primary = entry.get("primary_metric")
        metrics = entry.get("metrics", {})
        score = f"[bold]{primary} {metrics[primary]:.4f}[/]" if metrics.get(primary) is not None else "-"
        details = [f"{entry['num_documents']}x{entry['n_samples'] or 'mixed'}"]
        details += [f"{metric} {_number(value)}" for metric, value in metrics.items() if metric != primary]
        matrix = entry.get("details", {}).get("confusion_matrix")
        if matrix:
            details.append("tp/fp/tn/fn " + "/".join(str(matrix[key]) for key in ("tp", "fp", "tn", "fn")))
        if entry.get("scored") is False:
            details.append("not scored (--generations-only)")
        table.add_row(name, score, ", ".join(details))
    return table
