"""Correlations, the scaling-law fit, bootstrap intervals and paired comparisons, in numpy only (the
tests check them against scipy).

Degenerate inputs give an explicit `reason` instead of NaN or an exception: a correlation is
undefined with fewer than three points or when either variable is constant; a scaling fit needs
three sizes to fit three parameters and one more, larger, size to predict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_CORRELATION_POINTS = 3
FIT_PARAMETERS = 3  # a, b, c of a * N^-b + c
# Exponents searched for b: a power law in N over a few orders of magnitude rarely needs more.
EXPONENT_RANGE = (1e-3, 3.0)


@dataclass(frozen=True)
class Correlation:
    value: float | None
    n: int
    reason: str | None = None  # why `value` is undefined

    def describe(self, digits: int = 3) -> str:
        return f"{self.value:.{digits}f}" if self.value is not None else f"undefined ({self.reason})"


def pearson(x, y, labels: tuple[str, str] = ("x", "y")) -> Correlation:
    """Pearson's r; `labels` name x and y in the reason when one is constant."""
    x, y = _paired(x, y)
    if len(x) < MIN_CORRELATION_POINTS:
        return Correlation(None, len(x), f"{len(x)} point(s); need at least {MIN_CORRELATION_POINTS}")
    dx, dy = x - x.mean(), y - y.mean()
    spread_x, spread_y = np.sqrt((dx * dx).sum()), np.sqrt((dy * dy).sum())
    constant = [name for name, spread, values in ((labels[0], spread_x, x), (labels[1], spread_y, y))
                if spread <= 1e-12 * max(1.0, np.abs(values).max())]
    if constant:
        return Correlation(None, len(x), f"constant {' and '.join(constant)}")
    return Correlation(float(np.clip((dx * dy).sum() / (spread_x * spread_y), -1.0, 1.0)), len(x))


def spearman(x, y, labels: tuple[str, str] = ("x", "y")) -> Correlation:
    """Pearson correlation of the ranks (ties share their average rank)."""
    x, y = _paired(x, y)
    result = pearson(average_ranks(x), average_ranks(y), labels)
    return Correlation(result.value, len(x), result.reason)


def average_ranks(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def _paired(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Both as float arrays, keeping only the positions where both are finite."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired data of different lengths: {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


@dataclass(frozen=True)
class PowerLawFit:
    """loss = a * N^-b + c, least squares over the given points."""

    a: float
    b: float
    c: float
    residual: float  # sum of squared residuals

    def predict(self, n) -> np.ndarray | float:
        return self.a * np.power(np.asarray(n, dtype=float), -self.b) + self.c


def fit_power_law(sizes, losses) -> PowerLawFit:
    """Least-squares fit of loss = a * N^-b + c.

    For a fixed exponent b the model is linear in (a, c), solved exactly; the one-dimensional
    residual over b is minimised on a log-spaced grid, then refined by golden-section search
    around the best grid point. This finds the global optimum over b in EXPONENT_RANGE without the
    starting-point sensitivity of a three-parameter Gauss-Newton fit."""
    sizes, losses = np.asarray(sizes, dtype=float), np.asarray(losses, dtype=float)
    if len(sizes) < FIT_PARAMETERS or len(set(sizes.tolist())) < FIT_PARAMETERS:
        raise ValueError(f"fitting a * N^-b + c needs at least {FIT_PARAMETERS} distinct sizes, got {len(set(sizes))}")
    scale = sizes.min()  # N / N_min keeps N^-b well inside floating point for billion-parameter N
    x = sizes / scale

    def solve(b: float) -> tuple[float, float, float]:
        design = np.column_stack([np.power(x, -b), np.ones_like(x)])
        (a, c), *_ = np.linalg.lstsq(design, losses, rcond=None)
        residual = float(((design @ np.array([a, c]) - losses) ** 2).sum())
        return residual, float(a), float(c)

    grid = np.geomspace(*EXPONENT_RANGE, 400)
    residuals = [solve(b)[0] for b in grid]
    best = int(np.argmin(residuals))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(100):
        left, right = high - ratio * (high - low), low + ratio * (high - low)
        if solve(left)[0] <= solve(right)[0]:
            high = right
        else:
            low = left
    b = (low + high) / 2
    residual, a, c = solve(b)
    return PowerLawFit(a=a * scale**b, b=float(b), c=c, residual=residual)


@dataclass(frozen=True)
class ScalingCheck:
    """Fit on every size but the largest, predict the largest, compare with what was measured."""

    fitted_sizes: list[float]
    target_size: float | None
    fit: PowerLawFit | None
    predicted: float | None
    actual: float | None
    reason: str | None = None  # why there is no fit

    @property
    def absolute_error(self) -> float | None:
        return abs(self.predicted - self.actual) if self.fit else None

    @property
    def relative_error(self) -> float | None:
        return self.absolute_error / abs(self.actual) if self.fit and self.actual else None

    @property
    def note(self) -> str | None:
        """Why there is no fit, or why the fit says little: an exponent pinned at the edge of its
        range means the losses do not fall as a power law of N (e.g. the largest size undertrained)."""
        if self.fit is None:
            return self.reason
        low, high = EXPONENT_RANGE
        if not low * 1.01 < self.fit.b < high * 0.99:
            return (f"b is at the edge of its range [{low:g}, {high:g}]: the fitted losses do not fall as a "
                    f"power law of N, so the prediction is an extrapolation of a poor fit")
        return None


def scaling_check(sizes, losses) -> ScalingCheck:
    points = sorted((float(n), float(loss)) for n, loss in zip(sizes, losses) if np.isfinite(loss))
    distinct = sorted({n for n, _ in points})
    if len(distinct) < FIT_PARAMETERS + 1:
        return ScalingCheck([], None, None, None, None,
                            reason=f"too few sizes to fit and check: {len(distinct)} size(s) with a loss; need "
                                   f"{FIT_PARAMETERS + 1} ({FIT_PARAMETERS} to fit a * N^-b + c, 1 larger to predict)")
    target = distinct[-1]
    fitted = [(n, loss) for n, loss in points if n != target]
    actual = float(np.mean([loss for n, loss in points if n == target]))
    fit = fit_power_law([n for n, _ in fitted], [loss for _, loss in fitted])
    return ScalingCheck([n for n, _ in fitted], target, fit, float(fit.predict(target)), actual)



# ----------------------------------------------------------------------------------------------
# Uncertainty: bootstrap confidence intervals and paired comparisons over problems
#
# A score is recomputed on resampled problems (and, where a problem has n > 1 samples, on its
# samples resampled too), so its interval says how much the score depends on which problems
# happened to be in the benchmark. Sums of scores (a cumulative average over sizes and tasks) are
# resampled jointly: the problems of one task are drawn once per resample and used by every term
# of that task, which keeps the terms' correlation (a hard problem is hard for every size).
#
# Paired comparison of A and B on the same problems: the CI of the difference comes from the same
# joint bootstrap, and the two-sided p-value from a paired permutation test: under "A and B are
# exchangeable", each problem's two outcomes are swapped at random, and the p-value is the share
# of swaps whose |difference| reaches the observed one (with the usual +1 correction). For a mean
# score a swap is a sign flip of the per-problem difference; for pass/fail outcomes the test is the
# exact sign (McNemar) test on the discordant problems, in the limit of many permutations. Every
# score here is a function of per-problem counts summed over problems, so a swap or a resample
# only changes those sums, which keeps all of it a few matrix products.

RESAMPLES = 2000
PERMUTATIONS = 4000
CONFIDENCE = 0.95
SIGNIFICANCE = 0.05
CLASSIFICATION_METRICS = ("accuracy", "precision", "recall", "f1_positive", "f1_macro_study")


@dataclass
class TaskOutcomes:
    """What a score is computed from, per problem, in doc_id order.

    Execution tasks (`pass@k`): `n` samples and `passed` counts per problem (the seeds of one cell
    pooled: counts added). Classification tasks (`accuracy`, `precision`, `recall`, `f1_positive`,
    `f1_macro_study`): `labels`
    (0/1) and `predictions` of shape (seeds, problems), -1 for an unparseable answer, which is
    wrong whatever the label, as `astraios.metrics.confusion_matrix` counts it; the score is the
    mean over seeds."""

    metric: str
    doc_ids: list[str]
    n: np.ndarray | None = None
    passed: np.ndarray | None = None
    labels: np.ndarray | None = None
    predictions: np.ndarray | None = None

    @property
    def problems(self) -> int:
        return len(self.doc_ids)

    @property
    def k(self) -> int:
        return int(self.metric.removeprefix("pass@"))

    def select(self, doc_ids: list[str]) -> TaskOutcomes:
        """The outcomes of these problems, in this order."""
        position = {doc_id: index for index, doc_id in enumerate(self.doc_ids)}
        rows = np.array([position[doc_id] for doc_id in doc_ids], dtype=int)
        if self.n is not None:
            return TaskOutcomes(self.metric, list(doc_ids), n=self.n[rows], passed=self.passed[rows])
        return TaskOutcomes(self.metric, list(doc_ids), labels=self.labels[rows], predictions=self.predictions[:, rows])

    def contributions(self) -> np.ndarray:
        """Per problem, the counts whose sums over problems determine the score: (problems, q)."""
        if self.n is not None:
            return pass_at_k_array(self.n, self.passed, self.k)[:, None]
        labels, predictions = self.labels[None, :], self.predictions
        correct = predictions == labels
        # An unparseable answer is a false positive to a negative and a false negative to a positive
        # (binary counts); for the study's macro F1 it is a class of its own, never right.
        counts = [correct, correct & (labels == 1), ~correct & (labels == 0), ~correct & (labels == 1),
                  correct & (labels == 0), (predictions == 0) & (labels == 1), (predictions == 1) & (labels == 0),
                  predictions == -1]
        return np.stack(counts, axis=2).transpose(1, 0, 2).reshape(self.problems, -1).astype(float)

    def from_sums(self, sums: np.ndarray) -> np.ndarray:
        """The score from summed contributions (..., q) over `self.problems` problems."""
        if self.n is not None:
            return sums[..., 0] / self.problems
        correct, tp, fp, fn, tp0, fp0, fp1, unparseable = np.moveaxis(sums.reshape(*sums.shape[:-1], -1, 8), -1, 0)
        if self.metric == "accuracy":
            return (correct / self.problems).mean(axis=-1)
        if self.metric == "f1_macro_study":  # `astraios.metrics.macro_f1`: classes present in labels or answers
            # Per class: (tp, fp, fn). Class 0 misses exactly the negatives the binary counts call false
            # positives; class 1's false positives are answered 1s only (an unparseable answer is its own class).
            per_class = [(tp, fp1, fn), (tp0, fp0, fp), (np.zeros(tp.shape), unparseable, np.zeros(tp.shape))]
            f1s = [np.divide(2 * t, 2 * t + p + n, out=np.zeros(t.shape), where=t > 0) for t, p, n in per_class]
            present = [(t + p + n) > 0 for t, p, n in per_class]
            total = sum(np.where(here, f1, 0.0) for f1, here in zip(f1s, present))
            return np.divide(total, sum(present), out=np.zeros(tp.shape), where=sum(present) > 0).mean(axis=-1)
        precision = np.divide(tp, tp + fp, out=np.zeros(tp.shape), where=tp + fp > 0)
        recall = np.divide(tp, tp + fn, out=np.zeros(tp.shape), where=tp + fn > 0)
        f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros(tp.shape),
                       where=precision + recall > 0)
        return {"precision": precision, "recall": recall, "f1_positive": f1}[self.metric].mean(axis=-1)

    def point(self) -> float:
        return float(self.from_sums(self.contributions().sum(axis=0)))

    def resampled(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The score on each row of `rows` (resamples x problems, indices of drawn problems); a
        drawn problem with n > 1 samples gets its samples redrawn too (n draws with replacement)."""
        if self.n is not None:
            n, passed = self.n[rows], self.passed[rows]
            if (self.n > 1).any():
                passed = rng.binomial(n, passed / n)
            return pass_at_k_array(n, passed, self.k).mean(axis=1)
        weights = np.zeros(rows.shape)
        np.add.at(weights, (np.repeat(np.arange(len(rows)), rows.shape[1]), rows.ravel()), 1.0)
        return self.from_sums(weights @ self.contributions())

    def swapped(self, other: TaskOutcomes, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both scores for each row of `masks` (permutations x problems), with the problems where
        the mask is true exchanged between self and other."""
        mine, theirs = self.contributions(), other.contributions()
        change = masks.astype(float) @ (theirs - mine)
        return self.from_sums(mine.sum(axis=0) + change), other.from_sums(theirs.sum(axis=0) - change)


def pass_at_k_array(n, c, k: int) -> np.ndarray:
    """`astraios.metrics.pass_at_k` elementwise: 1 - C(n-c, k) / C(n, k), as a product of k factors."""
    n, c = np.asarray(n, dtype=float), np.asarray(c, dtype=float)
    if k == 1:
        return c / n
    remaining = np.ones_like(n)
    for j in range(k):
        remaining *= np.clip((n - c - j) / (n - j), 0.0, None)
    return 1.0 - remaining


def outcomes_from_results(entry: dict) -> TaskOutcomes | None:
    """A task's outcomes from its results.json entry (`per_document`), or None when its primary
    metric cannot be recomputed from them (the report then shows no interval for it)."""
    metric, documents = entry.get("primary_metric"), entry.get("per_document") or []
    if not metric or not documents:
        return None
    doc_ids = [str(document["doc_id"]) for document in documents]
    if metric.startswith("pass@") and all("n" in d and "passed" in d for d in documents):
        return TaskOutcomes(metric, doc_ids, n=np.array([d["n"] for d in documents], dtype=int),
                            passed=np.array([d["passed"] for d in documents], dtype=int))
    if metric in CLASSIFICATION_METRICS and all("label" in d and "prediction" in d for d in documents):
        predictions = [-1 if d["prediction"] is None else int(d["prediction"]) for d in documents]
        return TaskOutcomes(metric, doc_ids, labels=np.array([int(d["label"]) for d in documents]),
                            predictions=np.array([predictions]))
    return None


def pool_seeds(outcomes: list[TaskOutcomes]) -> TaskOutcomes:
    """One cell's outcomes over its seeds, on the problems every seed evaluated."""
    first = outcomes[0]
    shared = set.intersection(*(set(o.doc_ids) for o in outcomes))
    aligned = [o.select([doc_id for doc_id in first.doc_ids if doc_id in shared]) for o in outcomes]
    if first.n is not None:
        return TaskOutcomes(first.metric, aligned[0].doc_ids, n=sum(o.n for o in aligned),
                            passed=sum(o.passed for o in aligned))
    return TaskOutcomes(first.metric, aligned[0].doc_ids, labels=aligned[0].labels,
                        predictions=np.concatenate([o.predictions for o in aligned]))


@dataclass(frozen=True)
class Term:
    """One weighted score of a sum, `weight * score(outcomes)`; the terms of one `group` (a task)
    share their problems and are resampled together."""

    weight: float
    group: str
    outcomes: TaskOutcomes


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


def _as_terms(value: list[Term] | TaskOutcomes) -> list[Term]:
    return [Term(1.0, "task", value)] if isinstance(value, TaskOutcomes) else list(value)


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


def _bootstrap(sizes: dict[str, int], sides: list[list[Term]], resamples: int, rng) -> list[np.ndarray]:
    rows = {group: rng.integers(0, size, size=(resamples, size)) for group, size in sizes.items()}
    return [sum(t.weight * t.outcomes.resampled(rows[t.group], rng) for t in side) for side in sides]


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _estimate(terms: list[Term]) -> float:
    return float(sum(term.weight * term.outcomes.point() for term in terms))


def bootstrap_interval(terms: list[Term] | TaskOutcomes, *, resamples: int = RESAMPLES,
                       confidence: float = CONFIDENCE, seed: int = 0) -> Interval:
    """Percentile bootstrap CI of one task's score, or of a weighted sum of scores."""
    sizes, (terms,) = _aligned(_as_terms(terms))
    (values,) = _bootstrap(sizes, [terms], resamples, np.random.default_rng(seed))
    return Interval(_estimate(terms), *_percentiles(values, confidence))


def paired_comparison(a: list[Term] | TaskOutcomes, b: list[Term] | TaskOutcomes, *, resamples: int = RESAMPLES,
                      permutations: int = PERMUTATIONS, confidence: float = CONFIDENCE, seed: int = 0) -> Comparison:
    """A minus B, where term i of A and term i of B score the same task (same weight and group) on
    the same problems: bootstrap CI of the difference, and the paired permutation test's p-value."""
    a, b = _as_terms(a), _as_terms(b)
    if [(t.weight, t.group) for t in a] != [(t.weight, t.group) for t in b]:
        raise ValueError("a paired comparison needs the same weighted tasks on both sides")
    sizes, (a, b) = _aligned(a, b)
    rng = np.random.default_rng(seed)
    observed = _estimate(a) - _estimate(b)
    values_a, values_b = _bootstrap(sizes, [a, b], resamples, rng)
    permuted = np.zeros(permutations)
    for term_a, term_b in zip(a, b):
        masks = rng.random((permutations, term_a.outcomes.problems)) < 0.5
        score_a, score_b = term_a.outcomes.swapped(term_b.outcomes, masks)
        permuted += term_a.weight * (score_a - score_b)
    # A tolerance relative to the scores' scale: float sums in another order must still count as ties.
    reached = np.abs(permuted) >= abs(observed) - 1e-9 * max(1.0, abs(observed))
    p_value = (int(reached.sum()) + 1) / (permutations + 1)
    return Comparison(Interval(observed, *_percentiles(values_a - values_b, confidence)), p_value)
