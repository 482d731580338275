"""Every score astraios reports, in one module: pass@k for execution tasks, the ReCode robustness
scores (RP@k, RD@k, RR@k, RC@k; formulas in `astraios.tasks.recode`), accuracy, precision /
recall / F1 and the confusion matrix for classification tasks, and the valid and insecure rates of
the security task (with the agreement between two security checkers).

Two F1s for YES/NO classification, named so that no reader confuses them: `f1_positive` is the F1
of the positive class, an unparseable answer counting as wrong; `f1_macro_study` is the study's
"F1", its notebook's `evaluate.load("f1").compute(average="macro")`, i.e. sklearn's macro F1: the
mean of the per-label F1 over every label that occurs in the labels or the predictions, with an
unparseable answer as the label -1 (whose F1 is 0, as no example has it). So always answering NO
on 274 clones and 1,726 non-clones scores f1_positive 0 but f1_macro_study 46.3%.

pass@k is the unbiased estimator of Chen et al. (2021): with n samples of which c pass,
pass@k = 1 - C(n-c, k) / C(n, k), computed as a running product so it never forms the huge
binomials (n = 200, k = 100 overflows floats). A task's pass@k is the mean over its problems;
like bigcode-evaluation-harness, k is reported only when every problem has at least k samples.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

PASS_AT_K = (1, 10, 100)
UNPARSEABLE = -1  # the study notebook's label for an answer that is neither YES nor NO


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


@dataclass(frozen=True)
class RobustCounts:
    """One problem under one transformation, counted over the n generation seeds (sample i of the
    nominal prompt and sample i of every perturbed variant form generation seed i).

    n: samples per prompt; passed: nominal samples that pass (None without nominal results);
    robust: seeds i whose samples pass under every variant; worse: seeds i that pass nominally but
    fail under some variant; better: seeds i that fail nominally but pass under some variant.
    """

    n: int
    robust: int
    passed: int | None = None
    worse: int | None = None
    better: int | None = None


def robust_counts(nominal: Sequence[bool] | None, variants: Sequence[Sequence[bool]]) -> RobustCounts:
    """Count one problem's verdicts: `nominal[i]` and `variants[j][i]` say whether sample i of the
    nominal prompt and of perturbed variant j passed."""
    if not variants:
        raise ValueError("a problem needs at least one perturbed variant")
    n = len(variants[0])
    if n == 0 or any(len(variant) != n for variant in variants) or (nominal is not None and len(nominal) != n):
        raise ValueError(f"every prompt of a problem needs the same number of samples (got "
                         f"{[len(v) for v in variants]}{'' if nominal is None else f' and {len(nominal)} nominal'})")
    robust_seeds = [all(variant[i] for variant in variants) for i in range(n)]
    if nominal is None:
        return RobustCounts(n, sum(robust_seeds))
    changed_down = sum(nominal[i] and not robust_seeds[i] for i in range(n))
    changed_up = sum(not nominal[i] and any(variant[i] for variant in variants) for i in range(n))
    return RobustCounts(n, sum(robust_seeds), sum(nominal), changed_down, changed_up)


def robust_drop(nominal: float, robust: float) -> float | None:
    """(pass@k - RP@k) / pass@k; 0 when both are 0 (nothing solved, nothing lost), and None (left
    out) when only pass@k is 0, where the drop would be minus infinity."""
    if nominal > 0:
        return (nominal - robust) / nominal
    return 0.0 if robust == 0 else None


def robustness_table(problems: Iterable[RobustCounts], ks: Sequence[int] = PASS_AT_K) -> dict[str, float]:
    """RP@k, and with nominal results pass@k, RD@k, RR@k and RC@k, over problems, for each k no
    larger than the smallest n. See `robust_drop` for RD@k when pass@k is 0."""
    problems = list(problems)
    if not problems:
        return {}
    with_nominal = all(problem.passed is not None for problem in problems)
    table: dict[str, float] = {}
    for k in ks:
        if k > min(problem.n for problem in problems):
            continue
        robust = float(np.mean([pass_at_k(p.n, p.robust, k) for p in problems]))
        if not with_nominal:
            table[f"RP@{k}"] = robust
            continue
        nominal = float(np.mean([pass_at_k(p.n, p.passed, k) for p in problems]))
        table[f"pass@{k}"] = nominal
        table[f"RP@{k}"] = robust
        drop = robust_drop(nominal, robust)
        if drop is not None:
            table[f"RD@{k}"] = drop
        table[f"RR@{k}"] = float(np.mean([pass_at_k(p.n, p.worse, k) + pass_at_k(p.n, p.better, k) for p in problems]))
        table[f"RC@{k}"] = abs(nominal - robust)
    return table


def robustness_summary(per_transformation: Mapping[str, Mapping[str, float]],
                       nominal: Mapping[str, float] | None = None) -> dict[str, float]:
    """A category's scores from its transformations' `robustness_table`s and the nominal
    `pass_at_k_table` over all its problems.

    Worst case (the study's Table 4): RP@k is the lowest over the transformations; RD@k and RC@k
    follow from that RP@k and the nominal pass@k; RR@k is the highest. `mean RP@k` etc. average the
    transformations' own values."""
    tables = list(per_transformation.values())
    if not tables:
        return dict(nominal or {})
    summary: dict[str, float] = {}
    means: dict[str, float] = {}
    for key in tables[0]:
        if not key.startswith("RP@"):
            continue
        k = key[3:]
        worst = min(table[key] for table in tables)
        passed = (nominal or {}).get(f"pass@{k}")
        summary[key] = worst
        if passed is not None:
            summary[f"pass@{k}"] = passed
            drop = robust_drop(passed, worst)
            if drop is not None:
                summary[f"RD@{k}"] = drop
            summary[f"RR@{k}"] = max(table[f"RR@{k}"] for table in tables)
            summary[f"RC@{k}"] = abs(passed - worst)
        for name in ("RP", "RD", "RR", "RC"):
            values = [table[f"{name}@{k}"] for table in tables if f"{name}@{k}" in table]
            if values:
                means[f"mean {name}@{k}"] = float(np.mean(values))
    return {**summary, **means}


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


def macro_f1(labels: Sequence[int], predictions: Sequence[int]) -> float:
    """sklearn's `f1_score(labels, predictions, average="macro")`: the mean over every label that
    occurs in either list of that label's F1 = 2 tp / (2 tp + fp + fn) (0 where it has no tp)."""
    if len(labels) != len(predictions):
        raise ValueError(f"{len(labels)} labels but {len(predictions)} predictions")
    pairs = Counter(zip(labels, predictions))
    classes = sorted(set(labels) | set(predictions))
    scores = []
    for value in classes:
        tp = pairs[(value, value)]
        fp = sum(count for (label, prediction), count in pairs.items() if prediction == value != label)
        fn = sum(count for (label, prediction), count in pairs.items() if label == value != prediction)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def classification_metrics(labels: Sequence[int], predictions: Sequence[int | None]) -> dict[str, float]:
    """Accuracy, precision / recall / F1 of the positive class (0 where undefined), the study's
    macro F1 (None = the label UNPARSEABLE), and the share of unparseable answers."""
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
        "f1_positive": f1,
        "f1_macro_study": macro_f1(labels, [UNPARSEABLE if prediction is None else prediction
                                            for prediction in predictions]),
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
