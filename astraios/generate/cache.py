"""The generation cache: every completion is appended to a jsonl file the moment its batch is done,
so an interrupted evaluation resumes where it stopped and a finished one is never regenerated.

One file per task (`<cache dir>/<task>.jsonl`). A record's key is a hash of everything that
determines the completion's distribution: the model identity (base model, revision, content
fingerprint of the adapter or fine-tuned weights), the task, the document, a hash of the exact
prompt, the sampling settings (temperature, top_p, max_new_tokens, stop sequences, and the seed when
sampling) and the sample index. Each sample is drawn with its own seed (`base.sample_seed`: the
evaluation seed, task, document and sample index), so a run resumed after a kill generates the
missing samples exactly as an uninterrupted run would have. The number of samples is not in the key, so raising --n-samples from 10 to 20 generates
only samples 10-19. Greedy decoding has one distinct sample per prompt (index 0), generated once
however many samples use it. The raw
completion is stored, not the post-processed program, so fixing post-processing never needs new
generations.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from astraios.core.io import CorruptFileError, append_jsonl, read_jsonl
from astraios.generate.base import Backend, Sampling, sample_seed


@dataclass(frozen=True)
class Request:
    """One completion to produce: sample `sample` of document `doc_index` from `prompt`."""

    doc_index: int
    doc_id: str
    prompt: str
    sample: int


class GenerationCache:
    def __init__(self, directory: str | Path, identity: dict):
        self.directory = Path(directory)
        self.identity = identity
        self._loaded: dict[str, dict[str, str]] = {}

    def path(self, task: str) -> Path:
        return self.directory / f"{task}.jsonl"

    def key(self, task: str, request: Request, sampling: Sampling, stop: Sequence[str]) -> str:
        material = {
            **self.identity,
            "task": task,
            "doc_id": request.doc_id,
            # surrogatepass: a prompt built from saved text may hold a lone surrogate; it still needs a key
            "prompt": hashlib.sha256(request.prompt.encode("utf-8", "surrogatepass")).hexdigest(),
            "temperature": sampling.temperature,
            "top_p": None if sampling.greedy else sampling.top_p,
            "max_new_tokens": sampling.max_new_tokens,
            "stop": list(stop),
            "sample": request.sample,
        }
        if not sampling.greedy:
            material["seed"] = sampling.seed
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    def completions(self, task: str) -> dict[str, str]:
        """key -> completion for everything cached for `task`."""
        if task not in self._loaded:
            path = self.path(task)
            records = read_jsonl(path) if path.is_file() else []  # a bad line raises an error naming the file
            try:
                self._loaded[task] = {record["key"]: record["completion"] for record in records}
            except (KeyError, TypeError):
                raise CorruptFileError(f"{path}: a record lacks its key or completion, so this is not a generation "
                                       f"cache. Fix: delete it (its completions are generated again).") from None
        return self._loaded[task]

    def add(self, task: str, key: str, request: Request, completion: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        append_jsonl(self.path(task), {"key": key, "doc_id": request.doc_id, "sample": request.sample,
                                       "completion": completion})
        self.completions(task)[key] = completion


def cached_generate(
    backend: Backend | None,
    cache: GenerationCache,
    task: str,
    requests: Sequence[Request],
    sampling: Sampling,
    stop: Sequence[str],
    stop_when: Callable[[int, str], bool] | None = None,
    on_progress: Callable[[int], None] | None = None,
    budget: Callable[[str], int] | None = None,
) -> list[str]:
    """The completion of every request, generating (and caching) only those not cached yet.

    Requests with equal keys (greedy samples of one prompt all use sample index 0) are generated
    once. `stop_when(doc_index, text)` is the task's early-exit test. `on_progress(k)` is called as
    k more requests have their completion (the cached ones first, all at once). `budget(prompt)`:
    the new tokens of a prompt, in place of `sampling.max_new_tokens`, which then stands for the
    rule in the key (a window shared by prompt and completion); asked only of prompts to generate.
    """
    keys = [cache.key(task, request, sampling, stop) for request in requests]
    known = cache.completions(task)
    sharing = Counter(keys)
    # Keys still to generate, grouped by prompt: samples of one prompt share generate() rows.
    pending: dict[str, list[str]] = {}
    first_request: dict[str, Request] = {}
    for request, key in zip(requests, keys):
        if key not in known and key not in first_request:
            first_request[key] = request
            pending.setdefault(request.prompt, []).append(key)
    if on_progress:
        on_progress(len(requests) - sum(sharing[key] for key in first_request))
    if pending and backend is None:
        raise ValueError(f"{task}: {len(first_request)} generations are neither cached nor given, and no model was "
                         f"loaded. Fix: pass --model.")
    # Calls take prompts needing the same number of samples and of new tokens (one `n` and one
    # `max_new_tokens` per call), longest prompts first: all of them when the backend streams (each
    # prompt is cached as soon as it is done), else about `rows_per_call` rows per call, each call
    # cached before the next.
    by_count: dict[tuple[int, int], list[str]] = {}
    for prompt, prompt_keys in pending.items():
        tokens = budget(prompt) if budget else sampling.max_new_tokens
        by_count.setdefault((len(prompt_keys), tokens), []).append(prompt)
    stream = getattr(backend, "generate_stream", None) if pending else None
    for (count, tokens), prompts in by_count.items():
        prompts.sort(key=len, reverse=True)
        per_call = len(prompts) if stream else max(1, backend.rows_per_call // count)
        for start in range(0, len(prompts), per_call):
            call = prompts[start:start + per_call]
            doc_of_row = [first_request[pending[prompt][0]].doc_index for prompt in call]
            seeds = [[sample_seed(sampling.seed, task, first_request[key].doc_id, first_request[key].sample)
                      for key in pending[prompt]] for prompt in call]
            settings = {"n": count, "temperature": sampling.temperature, "top_p": sampling.top_p,
                        "max_new_tokens": tokens, "stop": stop, "seeds": seeds,
                        "stop_when": (lambda row, text: stop_when(doc_of_row[row], text)) if stop_when else None}
            results = stream(call, **settings) if stream else enumerate(backend.generate(call, **settings))
            for row, completions in results:
                prompt = call[row]
                for key, completion in zip(pending[prompt], completions):
                    cache.add(task, key, first_request[key], completion)
                if on_progress:
                    on_progress(sum(sharing[key] for key in pending[prompt]))
    return [known[key] for key in keys]
