"""The one interface every generation backend implements.

`generate(prompts, n, temperature, top_p, max_new_tokens, stop)` returns, for each prompt, n
completions: the text the model produced after the prompt, cut before the first stop sequence.
Temperature 0 means greedy decoding; its n completions are one completion repeated, generated once.

`loglikelihood([(context, continuation), ...])` returns the summed log-probability of each
continuation given its context (natural log), for scoring tasks that compare answers instead of
generating them.

`loglikelihood_choices([(context, [continuation, ...]), ...])` is optional: the log-likelihood of
each of several continuations of one context, reading the context once (a YES/NO question scored
in one forward pass). `score_choices` uses it where a backend has it and asks pair by pair where not.

`seeds[i][j]` (optional) seeds the generator that draws sample j of prompt i: with it a sample's
text is the same whichever call, batch or run produces it (`sample_seed` derives it from the
evaluation seed, task, document and sample index). Backends that cannot seed a single sample
(a server that ignores `seed`) still take it.

`generate_stream(...)` is optional: the same arguments, yielding (prompt index, completions) as
each prompt's samples are done; the cache then takes all pending prompts in one call and stores
each as it comes (the transformers backend has it: its batch refills from the whole queue).

`stop_when(prompt_index, completion) -> bool` is an optional early-exit test a task may pass (e.g.
"the function's braces have closed"): a backend that can check it while decoding stops that row
early; one that cannot ignores it. It never changes the scored program, because tasks cut their
completions at the same point in post-processing; it only saves decoding time.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

StopWhen = Callable[[int, str], bool]
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class Sampling:
    """Sampling settings of one evaluation; the study's defaults."""

    n: int = 20
    temperature: float = 0.2
    top_p: float = 0.95
    max_new_tokens: int = 512
    seed: int = 0  # with the task, document and sample index, seeds each sample's draws (sample_seed)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"--n-samples must be at least 1, got {self.n}")
        if not (math.isfinite(self.temperature) and self.temperature >= 0):  # nan passes every comparison
            raise ValueError(f"--temperature must be 0 (greedy) or a positive finite number, got {self.temperature}")
        if not (math.isfinite(self.top_p) and 0 < self.top_p <= 1):
            raise ValueError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"--max-new-tokens must be at least 1, got {self.max_new_tokens}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def settings(self) -> dict:
        """The settings under the names results.json and grid configs use."""
        return {"n_samples": self.n, "temperature": self.temperature, "top_p": self.top_p,
                "max_new_tokens": self.max_new_tokens}


@runtime_checkable
class Backend(Protocol):
    name: str
    # Prompts × samples that one `generate` call handles well; the evaluation loop calls it with
    # about this many rows at a time and caches each call's output before the next.
    rows_per_call: int

    def generate(
        self,
        prompts: Sequence[str],
        n: int = 1,
        temperature: float = 0.2,
        top_p: float = 0.95,
        max_new_tokens: int = 512,
        stop: Sequence[str] = (),
        stop_when: StopWhen | None = None,
        seeds: Sequence[Sequence[int]] | None = None,
    ) -> list[list[str]]: ...

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[float]: ...

    def describe(self) -> dict:
        """What produced the generations (model, adapter, dtype, ...), for results.json."""
        ...


def sample_seed(seed: int, task: str, doc_id: str, sample: int) -> int:
    """The generator seed of one sample: a hash of (evaluation seed, task, document, sample index),
    63 bits (any backend's seed type holds it)."""
    digest = hashlib.sha256(json.dumps([seed, task, doc_id, sample]).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to (not including) the earliest occurrence of any stop sequence."""
    end = len(text)
    for sequence in stop:
        if sequence:
            found = text.find(sequence)
            if found != -1:
                end = min(end, found)
    return text[:end]


def score_choices(backend, requests: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
    """For each (context, continuations): the log-likelihood of every continuation given the context,
    from the backend's `loglikelihood_choices` when it has one, else pair by pair."""
    if hasattr(backend, "loglikelihood_choices"):
        return backend.loglikelihood_choices(requests)
    return loglikelihood_pairwise(backend, requests)


def loglikelihood_pairwise(backend, requests: Sequence[tuple[str, Sequence[str]]]) -> list[list[float]]:
    """`score_choices` through `backend.loglikelihood`: one (context, continuation) pair each."""
    flat = backend.loglikelihood([(context, continuation) for context, continuations in requests
                                  for continuation in continuations])
    scores, start = [], 0
    for _, continuations in requests:
        scores.append(flat[start:start + len(continuations)])
        start += len(continuations)
    return scores
