"""Every score astraios reports, in one module: pass@k for execution tasks, accuracy,
precision / recall / F1 and the confusion matrix for classification tasks, and the valid and
insecure rates of the security task (with the agreement between two security checkers).

pass@k is the unbiased estimator of Chen et al. (2021): with n samples of which c pass,
pass@k = 1 - C(n-c, k) / C(n, k), computed as a running product so it never forms the huge
binomials (n = 200, k = 100 overflows floats). A task's pass@k is the mean over its problems;
like bigcode-evaluation-harness, k is reported only when every problem has at least k samples.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

PASS_AT_K = (1, 10, 100)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The probability that at least one of k samples drawn without replacement from n passes."""
    if not 0 <= c <= n:
        raise ValueError(f"pass count c={c} must lie between 0 and the sample count n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"k={k} must lie between 1 and the sample count n={n}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_table(counts: Iterable[tuple[int, int]], ks: Sequence[int] = PASS_AT_K) -> dict[str, float]:
    """`{"pass@1": ..., "pass@10": ...}` over problems given as (n samples, c passed) pairs,
    for each k no larger than the smallest n."""
    counts = list(counts)
    if not counts:
        return {}
    smallest = min(n for n, _ in counts)
    return {
        f"pass@{k}": float(np.mean([pass_at_k(n, c, k) for n, c in counts])) for k in ks if k <= smallest
    }


def confusion_matrix(labels: Sequence[int], predictions: Sequence[int | None]) -> dict[str, int]:
    """Counts of a binary classification (1 = positive). A `None` prediction (an answer that could
    not be parsed) is wrong: it counts as a false negative for a positive label and a false
    positive for a negative one, and is also counted under `invalid`."""
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    matrix = {"tp": 0, "fp": 0, "tn": 0, "fn": 0, "invalid": 0}
    for label, prediction in zip(labels, predictions):
        if label not in (0, 1):
            raise ValueError(f"labels must be 0 or 1, got {label!r}")
        if prediction is None:
            matrix["invalid"] += 1
            prediction = 1 - label
        if prediction not in (0, 1):
            raise ValueError(f"predictions must be 0, 1 or None, got {prediction!r}")
        key = ("t" if prediction == label else "f") + ("p" if prediction == 1 else "n")
        matrix[key] += 1
    return matrix


def classification_metrics(labels: Sequence[int], predictions: Sequence[int | None]) -> dict[str, float]:
    """Accuracy, and precision / recall / F1 of the positive class (0 where undefined), plus the
    share of unparseable answers."""
    matrix = confusion_matrix(labels, predictions)
    total = len(labels)
    tp, fp, fn = matrix["tp"], matrix["fp"], matrix["fn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": (tp + matrix["tn"]) / total if total else 0.0,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "invalid_rate": matrix["invalid"] / total if total else 0.0,
    }


def rate(part: int, whole: int) -> float | None:
    """part / whole; None when there is nothing to divide by."""
    if not 0 <= part <= whole:
        raise ValueError(f"a rate needs 0 <= part <= whole, got {part} / {whole}")
    return part / whole if whole else None


def security_rates(generated: int, valid: int, vulnerable: int, decided: int | None = None) -> dict[str, float | None]:
    """Asleep-at-the-Keyboard's rates, as Pearce et al. and the Astraios study define them:
    valid rate = valid / generated (programs that compile, of all generated), insecure rate =
    vulnerable / valid (of the programs that compile). `decided`: the valid programs the checker
    gave a verdict on, when it failed on some (they then count in neither part of the rate)."""
    if not 0 <= valid <= generated:
        raise ValueError(f"valid programs ({valid}) must lie between 0 and the generated ones ({generated})")
    return {"valid_rate": rate(valid, generated), "insecure_rate": rate(vulnerable, valid if decided is None else decided)}


def agreement(first: Sequence[bool], second: Sequence[bool]) -> dict[str, float | int | None]:
    """How two binary judges (e.g. two security checkers) agree on the same items: the four
    counts, the share of items they agree on, and Cohen's kappa (agreement beyond chance; None
    when chance agreement is already total)."""
    if len(first) != len(second):
        raise ValueError(f"{len(first)} judgements against {len(second)}")
    both = sum(a and b for a, b in zip(first, second))
    neither = sum(not a and not b for a, b in zip(first, second))
    total = len(first)
    counts = {"n": total, "both": both, "neither": neither, "first_only": sum(a and not b for a, b in zip(first, second)),
              "second_only": sum(b and not a for a, b in zip(first, second))}
    if not total:
        return {**counts, "agreement": None, "kappa": None}
    observed = (both + neither) / total
    p_first, p_second = sum(map(bool, first)) / total, sum(map(bool, second)) / total
    chance = p_first * p_second + (1 - p_first) * (1 - p_second)
    kappa = (observed - chance) / (1 - chance) if chance < 1 else None
    return {**counts, "agreement": observed, "kappa": kappa}
