"""How sure a score is: its standard error, its 95% bootstrap interval, and paired comparisons, from
the per-problem outcomes of `astraios.outcomes`. One implementation for `astraios eval` (each score
of results.json with its standard error and interval, `entry_uncertainty`) and for the report (every
cell's score, sums of scores, comparisons between methods: `astraios.analysis.uncertainty`).

The unit of resampling is the problem: a score says how a model does on problems like the
benchmark's, and its uncertainty is how much it depends on which problems happened to be drawn.
Where a problem has several samples, its per-problem value (e.g. its pass@k estimate) is kept as
it is, not redrawn: resampling problems already carries the samples' noise (a problem's value
varies with its samples), and redrawing them too counts that noise twice (Davison & Hinkley 1997,
Bootstrap Methods, section 3.8), widening the interval.

Standard error, as lm-evaluation-harness computes it: for a score that is the mean over problems
of a per-problem value (pass@k, accuracy, invalid_rate), the sample standard error
sd(values, ddof=1) / sqrt(problems); for every other score (precision, recall, the F1s, ReCode's
worst-case RP/RD/RR/RC, the valid and insecure rates, which are ratios over scenarios), the
standard deviation (ddof=1) of the score over bootstrap resamples of the problems. The 95%
interval is the percentile bootstrap interval (2,000 resamples, seed 0, so a score gets the same
interval in results.json and in the report). Sums of scores (a cumulative average over sizes and
tasks) are resampled jointly: the problems of one task are drawn once per resample and used by
every term of that task, which keeps the terms' correlation (a hard problem is hard for every size).

Paired comparison of A and B on the same problems: the CI of the difference comes from the same
joint bootstrap, and the two-sided p-value from a paired permutation test: under "A and B are
exchangeable", each problem's two outcomes are swapped at random, and the p-value is the share
of swaps whose |difference| reaches the observed one (with the usual +1 correction). For a mean
score a swap is a sign flip of the per-problem difference; for pass/fail outcomes the test is the
exact sign (McNemar) test on the discordant problems, in the limit of many permutations.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import numpy as np

from astraios.outcomes import Outcomes, outcomes_from_results

RESAMPLES = 2000
PERMUTATIONS = 4000
CONFIDENCE = 0.95
SIGNIFICANCE = 0.05
SEED = 0
METHOD = ("stderr: sample standard error over problems for means (pass@k, accuracy, invalid_rate), the standard "
          f"deviation over {RESAMPLES} bootstrap resamples of the problems for the others; ci95: percentile "
          f"bootstrap over problems ({RESAMPLES} resamples, seed {SEED})")


class UndefinedScore(ValueError):
    """The score, or its interval, is undefined (e.g. a rate over no valid program in some resample)."""


@dataclass(frozen=True)
class Term:
    """One weighted score of a sum, `weight * score(outcomes)`; the terms of one `group` (a task)
    share their problems and are resampled together."""

    weight: float
    group: str
    outcomes: Outcomes


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def describe(self, digits: int = 3) -> str:
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass(frozen=True)
class Comparison:
    """A minus B on the same problems: the difference with its CI, and the paired test's p-value."""

    difference: Interval
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < SIGNIFICANCE


def _as_terms(value: list[Term] | Outcomes) -> list[Term]:
    return [Term(1.0, "task", value)] if isinstance(value, Outcomes) else list(value)


def _aligned(*sides: list[Term]) -> tuple[dict[str, int], list[list[Term]]]:
    """Every term restricted to the problems all terms of its group share, in one order."""
    shared: dict[str, list[str]] = {}
    for term in (term for side in sides for term in side):
        ids = set(term.outcomes.doc_ids)
        shared[term.group] = [i for i in shared.get(term.group, term.outcomes.doc_ids) if i in ids]
    if any(not ids for ids in shared.values()):
        raise ValueError("no problem is shared by every score of a task, so they cannot be compared")
    aligned = [[Term(t.weight, t.group, t.outcomes.select(shared[t.group])) for t in side] for side in sides]
    return {group: len(ids) for group, ids in shared.items()}, aligned


def _resample_weights(size: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, size): how often each problem is drawn in each resample of `size` problems drawn
    with replacement."""
    rows = rng.integers(0, size, size=(resamples, size))
    offsets = (rows + size * np.arange(resamples)[:, None]).ravel()
    return np.bincount(offsets, minlength=resamples * size).reshape(resamples, size).astype(float)


def _bootstrap(sizes: dict[str, int], sides: list[list[Term]], resamples: int, rng) -> list[np.ndarray]:
    weights = {group: _resample_weights(size, resamples, rng) for group, size in sizes.items()}
    return [sum(t.weight * t.outcomes.from_sums(weights[t.group] @ t.outcomes.contributions()) for t in side)
            for side in sides]


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    undefined = int((~np.isfinite(values)).sum())
    if undefined:
        raise UndefinedScore(f"{what} is undefined in {undefined} of {len(values)} resamples")
    return values


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _estimate(terms: list[Term]) -> float:
    estimate = float(sum(term.weight * term.outcomes.point() for term in terms))
    if not np.isfinite(estimate):
        raise UndefinedScore("the score is undefined")
    return estimate


def bootstrap_interval(terms: list[Term] | Outcomes, *, resamples: int = RESAMPLES,
                       confidence: float = CONFIDENCE, seed: int = SEED) -> Interval:
    """Percentile bootstrap CI of one task's score, or of a weighted sum of scores; UndefinedScore
    when the score is undefined on some resample."""
    sizes, (terms,) = _aligned(_as_terms(terms))
    estimate = _estimate(terms)
    (values,) = _bootstrap(sizes, [terms], resamples, np.random.default_rng(seed))
    return Interval(estimate, *_percentiles(_finite(values, "the score"), confidence))


def standard_error(outcomes: Outcomes, *, resamples: int = RESAMPLES, seed: int = SEED) -> float:
    """lm-evaluation-harness's standard error: closed form for a mean over problems, else the
    bootstrap's standard deviation."""
    values = outcomes.per_problem()
    if values is not None:
        if len(values) < 2:
            raise UndefinedScore("a standard error needs at least 2 problems")
        return float(np.std(values, ddof=1) / np.sqrt(len(values)))
    _estimate([Term(1.0, "task", outcomes)])
    (replicates,) = _bootstrap({"task": outcomes.problems}, [[Term(1.0, "task", outcomes)]], resamples,
                               np.random.default_rng(seed))
    return float(np.std(_finite(replicates, "the score"), ddof=1))


def paired_comparison(a: list[Term] | Outcomes, b: list[Term] | Outcomes, *, resamples: int = RESAMPLES,
                      permutations: int = PERMUTATIONS, confidence: float = CONFIDENCE, seed: int = SEED) -> Comparison:
    """A minus B, where term i of A and term i of B score the same task (same weight and group) on
    the same problems: bootstrap CI of the difference, and the paired permutation test's p-value."""
    a, b = _as_terms(a), _as_terms(b)
    if [(t.weight, t.group) for t in a] != [(t.weight, t.group) for t in b]:
        raise ValueError("a paired comparison needs the same weighted tasks on both sides")
    sizes, (a, b) = _aligned(a, b)
    if any(x.outcomes.contributions().shape != y.outcomes.contributions().shape for x, y in zip(a, b)):
        raise ValueError("the two sides' outcomes are of different kinds (e.g. other transformations or seeds)")
    rng = np.random.default_rng(seed)
    observed = _estimate(a) - _estimate(b)
    values_a, values_b = _bootstrap(sizes, [a, b], resamples, rng)
    permuted = np.zeros(permutations)
    for term_a, term_b in zip(a, b):
        masks = (rng.random((permutations, term_a.outcomes.problems)) < 0.5).astype(float)
        mine, theirs = term_a.outcomes.contributions(), term_b.outcomes.contributions()
        change = masks @ (theirs - mine)  # the problems where the mask is true exchanged between a and b
        permuted += term_a.weight * (term_a.outcomes.from_sums(mine.sum(axis=0) + change)
                                     - term_b.outcomes.from_sums(theirs.sum(axis=0) - change))
    # A tolerance relative to the scores' scale: float sums in another order must still count as ties.
    reached = np.abs(permuted) >= abs(observed) - 1e-9 * max(1.0, abs(observed))
    p_value = (int(reached.sum()) + 1) / (permutations + 1)
    difference = _finite(values_a - values_b, "the difference")
    return Comparison(Interval(observed, *_percentiles(difference, confidence)), p_value)


def entry_uncertainty(entry: dict) -> dict:
    """For a task's results.json entry: `stderr` and `ci95` per metric (None where the per-document
    records cannot give them), `uncertainty` (how they were computed) and `warnings` (a metric that
    its records recompute to another value: a defect to report, never an interval to trust)."""
    stderr, ci95, warnings = {}, {}, []
    for metric, value in entry.get("metrics", {}).items():
        stderr[metric] = ci95[metric] = None
        outcomes = outcomes_from_results(entry, metric)
        if value is None or outcomes is None:
            continue
        recomputed = outcomes.point()
        if not abs(recomputed - value) <= 1e-9 * max(1.0, abs(value)):
            warnings.append(f"no standard error for {metric}: the per-document records give {recomputed:.6g}, "
                            f"not the reported {value:.6g}")
            continue
        with contextlib.suppress(UndefinedScore):  # e.g. a rate over no valid program in some resample
            stderr[metric] = standard_error(outcomes)
        with contextlib.suppress(UndefinedScore):
            interval = bootstrap_interval(outcomes)
            ci95[metric] = [interval.low, interval.high]
    return {"stderr": stderr, "ci95": ci95, "uncertainty": METHOD, "warnings": warnings}
