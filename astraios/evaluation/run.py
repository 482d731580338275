"""`astraios eval`: run tasks against a model (or saved generations) and write `results.json`.

For each task, in an order where every task comes after the tasks it needs (explain-synthesize
after explain-describe, which is added automatically when not requested): take predictions from
a saved-generations file if one was given, else generate them through the cache; save them in
the harness's format under `generations/`; score them (unless `--generations-only`); and rewrite
`results.json` atomically, so a crash keeps every finished task. Tasks already in an existing
`results.json` of the same model are kept, so tasks can be evaluated one command at a time.

Concurrent evaluations into one output directory: each holds a lock per task it evaluates
(`astraios.core.locks`), so a second evaluation of the same task there is refused, while evaluations of
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
                      "stderr": {"pass@1": ...}, "ci95": {"pass@1": [low, high]}, "uncertainty",
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
`--generations-only` tasks have empty `metrics` and `"scored": false`. `stderr` and `ci95` hold each
metric's standard error and 95% interval (None where the records cannot give them), `uncertainty`
how they were computed (`astraios.intervals`).
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from dataclasses import replace
from pathlib import Path

from astraios import tasks as task_registry
from astraios.core.io import write_json, write_jsonl
from astraios.core.layout import CACHE_DIR, GENERATIONS_DIR, LOGS_DIR, eval_lock
from astraios.core.locks import exclusive
from astraios.core.progress import counting_bar
from astraios.evaluation.config import EvalConfig, task_request, with_required_dtype
from astraios.evaluation.results import (
    headline,
    save_task,
    start_results,
    task_warnings,
)
from astraios.generate import GenerationCache, create_backend, resolve
from astraios.generate.base import Backend, score_choices
from astraios.intervals import entry_uncertainty
from astraios.tasks.base import read_generations_file


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

        # No sandbox (root without a usable tier; rlimits alone for judged tasks): fail before hours of
        # generation, not after.
        isolation(judged=any(task.judged for task in plan))
    with contextlib.ExitStack() as locks:
        for task in plan:
            locks.enter_context(exclusive(config.output_dir, f"eval of {task.name}", name=eval_lock(task.name)))
        return _evaluate(config, plan, source, backend, progress=progress, console=console, warn=warn)


def _evaluate(config: EvalConfig, plan: list, source, backend: Backend | None, *, progress: bool, console,
              warn: bool) -> dict:
    from rich.console import Console
    from rich.markup import escape

    console = console or Console(stderr=True, quiet=not progress)
    started = time.perf_counter()
    # Sampling, data and saved generations are checked before any model loads.
    for task in plan:
        if task.name not in config.generations:
            task.check_sampling(config.sampling_for(task.name))
    tasks_by_name = {task.name: task for task in plan}
    files = {name: read_generations_file(path, f"--generations {path}") for name, path in config.generations.items()}
    all_documents = {task.name: task.documents(config.data_dir) for task in plan}
    for name, lists in files.items():
        all_documents[name] = tasks_by_name[name].complete_documents(all_documents[name], lists,
                                                                    f"--generations {config.generations[name]}")
    documents = {task.name: task.select(all_documents[task.name], config.limit_for(task.name)) for task in plan}
    given = {name: tasks_by_name[name].from_file(lists, all_documents[name], documents[name],
                                                 f"--generations {config.generations[name]}")
             for name, lists in files.items()}
    to_generate = [task.name for task in plan if task.name not in given]
    config = with_required_dtype(config, [task for task in plan if task.name in to_generate])
    if to_generate and backend is None:
        if source is None:
            raise ValueError(f"nothing to generate with: {', '.join(to_generate)} need --model (or "
                             f"--generations {to_generate[0]}=FILE with saved generations).")
        backend = LazyBackend(config, source, console)
    else:
        _seed(config.seed)
    identity = source.identity() if source else {"backend": backend.describe() if backend else None}
    cache = GenerationCache(config.cache_dir or config.output_dir / CACHE_DIR, identity)
    results = start_results(config, source, backend)
    for task in plan:
        task_started = time.perf_counter()
        task_documents = documents[task.name]
        if task.name in given:
            predictions = given[task.name]
            generations_path = config.generations[task.name]
        else:
            sampling = replace(config.sampling_for(task.name), seed=config.seed)  # one seed for the run: --seed
            predictions = _generate(task, backend, task_documents, sampling, cache, progress)
            generations_path = config.output_dir / GENERATIONS_DIR / f"{task.name}.json"
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
        checks = []  # what recomputing the scores from the per-document records found
        if config.generations_only:
            entry["scored"] = False
        else:
            score = task.score(task_documents, predictions, workers=config.workers, progress=progress)
            if score.logs:
                write_jsonl(config.output_dir / LOGS_DIR / f"{task.name}.jsonl", score.logs)
            entry.update(metrics=score.metrics, per_document=score.per_document, details=score.details)
            uncertainty = entry_uncertainty(entry)
            checks = uncertainty.pop("warnings")
            entry.update(uncertainty)
        finished = time.perf_counter()
        entry.update(seconds=round(finished - task_started, 3), generation_seconds=round(generated - task_started, 3),
                     scoring_seconds=round(finished - generated, 3))
        entry["warnings"] = task_warnings(entry) + checks
        if backend is not None and getattr(backend, "loaded", True) is not None:  # an unloaded model changed nothing
            results["generation"] = backend.describe()
        results["seconds"] = round(time.perf_counter() - started, 3)
        results = save_task(config.output_dir, results, task.name, entry)
        console.print(f"{task.name}: {headline(entry)}")
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

        from astraios.core.hub import hub_errors

        with hub_errors("adapter", source.adapter, "pass a run's final/ directory (e.g. runs/my-run/final)"):
            peft.PeftConfig.from_pretrained(source.adapter, revision=source.revision)


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
                                         concurrency=config.concurrency, seed=config.seed,
                                         announce=lambda line: self.console.print(line, markup=False))
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


def _generate(task, backend, documents, sampling, cache, progress: bool) -> list[list[str]]:
    with counting_bar(remaining=True, disable=not progress) as bar:
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
