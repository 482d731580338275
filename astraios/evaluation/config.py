"""What one evaluation is asked to do (`EvalConfig`, built by `astraios eval` or a grid cell) and
what decides a task's scores besides the model (`task_request`, recorded in results.json so that a
grid re-evaluates exactly the tasks whose request changed)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from astraios import tasks as task_registry
from astraios.generate import Sampling
from astraios.generate.batch_size import parse_batch_size

TASK_FILE_SAMPLING = {"n_samples": "n", "temperature": "temperature"}  # a task file's names -> Sampling's


@dataclass
class EvalConfig:
    tasks: list[str]
    output_dir: Path
    model: str | None = None
    adapter: str | None = None
    sampling: Sampling = field(default_factory=Sampling)
    backend: str = "transformers"
    batch_size: int | str = 16  # rows decoded at once, or "auto" (astraios.generate.batch_size)
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
        self.batch_size = parse_batch_size(self.batch_size)  # the command line's "16" is 16
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


def check_backend_options(backend: str, dtype: str, device: str, batch_size: int | str = 1, model: str | None = None,
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
    parse_batch_size(batch_size)
    if model is None:
        return
    if backend == "openai" and not (base_url or os.environ.get(BASE_URL_ENV)):
        raise ValueError("--backend openai sends prompts to a server. Fix: pass its address, e.g. "
                         "--base-url http://localhost:8000/v1.")
    if backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise ValueError("--backend vllm needs vLLM. Fix: pip install 'astraios[vllm]' (a GPU machine), or use "
                         "--backend transformers.")


def task_request(config: EvalConfig, name: str) -> dict:
    """What decides a task's scores besides the model: its sampling (when it samples), the
    --limit, the options its constructor takes, and for a task file the sha256 of it and its
    problems. Recorded in each task's results entry, so a grid re-evaluates exactly the tasks
    whose request changed."""
    task_class, _ = task_registry.entry(name)
    request = {"sampling": config.sampling_for(name).settings() if task_class.uses_sampling else None,
               "limit": config.limit_for(name), "options": task_registry.accepted_options(name, config.options_for(name))}
    fingerprint = task_registry.fingerprint(name)
    return {**request, "task_file": fingerprint} if fingerprint else request


def task_file_sampling(names: list[str], sampling: Sampling, given: set[str]) -> dict[str, Sampling]:
    """The sampling of the tasks among `names` whose task file asks for its own (n_samples,
    temperature): `sampling` with the file's values, except for the settings in `given` (set by
    the user for the whole run, which wins)."""
    found = {}
    for name in names:
        wanted = {key: value for key, value in task_registry.sampling_defaults(name).items() if key not in given}
        if wanted:
            found[name] = replace(sampling, **{TASK_FILE_SAMPLING[key]: value for key, value in wanted.items()})
    return found


def required_dtype(dtype: str, tasks: list, spell=lambda name, value: f"--{name} {value}") -> str:
    """The dtype an evaluation of `tasks` runs in: `dtype`, or, in place of `auto`, the one their protocol
    needs (the study's float32 under `protocol: study`). Tasks that need different dtypes, or an explicit
    other dtype, are a contradiction worth stopping for; `spell(name, value)` writes a setting the way the
    user gave it (a flag by default; a grid spells its YAML fields)."""
    required = {task.required_dtype: task.name for task in tasks if task.required_dtype}
    if not required:
        return dtype
    if len(required) > 1:
        raise ValueError(f"tasks need different dtypes ({', '.join(f'{name}: {needed}' for needed, name in required.items())}). "
                         f"Fix: evaluate them separately.")
    (needed, name), = required.items()
    if dtype not in ("auto", needed):
        raise ValueError(f"{spell('dtype', dtype)}: {name} {spell('protocol', 'study')} evaluates in {needed}, as the "
                         f"study did. Fix: set {spell('dtype', 'auto')} or {spell('dtype', needed)}, or use "
                         f"{spell('protocol', 'astraios')}.")
    return needed


def with_required_dtype(config: EvalConfig, generating: list) -> EvalConfig:
    """The config with the dtype its generating tasks need (`required_dtype`)."""
    return replace(config, dtype=required_dtype(config.dtype, generating))
