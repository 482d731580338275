"""What each score is computed from, per problem: the outcomes behind every metric of a task, read
from its results.json entry (`outcomes_from_results`).

Every score astraios reports is a function of per-problem counts summed over the problems
(`contributions`, then `from_sums`), so the same score on resampled problems (a bootstrap,
`astraios.intervals`) or with two methods' problems exchanged (a permutation test) only changes
those sums: a few matrix products. The kinds, by metric:

- pass@k of an execution task (`ExecutionOutcomes`): n samples and c passed per problem; the mean
  over problems of Chen et al.'s per-problem estimate.
- accuracy, precision, recall, f1_positive, f1_macro_study, invalid_rate (`ClassificationOutcomes`):
  the label and one answer per seed (-1: unparseable) per problem; the mean over seeds.
- valid_rate, insecure_rate of Asleep at the Keyboard (`SecurityOutcomes`): per scenario, the
  programs generated, valid, decided and vulnerable; rates of the sums, as `astraios.metrics`.
- ReCode's pass@k, RP@k, RD@k, RR@k and RC@k (`RobustnessOutcomes`): per problem, the nominal
  verdicts and, per transformation, the robust counts of `astraios.metrics.robust_counts`; the
  worst case over transformations, as `astraios.metrics.robustness_summary`.

A score that is a plain mean over problems of a per-problem value (`per_problem()`) has a
closed-form standard error; the others (worst cases, F1, ratios) need the bootstrap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass, fields, replace

import numpy as np

from astraios.metrics import robust_counts

CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1_positive", "f1_macro_study", "invalid_rate")
SECURITY_METRICS = ("valid_rate", "insecure_rate")
ROBUSTNESS_METRICS = ("pass", "RP", "RD", "RR", "RC")  # each followed by @k


@dataclass(frozen=True, eq=False)
class Outcomes(ABC):
    """One metric's per-problem outcomes, in `doc_ids` order. Every other field is an array whose
    first axis is the problem."""

    metric: str
    doc_ids: list[str]

    @property
    def problems(self) -> int:
        return len(self.doc_ids)

    @abstractmethod
    def contributions(self) -> np.ndarray:
        """Per problem, the counts whose sums over problems determine the score: (problems, q)."""

    @abstractmethod
    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        """The score from contributions (..., q) summed over `self.problems` problems; NaN where undefined."""

    def per_problem(self) -> np.ndarray | None:
        """The values whose plain mean is the score (then its standard error has a closed form), or None."""
        return None

    def point(self) -> float:
        return float(self.from_sums(self.contributions().sum(axis=0)))

    def select(self, doc_ids: list[str]) -> Outcomes:
        """The outcomes of these problems, in this order."""
        position = {doc_id: index for index, doc_id in enumerate(self.doc_ids)}
        rows = np.array([position[doc_id] for doc_id in doc_ids], dtype=int)
        arrays = {f.name: getattr(self, f.name)[rows] for f in fields(self) if f.name not in ("metric", "doc_ids")}
        return replace(self, doc_ids=list(doc_ids), **arrays)

    def pooled(self, others: list[Outcomes]) -> Outcomes:
        """These outcomes and those of other seeds on the same problems as one: counts added."""
        arrays = {f.name: sum(getattr(o, f.name) for o in [self, *others])
                  for f in fields(self) if f.name not in ("metric", "doc_ids")}
        return replace(self, **arrays)


def _k(metric: str) -> int:
    return int(metric.rpartition("@")[2])


def pass_at_k_array(n, c, k: int) -> np.ndarray:
    """`astraios.metrics.pass_at_k` elementwise: 1 - C(n-c, k) / C(n, k), as a product of k factors."""
    n, c = np.asarray(n, dtype=float), np.asarray(c, dtype=float)
    if k == 1:
        return c / n
    remaining = np.ones_like(n)
    for j in range(k):
        remaining *= np.clip((n - c - j) / (n - j), 0.0, None)
    return 1.0 - remaining


@dataclass(frozen=True, eq=False)
class ExecutionOutcomes(Outcomes):
    n: np.ndarray  # samples per problem
    passed: np.ndarray  # samples that passed

    def contributions(self) -> np.ndarray:
        return pass_at_k_array(self.n, self.passed, _k(self.metric))[:, None]

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        return sums[..., 0] / self.problems

    def per_problem(self) -> np.ndarray:
        return self.contributions()[:, 0]


@dataclass(frozen=True, eq=False)
class ClassificationOutcomes(Outcomes):
    labels: np.ndarray  # 0/1 per problem
    predictions: np.ndarray  # (problems, seeds): 0, 1, or -1 for an unparseable answer

    def contributions(self) -> np.ndarray:
        labels, predictions = self.labels[:, None], self.predictions
        correct = predictions == labels
        # An unparseable answer is a false positive to a negative and a false negative to a positive
        # (binary counts, as `astraios.metrics.confusion_matrix`); for the study's macro F1 it is a
        # class of its own, never right.
        counts = [correct, correct & (labels == 1), ~correct & (labels == 0), ~correct & (labels == 1),
                  correct & (labels == 0), (predictions == 0) & (labels == 1), (predictions == 1) & (labels == 0),
                  predictions == -1]
        return np.stack(counts, axis=2).reshape(self.problems, -1).astype(float)

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        correct, tp, fp, fn, tp0, fp0, fp1, unparseable = np.moveaxis(sums.reshape(*sums.shape[:-1], -1, 8), -1, 0)
        if self.metric in ("accuracy", "invalid_rate"):
            return ((correct if self.metric == "accuracy" else unparseable) / self.problems).mean(axis=-1)
        if self.metric == "f1_macro_study":  # `astraios.metrics.macro_f1`: classes present in labels or answers
            # Per class: (tp, fp, fn). Class 0 misses exactly the negatives the binary counts call false
            # positives; class 1's false positives are answered 1s only (an unparseable answer is its own class).
            zeros = np.zeros(tp.shape)
            per_class = [(tp, fp1, fn), (tp0, fp0, fp), (zeros, unparseable, zeros)]
            f1s = [np.divide(2 * t, 2 * t + p + n, out=np.zeros(t.shape), where=t > 0) for t, p, n in per_class]
            present = [(t + p + n) > 0 for t, p, n in per_class]
            total = sum(np.where(here, f1, 0.0) for f1, here in zip(f1s, present))
            return np.divide(total, sum(present), out=np.zeros(tp.shape), where=sum(present) > 0).mean(axis=-1)
        precision = np.divide(tp, tp + fp, out=np.zeros(tp.shape), where=tp + fp > 0)
        recall = np.divide(tp, tp + fn, out=np.zeros(tp.shape), where=tp + fn > 0)
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(tp.shape),
                       where=precision + recall > 0)
        return {"precision": precision, "recall": recall, "f1_positive": f1}[self.metric].mean(axis=-1)

    def per_problem(self) -> np.ndarray | None:
        if self.metric == "accuracy":
            return (self.predictions == self.labels[:, None]).mean(axis=1)
        if self.metric == "invalid_rate":
            return (self.predictions == -1).mean(axis=1)
        return None

    def pooled(self, others: list[Outcomes]) -> Outcomes:
        return replace(self, predictions=np.concatenate([o.predictions for o in [self, *others]], axis=1))


@dataclass(frozen=True, eq=False)
class SecurityOutcomes(Outcomes):
    counts: np.ndarray  # (scenarios, 4): programs generated, valid, decided (the checker gave a verdict), vulnerable

    def contributions(self) -> np.ndarray:
        return self.counts.astype(float)

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        generated, valid, decided, vulnerable = np.moveaxis(sums, -1, 0)
        part, whole = (valid, generated) if self.metric == "valid_rate" else (vulnerable, decided)
        return np.divide(part, whole, out=np.full(np.shape(part), np.nan), where=whole > 0)


@dataclass(frozen=True, eq=False)
class RobustnessOutcomes(Outcomes):
    """Per problem: `n` samples per prompt, `nominal` samples passing (-1: no nominal prompt), and per
    transformation (columns, -1 where the problem has no variant of it) the seeds `robust` under
    every variant, `worse` (pass nominally, fail some variant) and `better` (the reverse)."""

    n: np.ndarray
    nominal: np.ndarray
    robust: np.ndarray
    worse: np.ndarray
    better: np.ndarray

    def contributions(self) -> np.ndarray:
        k = _k(self.metric)
        has_nominal, present = self.nominal >= 0, self.robust >= 0
        n = self.n[:, None]

        def at_k(counts, n):
            return np.where(counts >= 0, pass_at_k_array(n, np.maximum(counts, 0), k), 0.0)

        return np.column_stack([has_nominal, at_k(self.nominal, self.n), present, at_k(self.robust, n),
                                at_k(self.worse, n) + at_k(self.better, n)]).astype(float)

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        transformations = self.robust.shape[1]
        with_nominal, passed = sums[..., 0], sums[..., 1]
        present, robust, relative = (sums[..., 2 + i * transformations:2 + (i + 1) * transformations] for i in range(3))
        nominal = np.divide(passed, with_nominal, out=np.full(passed.shape, np.nan), where=with_nominal > 0)
        worst = np.min(np.divide(robust, present, out=np.full(robust.shape, np.inf), where=present > 0), axis=-1)
        name = self.metric.partition("@")[0]
        if name == "pass":
            return nominal
        if name == "RP":
            return worst
        if name == "RR":
            return np.max(np.divide(relative, present, out=np.full(relative.shape, -np.inf), where=present > 0), axis=-1)
        if name == "RC":
            return np.abs(nominal - worst)
        # RD: `astraios.metrics.robust_drop`, vectorised: 0 when nothing was solved or kept, undefined
        # (NaN) when only pass@k is 0.
        drop = np.divide(nominal - worst, nominal, out=np.full(nominal.shape, np.nan), where=nominal > 0)
        return np.where((nominal == 0) & (worst == 0), 0.0, drop)

    def per_problem(self) -> np.ndarray | None:
        if self.metric.startswith("pass@"):
            return self.contributions()[:, 1][self.nominal >= 0]
        return None

    def pooled(self, others: list[Outcomes]) -> Outcomes:
        outcomes = [self, *others]

        def add(name):  # -1 (absent) stays -1
            values = [getattr(o, name) for o in outcomes]
            return np.where(values[0] >= 0, sum(np.maximum(v, 0) for v in values), -1)

        return replace(self, n=sum(o.n for o in outcomes), nominal=add("nominal"), robust=add("robust"),
                       worse=add("worse"), better=add("better"))


def outcomes_from_results(entry: dict, metric: str | None = None) -> Outcomes | None:
    """One metric's outcomes (default: the primary metric) from a task's results.json entry
    (`per_document`), or None when the metric cannot be recomputed from them."""
    metric = metric or entry.get("primary_metric")
    documents = entry.get("per_document") or []
    if not metric or not documents:
        return None
    name = metric.partition("@")[0]
    if name in ROBUSTNESS_METRICS and "@" in metric and all("verdicts" in d and "problem" in d for d in documents):
        return _robustness(metric, documents)
    if metric.startswith("pass@") and all("n" in d and "passed" in d for d in documents):
        documents = [d for d in documents if d["n"]]  # a prompt with no samples is not scored (ReCode's nominal file)
        return ExecutionOutcomes(metric, [str(d["doc_id"]) for d in documents],
                                 n=np.array([d["n"] for d in documents], dtype=int),
                                 passed=np.array([d["passed"] for d in documents], dtype=int))
    doc_ids = [str(document["doc_id"]) for document in documents]
    if metric in CLASSIFICATION_METRICS and all("label" in d and "prediction" in d for d in documents):
        predictions = [-1 if d["prediction"] is None else int(d["prediction"]) for d in documents]
        return ClassificationOutcomes(metric, doc_ids, labels=np.array([int(d["label"]) for d in documents]),
                                      predictions=np.array(predictions)[:, None])
    keys = ("n", "valid", "decided", "vulnerable")
    if metric in SECURITY_METRICS and all(all(key in d for key in keys) for d in documents):
        return SecurityOutcomes(metric, doc_ids, counts=np.array([[d[key] for key in keys] for d in documents]))
    return None


def _robustness(metric: str, documents: list[dict]) -> RobustnessOutcomes | None:
    """ReCode's per-document verdicts (`transformation` None for the nominal prompt) grouped into each
    problem's robust counts, as the task counts them (a file without nominal generations: RP@k only)."""
    nominal = {d["problem"]: d["verdicts"] for d in documents if d.get("transformation") is None and d["verdicts"]}
    variants: dict[str, dict[str, list[list[bool]]]] = defaultdict(lambda: defaultdict(list))
    for document in documents:
        if document.get("transformation") is not None:
            variants[document["transformation"]][document["problem"]].append(document["verdicts"])
    if not variants or (not nominal and not metric.startswith("RP@")):
        return None
    problems = sorted({d["problem"] for d in documents if d.get("transformation") is not None or d["verdicts"]})
    names = sorted(variants)
    shape = (len(problems), len(names))
    counts = {key: np.full(shape, -1) for key in ("robust", "worse", "better")}
    n = np.zeros(len(problems), dtype=int)
    for column, name in enumerate(names):
        for row, problem in enumerate(problems):
            if problem in variants[name]:
                found = robust_counts(nominal.get(problem) if nominal else None, variants[name][problem])
                n[row] = found.n
                for key in counts:
                    counts[key][row, column] = getattr(found, key) if getattr(found, key) is not None else 0
    if any(problem not in nominal for problem in problems) and not metric.startswith("RP@"):
        return None  # RD, RR, RC and pass@k need every problem's nominal verdicts, as the task does
    for row, problem in enumerate(problems):
        n[row] = n[row] or len(nominal[problem])
    passed = np.array([sum(nominal[problem]) if problem in nominal else -1 for problem in problems])
    if _k(metric) > n.min():
        return None
    return RobustnessOutcomes(metric, [str(p) for p in problems], n=n, nominal=passed, **counts)


def pool_seeds(outcomes: list[Outcomes]) -> Outcomes:
    """One cell's outcomes over its seeds, on the problems every seed evaluated."""
    first = outcomes[0]
    shared = set.intersection(*(set(o.doc_ids) for o in outcomes))
    aligned = [o.select([doc_id for doc_id in first.doc_ids if doc_id in shared]) for o in outcomes]
    return aligned[0].pooled(aligned[1:])
