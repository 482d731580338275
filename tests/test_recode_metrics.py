"""ReCode robustness metrics: hand-computed examples, and a brute-force implementation written here
(every k-subset of generation seeds enumerated) for random problems with n > 1."""

from __future__ import annotations

import random
from itertools import combinations

import pytest

from astraios.metrics import RobustCounts, robust_counts, robustness_summary, robustness_table

T, F = True, False


def test_greedy_example_by_hand():
    # P0 robust; P1 solved nominally but not under one variant; P2 unsolved but mended by one variant.
    problems = [robust_counts([T], [[T], [T]]), robust_counts([T], [[T], [F]]), robust_counts([F], [[F], [T]])]
    assert problems[1] == RobustCounts(n=1, robust=0, passed=1, worse=1, better=0)
    assert problems[2] == RobustCounts(n=1, robust=0, passed=0, worse=0, better=1)
    table = robustness_table(problems)
    assert table == pytest.approx({"pass@1": 2 / 3, "RP@1": 1 / 3, "RD@1": 0.5, "RR@1": 2 / 3, "RC@1": 1 / 3})
    assert list(table) == ["pass@1", "RP@1", "RD@1", "RR@1", "RC@1"]


def test_two_samples_by_hand():
    # Seed 0: nominal passes, variant 2 fails (broken). Seed 1: nominal fails, both variants pass
    # (robust and mended). So rc = 1, rc- = 1, rc+ = 1 out of n = 2.
    counts = robust_counts([T, F], [[T, T], [F, T]])
    assert counts == RobustCounts(n=2, robust=1, passed=1, worse=1, better=1)
    table = robustness_table([counts], ks=(1, 2))
    # k=2 draws both seeds: one of them is robust, one broken, one mended.
    assert table == pytest.approx({"pass@1": 0.5, "RP@1": 0.5, "RD@1": 0.0, "RR@1": 1.0, "RC@1": 0.0,
                                   "pass@2": 1.0, "RP@2": 1.0, "RD@2": 0.0, "RR@2": 2.0, "RC@2": 0.0})


def test_perturbation_that_helps_gives_a_negative_drop_and_a_positive_change():
    table = robustness_table([robust_counts([F], [[T]]), robust_counts([F], [[F]])])
    assert table == pytest.approx({"pass@1": 0.0, "RP@1": 0.5, "RR@1": 0.5, "RC@1": 0.5})  # RD would be -infinity
    nothing = robustness_table([robust_counts([F], [[F]])])
    assert nothing == {"pass@1": 0.0, "RP@1": 0.0, "RD@1": 0.0, "RR@1": 0.0, "RC@1": 0.0}  # nothing to lose
    table = robustness_table([robust_counts([T], [[T]]), robust_counts([F], [[T]])])
    assert table["RD@1"] == pytest.approx(-1.0) and table["RC@1"] == pytest.approx(0.5)


def test_without_nominal_only_robust_pass():
    table = robustness_table([robust_counts(None, [[T, F, T], [T, T, F]]), robust_counts(None, [[T, T, T]])])
    assert table == pytest.approx({"RP@1": (1 / 3 + 1) / 2})


def test_k_larger_than_n_is_left_out_and_mismatched_samples_rejected():
    assert set(robustness_table([robust_counts([T] * 5, [[T] * 5])])) == {"pass@1", "RP@1", "RR@1", "RC@1", "RD@1"}
    with pytest.raises(ValueError, match="same number of samples"):
        robust_counts([T, F], [[T], [T, F]])
    with pytest.raises(ValueError, match="at least one"):
        robust_counts([T], [])
    assert robustness_table([]) == {}


def brute_force(problems: list[tuple[list[bool], list[list[bool]]]], k: int) -> dict[str, float]:
    """Expectations over every k-subset of generation seeds, straight from the definitions."""
    rp = nominal = worse = better = 0.0
    for nominal_verdicts, variants in problems:
        n = len(nominal_verdicts)
        subsets = list(combinations(range(n), k))

        def share(condition) -> float:
            return sum(any(condition(i) for i in subset) for subset in subsets) / len(subsets)

        rp += share(lambda i: all(v[i] for v in variants))
        nominal += share(lambda i: nominal_verdicts[i])
        worse += share(lambda i: nominal_verdicts[i] and not all(v[i] for v in variants))
        better += share(lambda i: not nominal_verdicts[i] and any(v[i] for v in variants))
    count = len(problems)
    rp, nominal = rp / count, nominal / count
    result = {f"pass@{k}": nominal, f"RP@{k}": rp, f"RR@{k}": (worse + better) / count, f"RC@{k}": abs(nominal - rp)}
    if nominal > 0:
        result[f"RD@{k}"] = (nominal - rp) / nominal
    elif rp == 0:
        result[f"RD@{k}"] = 0.0
    return result


def test_matches_brute_force_on_random_problems():
    rng = random.Random(7)
    for _ in range(60):
        n = rng.randint(1, 7)
        problems = []
        for _ in range(rng.randint(1, 6)):
            skill = rng.random()
            nominal = [rng.random() < skill for _ in range(n)]
            variants = [[rng.random() < skill for _ in range(n)] for _ in range(rng.randint(1, 5))]
            problems.append((nominal, variants))
        ks = [k for k in (1, 2, 3, 5) if k <= n]
        table = robustness_table([robust_counts(nominal, variants) for nominal, variants in problems], ks=ks)
        expected = {}
        for k in ks:
            expected.update(brute_force(problems, k))
        assert table == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_category_summary_is_the_worst_transformation_and_the_mean():
    nominal = {"pass@1": 0.6}
    per_transformation = {
        "A": {"pass@1": 0.6, "RP@1": 0.5, "RD@1": 1 / 6, "RR@1": 0.2, "RC@1": 0.1},
        "B": {"pass@1": 0.6, "RP@1": 0.3, "RD@1": 0.5, "RR@1": 0.4, "RC@1": 0.3},
        "C": {"pass@1": 0.6, "RP@1": 0.7, "RD@1": -1 / 6, "RR@1": 0.1, "RC@1": 0.1},
    }
    summary = robustness_summary(per_transformation, nominal)
    assert summary == pytest.approx({
        "pass@1": 0.6, "RP@1": 0.3, "RD@1": 0.5, "RR@1": 0.4, "RC@1": 0.3,
        "mean RP@1": 0.5, "mean RD@1": 1 / 6, "mean RR@1": 0.7 / 3, "mean RC@1": 0.5 / 3,
    })
    assert robustness_summary({"A": {"RP@1": 0.2}, "B": {"RP@1": 0.4}}) == pytest.approx(
        {"RP@1": 0.2, "mean RP@1": 0.3})
