"""Correlations and the scaling-law fit, in numpy only (the tests check them against scipy). Intervals
and paired comparisons: `astraios.intervals`.

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
