"""Correlations and the scaling fit against independent computations (scipy), and their degenerate cases."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize as scipy_optimize  # a test dependency: its absence must fail, not skip
import scipy.stats as scipy_stats

from astraios.analysis import stats

LOSSES = [2.31, 2.05, 1.87, 1.93, 1.62, 1.55, 1.71]
SCORES = [0.11, 0.16, 0.19, 0.16, 0.27, 0.30, 0.22]  # with a tie


def test_pearson_and_spearman_match_scipy():
    assert stats.pearson(LOSSES, SCORES).value == pytest.approx(scipy_stats.pearsonr(LOSSES, SCORES)[0], abs=1e-12)
    assert stats.spearman(LOSSES, SCORES).value == pytest.approx(scipy_stats.spearmanr(LOSSES, SCORES)[0], abs=1e-12)


def test_average_ranks_share_ties_like_scipy():
    values = [3.0, 1.0, 3.0, 2.0, 3.0, 0.5]
    assert stats.average_ranks(values).tolist() == scipy_stats.rankdata(values).tolist()


@pytest.mark.parametrize(("x", "y", "reason"), [
    ([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], "constant y"),
    ([5.0, 5.0, 5.0], [0.1, 0.2, 0.3], "constant x"),
    ([1.0, 2.0], [0.1, 0.2], "2 point(s)"),
    ([1.0, float("nan"), 3.0], [0.1, 0.2, 0.3], "2 point(s)"),
])
def test_undefined_correlations_say_why(x, y, reason):
    for correlation in (stats.pearson(x, y), stats.spearman(x, y)):
        assert correlation.value is None and reason in correlation.reason
        assert correlation.describe().startswith("undefined (")


def test_power_law_fit_matches_scipy_curve_fit():
    sizes = np.array([7.2e4, 4.4e5, 1.6e6, 6.4e6, 2.5e7])
    rng = np.random.default_rng(0)
    losses = 3.1 * (sizes / 1e5) ** -0.31 + 1.7 + rng.normal(0, 0.01, len(sizes))
    ours = stats.fit_power_law(sizes, losses)
    (a, b, c), _ = scipy_optimize.curve_fit(lambda n, a, b, c: a * n ** -b + c, sizes, losses,
                                           p0=[3.1 * 1e5**0.31, 0.3, 1.5], maxfev=20000)
    assert ours.b == pytest.approx(b, rel=1e-3)
    assert ours.c == pytest.approx(c, rel=1e-3)
    assert ours.a == pytest.approx(a, rel=1e-2)
    # Two optimisers of one least-squares problem agree to their stopping tolerance (curve_fit's ftol
    # 1.5e-8 on the sum of squares), not to machine precision: compare the fitted curves relatively.
    assert ours.predict(sizes) == pytest.approx(a * sizes ** -b + c, rel=1e-5)
    assert ours.residual == pytest.approx(float(((a * sizes ** -b + c - losses) ** 2).sum()), rel=1e-3)


def test_scaling_check_fits_the_smaller_sizes_and_predicts_the_largest():
    sizes = [1e9, 3e9, 7e9, 15.5e9]
    true = [2.0 * (n / 1e9) ** -0.5 + 1.0 for n in sizes]
    check = stats.scaling_check(sizes, true)
    assert check.fitted_sizes == sizes[:3] and check.target_size == 15.5e9
    assert check.predicted == pytest.approx(true[-1], abs=1e-4)  # three exact points determine the curve
    assert check.absolute_error == pytest.approx(abs(check.predicted - true[-1]))
    assert check.relative_error == pytest.approx(check.absolute_error / true[-1])
    assert check.note is None


def test_a_loss_that_does_not_fall_with_size_is_flagged():
    check = stats.scaling_check([1e5, 4e5, 1.6e6, 6.4e6], [5.56, 5.54, 5.55, 5.58])  # falls, then rises: no power law
    assert check.fit is not None and "edge of its range" in check.note


def test_scaling_check_with_too_few_sizes_says_so():
    check = stats.scaling_check([1e6, 2e6, 4e6], [3.0, 2.8, 2.7])
    assert check.fit is None and check.absolute_error is None
    assert "too few sizes" in check.reason and "3 size(s)" in check.reason
    assert "need 4" in check.reason


# ----------------------------------------------------------------------------------------------
# Bootstrap intervals and paired comparisons, each against a computation written independently:
# scipy.stats.bootstrap / permutation_test / binomtest, plain Python loops, and hand-worked cases.
# Monte Carlo tolerances: a percentile of B = 10,000 resamples moves by about 0.1 standard error
# of the score, and pass@1 on P problems moves in steps of 1/P, so intervals are compared to
# within 1.5 steps; a p-value from N permutations has a standard error of sqrt(p(1-p)/N) <= 0.008
# for N = 4,000, so p-values are compared to within 0.03 (about 4 standard errors).

from astraios import metrics  # noqa: E402

RNG = np.random.default_rng(7)
PASSED = (RNG.random(100) < 0.4).astype(int)  # 100 problems, one greedy sample each
OTHER = np.where(RNG.random(100) < 0.25, 1 - PASSED, PASSED)  # a second method, paired


def greedy(passed) -> stats.TaskOutcomes:
    return stats.TaskOutcomes("pass@1", [f"P/{i}" for i in range(len(passed))], n=np.ones(len(passed), dtype=int),
                              passed=np.asarray(passed))


def test_point_scores_equal_the_metrics_module():
    n = RNG.integers(1, 8, 50)
    c = np.array([RNG.integers(0, k + 1) for k in n])
    for k in (1, 2):
        outcomes = stats.TaskOutcomes(f"pass@{k}", [str(i) for i in range(50)], n=np.maximum(n, 2), passed=c)
        expected = metrics.pass_at_k_table(zip(np.maximum(n, 2), c), ks=(k,))[f"pass@{k}"]
        assert outcomes.point() == pytest.approx(expected, rel=1e-12)
    labels = RNG.integers(0, 2, 80)
    predictions = np.where(RNG.random(80) < 0.1, -1, RNG.integers(0, 2, 80))
    expected = metrics.classification_metrics(labels.tolist(), [None if p == -1 else int(p) for p in predictions])
    for metric in stats.CLASSIFICATION_METRICS:
        outcomes = stats.TaskOutcomes(metric, [str(i) for i in range(80)], labels=labels, predictions=predictions[None])
        assert outcomes.point() == pytest.approx(expected[metric], rel=1e-12), metric


def test_bootstrap_interval_matches_scipy_for_pass_at_1():
    ours = stats.bootstrap_interval(greedy(PASSED), resamples=10_000)
    theirs = scipy_stats.bootstrap((PASSED,), np.mean, n_resamples=10_000, method="percentile",
                                   random_state=np.random.default_rng(1)).confidence_interval
    assert ours.estimate == PASSED.mean()
    assert ours.low == pytest.approx(theirs.low, abs=1.5 / len(PASSED))
    assert ours.high == pytest.approx(theirs.high, abs=1.5 / len(PASSED))


def test_bootstrap_interval_of_f1_matches_scipy_paired_resampling():
    labels = RNG.integers(0, 2, 200)
    predictions = np.where(RNG.random(200) < 0.7, labels, 1 - labels)

    def f1(y, p):  # written out here, independently of astraios
        tp = np.sum((p == 1) & (y == 1))
        fp = np.sum((p == 1) & (y == 0))
        fn = np.sum((p != 1) & (y == 1))
        return 2 * tp / (2 * tp + fp + fn)

    ours = stats.bootstrap_interval(stats.TaskOutcomes("f1_positive", [str(i) for i in range(200)], labels=labels,
                                                       predictions=predictions[None]), resamples=10_000)
    theirs = scipy_stats.bootstrap((labels, predictions), f1, paired=True, vectorized=False, n_resamples=10_000,
                                   method="percentile", random_state=np.random.default_rng(2)).confidence_interval
    assert ours.estimate == pytest.approx(f1(labels, predictions), rel=1e-12)
    assert ours.low == pytest.approx(theirs.low, abs=0.01) and ours.high == pytest.approx(theirs.high, abs=0.01)


def test_bootstrap_with_several_samples_resamples_problems_then_samples():
    """Against a plain two-level bootstrap: draw problems, then each drawn problem's n samples."""
    n = np.full(40, 5)
    c = RNG.integers(0, 6, 40)
    ours = stats.bootstrap_interval(stats.TaskOutcomes("pass@1", [str(i) for i in range(40)], n=n, passed=c),
                                    resamples=10_000)
    rng = np.random.default_rng(3)
    problems = rng.integers(0, 40, (10_000, 40))
    samples = rng.integers(0, 5, (10_000, 40, 5))  # sample j of problem i passes when j < c[i]
    values = (samples < c[problems][:, :, None]).mean(axis=(1, 2))
    low, high = np.percentile(values, [2.5, 97.5])
    assert ours.low == pytest.approx(low, abs=0.01) and ours.high == pytest.approx(high, abs=0.01)
    # Resampling the samples widens the interval beyond resampling problems alone.
    problems_only = stats.bootstrap_interval(stats.TaskOutcomes("pass@1", [str(i) for i in range(40)], n=n * 1000,
                                                                passed=c * 1000), resamples=10_000)
    assert high - low > (problems_only.high - problems_only.low) * 1.02


def test_a_sum_of_scores_resamples_each_task_once_for_all_its_terms():
    """Two sizes on the same task, summed: the problems drawn are shared, as in a plain loop."""
    small, large = PASSED, OTHER
    terms = [stats.Term(1.0, "t", greedy(small)), stats.Term(1.0, "t", greedy(large))]
    ours = stats.bootstrap_interval(terms, resamples=10_000)
    rng = np.random.default_rng(4)
    values = [small[rows].mean() + large[rows].mean() for rows in rng.integers(0, 100, (10_000, 100))]
    low, high = np.percentile(values, [2.5, 97.5])
    assert ours.estimate == pytest.approx(small.mean() + large.mean())
    assert ours.low == pytest.approx(low, abs=3 / 100) and ours.high == pytest.approx(high, abs=3 / 100)


def test_paired_p_value_matches_scipy_permutation_test_and_the_exact_sign_test():
    comparison = stats.paired_comparison(greedy(PASSED), greedy(OTHER), permutations=4000)
    theirs = scipy_stats.permutation_test((PASSED, OTHER), lambda a, b: np.mean(a) - np.mean(b),
                                          permutation_type="samples", n_resamples=20_000,
                                          random_state=np.random.default_rng(5)).pvalue
    assert comparison.difference.estimate == pytest.approx(PASSED.mean() - OTHER.mean())
    assert comparison.p_value == pytest.approx(theirs, abs=0.03)
    discordant = PASSED != OTHER
    sign_test = scipy_stats.binomtest(int((PASSED > OTHER).sum()), int(discordant.sum())).pvalue
    assert comparison.p_value == pytest.approx(sign_test, abs=0.03)
    paired = scipy_stats.bootstrap((PASSED, OTHER), lambda a, b: np.mean(a) - np.mean(b), paired=True,
                                   vectorized=False, n_resamples=5000, method="percentile",
                                   random_state=np.random.default_rng(6)).confidence_interval
    assert comparison.difference.low == pytest.approx(paired.low, abs=1.5 / 100)
    assert comparison.difference.high == pytest.approx(paired.high, abs=1.5 / 100)


def test_hand_worked_comparisons():
    same = stats.paired_comparison(greedy(PASSED), greedy(PASSED))
    assert same.difference.estimate == same.difference.low == same.difference.high == 0.0
    assert same.p_value == 1.0 and not same.significant
    # All 20 problems solved vs none: every swap but the identity gives a smaller |difference|; the
    # chance a random swap leaves all 20 unswapped is 2^-20, so p = 1 / (N + 1) (the +1 correction).
    best = stats.paired_comparison(greedy(np.ones(20, dtype=int)), greedy(np.zeros(20, dtype=int)), permutations=999)
    assert best.difference.estimate == best.difference.low == best.difference.high == 1.0
    assert best.p_value == pytest.approx(1 / 1000) and best.significant
    # One discordant problem of 20: the exact sign test gives p = 1 (a swap of it alone reaches |1/20|).
    one = np.zeros(20, dtype=int)
    one[3] = 1
    assert stats.paired_comparison(greedy(one), greedy(np.zeros(20, dtype=int))).p_value == 1.0


def test_comparisons_use_only_shared_problems_and_say_when_there_are_none():
    a = stats.TaskOutcomes("pass@1", ["x", "y", "z"], n=np.ones(3, dtype=int), passed=np.array([1, 1, 0]))
    b = stats.TaskOutcomes("pass@1", ["z", "y"], n=np.ones(2, dtype=int), passed=np.array([1, 1]))
    assert stats.paired_comparison(a, b).difference.estimate == pytest.approx(0.5 - 1.0)
    c = stats.TaskOutcomes("pass@1", ["w"], n=np.ones(1, dtype=int), passed=np.array([1]))
    with pytest.raises(ValueError, match="no problem is shared"):
        stats.paired_comparison(a, c)


def test_seeds_pool_into_one_cell():
    one = stats.TaskOutcomes("pass@1", ["a", "b"], n=np.array([1, 1]), passed=np.array([1, 0]))
    two = stats.TaskOutcomes("pass@1", ["b", "a"], n=np.array([1, 1]), passed=np.array([1, 1]))
    pooled = stats.pool_seeds([one, two])
    assert pooled.doc_ids == ["a", "b"] and pooled.n.tolist() == [2, 2] and pooled.passed.tolist() == [2, 1]
    labels = np.array([1, 0, 1])
    first = stats.TaskOutcomes("accuracy", ["a", "b", "c"], labels=labels, predictions=np.array([[1, 0, 0]]))
    second = stats.TaskOutcomes("accuracy", ["a", "b", "c"], labels=labels, predictions=np.array([[1, 1, 1]]))
    assert stats.pool_seeds([first, second]).point() == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_outcomes_from_results_entries():
    execution = {"primary_metric": "pass@1", "per_document": [{"doc_id": "T/0", "passed": 2, "n": 4},
                                                              {"doc_id": "T/1", "passed": 0, "n": 4}]}
    assert stats.outcomes_from_results(execution).point() == pytest.approx(0.25)
    classification = {"primary_metric": "accuracy", "per_document": [
        {"doc_id": 1, "label": 1, "prediction": None}, {"doc_id": 2, "label": 0, "prediction": 0}]}
    assert stats.outcomes_from_results(classification).point() == pytest.approx(0.5)
    assert stats.outcomes_from_results({"primary_metric": "mean_characters", "per_document": [{"doc_id": 1}]}) is None
    assert stats.outcomes_from_results({"primary_metric": None}) is None
