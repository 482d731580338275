"""`astraios eval`: run tasks against a model (or saved generations) and write `results.json`.

For each task, in an order where every task comes after the tasks it needs (explain-synthesize
after explain-describe, which is added automatically when not requested): take predictions from
a saved-generations file if one was given, else generate them through the cache; save them in
the harness's format under `generations/`; score them (unless `--generations-only`); and rewrite
`results.json` atomically, so a crash keeps every finished task. Tasks already in an existing
`results.json` of the same model are kept, so tasks can be evaluated one command at a time.

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
                      "task_settings", "generations", "requested"}},
     "versions": {...}, "seconds": ...}
A task that only feeds another (explain-describe) has `primary_metric: null`; with
`--generations-only` tasks have empty `metrics` and `"scored": false`.
"""

from __future__ import annotations

import json
import platform
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from astraios import tasks as task_registry
from astraios.generate import GenerationCache, Sampling, create_backend, resolve
from astraios.generate.base import Backend, score_choices
from astraios.io import write_json, write_jsonl

RESULTS_FILE = "results.json"


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
    task_options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be at least 1, got {self.limit}")
        unknown = [name for name in self.generations if name not in self.tasks]
        if unknown:
            raise ValueError(f"--generations names {', '.join(unknown)}, which is not among --tasks "
                             f"({', '.join(self.tasks)}). Fix: add it to --tasks or drop that file.")

    def settings(self) -> dict:
        return {
            "n_samples": self.sampling.n, "temperature": self.sampling.temperature, "top_p": self.sampling.top_p,
            "max_new_tokens": self.sampling.max_new_tokens, "batch_size": self.batch_size, "limit": self.limit,
            **({"task_limits": dict(self.task_limits)} if self.task_limits else {}),
            "seed": self.seed, "dtype": self.dtype, "device": self.device, "data_dir": self.data_dir,
            "generations_only": self.generations_only, "generations_files": dict(self.generations),
        }


def evaluate(config: EvalConfig, backend: Backend | None = None, *, progress: bool = True, console=None) -> dict:
    """Evaluate `config.tasks`; `backend` replaces loading `config.model` (tests, embedding)."""
    from rich.console import Console

    console = console or Console(stderr=True, quiet=not progress)
    started = time.perf_counter()
    plan = _plan(config)
    source = (resolve(config.model, config.adapter, config.revision, config.trust_remote_code)
              if config.model else None)
    # Data and saved generations are checked before any model loads.
    all_documents = {task.name: task.documents(config.data_dir) for task in plan}
    documents = {task.name: task.select(all_documents[task.name], config.task_limits.get(task.name, config.limit))
                 for task in plan}
    given = {name: _read_generations(path, plan, name, all_documents[name], documents[name])
             for name, path in config.generations.items()}
    to_generate = [task.name for task in plan if task.name not in given]
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
            predictions = _generate(task, backend, task_documents, config.sampling, cache, progress)
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
        results["tasks"][task.name] = entry
        if backend is not None and getattr(backend, "loaded", True) is not None:  # an unloaded model changed nothing
            results["generation"] = backend.describe()
        results["seconds"] = round(time.perf_counter() - started, 3)
        write_json(config.output_dir / RESULTS_FILE, results)
        console.print(f"{task.name}: {_headline(entry)}")
    return results


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
        task = task_registry.get(name, **{"seed": config.seed, **config.task_options})
        if name not in config.generations:
            for required in task.requires:
                add(required)
        ordered[name] = task

    for name in config.tasks:
        add(name)
    return list(ordered.values())


def _read_generations(path: str, plan, name: str, all_documents, documents) -> list[list[str]]:
    task = next(task for task in plan if task.name == name)
    try:
        lists = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"--generations {path}: no such file. Fix: check the path.") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"--generations {path}: not valid JSON ({error}). Fix: pass the file "
                         f"bigcode-evaluation-harness or `astraios eval --generations-only` wrote.") from None
    return task.from_file(lists, all_documents, documents, f"--generations {path}")


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
        previous = json.loads(path.read_text(encoding="utf-8"))
        for key in ("model", "adapter"):
            if previous.get(key) is not None and results[key] is not None and previous[key] != results[key]:
                raise ValueError(f"{path} holds results of {key} {previous[key]!r}, not {results[key]!r}. Fix: pass "
                                 f"another --output directory.")
            results[key] = results[key] if results[key] is not None else previous.get(key)
        results["tasks"] = previous.get("tasks", {})
        results["generation"] = previous.get("generation") or results["generation"]
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


def _headline(entry: dict) -> str:
    if entry.get("scored") is False:
        return f"generated {entry['num_documents']} documents x {entry['n_samples']} samples -> {entry['generations']}"
    metrics = ", ".join(f"{name} {value:.4f}" for name, value in entry["metrics"].items())
    return f"{metrics or 'no metrics'} ({entry['num_documents']} documents, {entry['seconds']:.1f} s)"


def summary_table(results: dict):
    """A rich table of every task's metrics."""
    from rich.table import Table

    metric_names: list[str] = []
    for entry in results["tasks"].values():
        metric_names.extend(name for name in entry["metrics"] if name not in metric_names)
    title = results.get("model") or "saved generations"
    if results.get("adapter"):
        title += f" + {results['adapter']}"
    table = Table(title=f"astraios eval: {title}")
    table.add_column("task", no_wrap=True)
    for name in metric_names:
        table.add_column(name, justify="right")
    classifiers = any("confusion_matrix" in entry.get("details", {}) for entry in results["tasks"].values())
    if classifiers:
        table.add_column("tp/fp/tn/fn", justify="right")
    for column in ("documents", "samples", "seconds"):
        table.add_column(column, justify="right")
    for task, entry in results["tasks"].items():
        cells = []
        for name in metric_names:
            value = entry["metrics"].get(name)
            text = "" if value is None else f"{value:.4f}"
            cells.append(f"[bold]{text}[/]" if name == entry["primary_metric"] else text)
        if classifiers:
            matrix = entry.get("details", {}).get("confusion_matrix")
            cells.append("/".join(str(matrix[key]) for key in ("tp", "fp", "tn", "fn")) if matrix else "")
        table.add_row(task, *cells, str(entry["num_documents"]), str(entry["n_samples"] or "mixed"),
                      f"{entry['seconds']:.1f}")
    return table
