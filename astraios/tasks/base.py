"""The task protocol: load documents, turn a model into predictions, score predictions.

A `Task` knows its documents (each a dict with a unique `doc_id` and its position `index` in the
full dataset), how to `select` the evaluated subset (`--limit`), how to `predict` with a backend,
and how to `score` predictions: one list of strings per document. For code tasks the strings are
whole post-processed programs, exactly the bigcode-evaluation-harness "generations" format, so a
harness file can be scored in place of `predict` (`--generations FILE`) and ours can be scored by
the harness.

`GenerationTask` is the common case: a prompt per document (and sample), stop sequences, an
optional early-exit test, and post-processing from raw completion to prediction; its `predict`
goes through the generation cache. A task that scores differently (e.g. comparing the
log-likelihoods of fixed answers) overrides `predict` and uses `backend.loglikelihood`.

A task may need another task's predictions first (explain-synthesize rebuilds code from the
explanations explain-describe wrote): it lists it in `requires` and receives its predictions
through `use_predictions` before `predict` is called.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from astraios.generate.base import Backend, Sampling
from astraios.generate.cache import GenerationCache, Request, cached_generate
from astraios.tasks.harness import window_budget


@dataclass
class TaskScore:
    """What scoring a task produced.

    metrics: the task's scores (e.g. {"pass@1": 0.31, "pass@10": 0.52}).
    per_document: one dict per document, with at least `doc_id`, and for execution tasks `passed`
        (samples that passed) and `n` (samples).
    details: counts that explain the scores (statuses, unique programs executed, isolation tier).
    logs: one record per sample (status, reason, output tail), written beside results.json.
    """

    metrics: dict[str, float]
    per_document: list[dict]
    details: dict = field(default_factory=dict)
    logs: list[dict] = field(default_factory=list)


class Task(ABC):
    name: str
    description: str  # one line, for `astraios tasks`
    primary_metric: str | None  # the score tables rank by; None when the task only feeds another
    language: str
    requires: tuple[str, ...] = ()
    uses_sampling = True  # False: predictions ignore --n-samples/--temperature (e.g. greedy YES/NO answers)
    required_dtype: str | None = None  # a dtype the task's protocol needs (e.g. the study's float32)
    executes_code = False  # True: scored by running (or compiling) the predictions in the sandbox
    judged = False  # True: scored by tests run against the predictions (the sandbox's judged runs)

    @abstractmethod
    def documents(self, data_dir: str | Path | None = None) -> list[dict]:
        """Every document of the task's dataset, each with `doc_id` and `index`."""

    def complete_documents(self, documents: list[dict], lists: list, source: str) -> list[dict]:
        """The documents, completed with what a saved-generations file knows that the data lacks
        (e.g. the labels of a whole split the local data only samples); most tasks: unchanged."""
        return documents

    def select(self, documents: list[dict], limit: int | None) -> list[dict]:
        """The documents to evaluate: the first `limit` (all when None)."""
        return documents if limit is None else documents[:limit]

    @abstractmethod
    def predict(self, backend: Backend | None, documents: list[dict], sampling: Sampling, cache: GenerationCache,
                on_progress: Callable[[int], None] | None = None) -> list[list[str]]:
        """One list of predictions per document."""

    def check_sampling(self, sampling: Sampling) -> None:
        """Refuse sampling the task's protocol rules out (checked before any model loads); most
        tasks take any."""

    def expected_predictions(self, documents: list[dict], sampling: Sampling) -> int:
        """How many predictions `predict` makes in all (for the progress bar)."""
        return len(documents) * sampling.n

    @abstractmethod
    def score(self, documents: list[dict], predictions: list[list[str]], *, workers: int | None = None,
              progress: bool = True) -> TaskScore:
        """Score predictions against the documents."""

    def use_predictions(self, task: str, predictions: dict[str, list[str]]) -> None:
        """Receive the predictions (by doc_id) of a task named in `requires`."""
        raise NotImplementedError(f"{self.name} does not use the predictions of {task}")

    def to_file(self, documents: list[dict], predictions: list[list[str]]) -> list[list[str]]:
        """Predictions in the harness's saved-generations layout."""
        return predictions

    def from_file(self, lists: list, all_documents: list[dict], documents: list[dict], source: str) -> list[list[str]]:
        """Predictions for `documents` from a saved-generations file made for the whole dataset or
        for exactly these documents."""
        check_generations_file(lists, source)
        if len(lists) == len(all_documents):
            return [list(lists[document["index"]]) for document in documents]
        if len(lists) == len(documents):
            return [list(entry) for entry in lists]
        raise ValueError(f"{source} holds {len(lists)} entries but {self.name} has {len(all_documents)} documents "
                         f"({len(documents)} selected). Fix: pass the generations file written for this task, with "
                         f"the same --limit.")

    def settings(self) -> dict:
        """Task options that affect scores, recorded in results.json."""
        return {}


class GenerationTask(Task):
    stop_sequences: tuple[str, ...] = ()
    # Tokens that prompt and completion share, as the study's harness counted them (its
    # --max_length_generation); None: `--max-new-tokens` new tokens after any prompt.
    window: int | None = None
    protocol = "astraios"

    @abstractmethod
    def prompt(self, document: dict, sample: int = 0) -> str:
        """The prompt for one sample of a document (most tasks use the same for every sample)."""

    @abstractmethod
    def postprocess(self, document: dict, completion: str) -> str:
        """The prediction made from a raw completion (the text after the prompt)."""

    def is_complete(self, document: dict, completion: str) -> bool:  # noqa: ARG002
        """Whether decoding can stop early: post-processing would discard everything after this."""
        return False

    def predict(self, backend, documents, sampling, cache, on_progress=None):
        # Greedy samples of one prompt are one completion: all use sample index 0 (one cache key).
        requests = [Request(index, document["doc_id"], self.prompt(document, sample), 0 if sampling.greedy else sample)
                    for index, document in enumerate(documents) for sample in range(sampling.n)]
        completions = self.generate(backend, cache, requests, sampling,
                                    stop_when=lambda index, text: self.is_complete(documents[index], text),
                                    on_progress=on_progress)
        predictions: list[list[str]] = [[] for _ in documents]
        for request, completion in zip(requests, completions):
            predictions[request.doc_index].append(self.postprocess(documents[request.doc_index], completion))
        return predictions

    def generate(self, backend, cache, requests, sampling, stop_when=None, on_progress=None) -> list[str]:
        """The raw completion of each request, through the cache. With a `window`, each prompt gets
        the new tokens the window leaves it, and the completions are cached apart (`TASK-study`)."""
        if self.window is None:
            return cached_generate(backend, cache, self.name, requests, sampling, self.stop_sequences,
                                   stop_when=stop_when, on_progress=on_progress)
        return cached_generate(backend, cache, f"{self.name}-{self.protocol}", requests,
                               replace(sampling, max_new_tokens=self.window), self.stop_sequences,
                               stop_when=stop_when, on_progress=on_progress,
                               budget=window_budget(backend, self.window, self.name))


def read_generations_file(path: str | Path, label: str | None = None) -> list:
    """A saved-generations file, plain or gzipped (.gz) JSON; a missing or unreadable file is a
    ValueError naming `label` (default: the path) and the fix."""
    from astraios.tasks.data import open_text

    label = label or str(path)
    try:
        with open_text(Path(path)) as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ValueError(f"{label}: no such file. Fix: check the path.") from None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise ValueError(f"{label}: not valid JSON ({error}). Fix: pass the file "
                         f"bigcode-evaluation-harness or `astraios eval --generations-only` wrote.") from None


def check_generations_file(lists, source: str) -> None:
    if not isinstance(lists, list) or not all(
        isinstance(entry, list) and all(isinstance(item, str) for item in entry) for entry in lists
    ):
        raise ValueError(f"{source}: expected a JSON list with one list of strings per document (the "
                         f"bigcode-evaluation-harness generations format).")
