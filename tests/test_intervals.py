"""Standard errors, bootstrap intervals and paired comparisons (`astraios.intervals`) of the scores of
`astraios.outcomes`, each against a computation written independently: scipy.stats (sem, bootstrap,
permutation_test, binomtest), plain Python loops over `astraios.metrics`, exact enumeration of every
resample, and hand-worked cases.

Monte Carlo tolerances: a percentile of B = 10,000 resamples moves by about 0.1 standard error of
the score, and pass@1 on P problems moves in steps of 1/P, so intervals are compared to within 1.5
steps; a standard deviation estimated from B resamples has a relative standard error of about
1 / sqrt(2B) (1.6% for B = 2,000), so two independent ones differ by more than 10% with
probability below 1e-5; a p-value from N permutations has a standard error of sqrt(p(1-p)/N) <= 0.008
for N = 4,000, so p-values are compared to within 0.03 (about 4 standard errors).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import scipy.stats as scipy_stats  # a test dependency: its absence must fail, not skip

from astraios import intervals, metrics
from astraios.outcomes import (
    CLASSIFICATION_METRICS,
    ClassificationOutcomes,
    ExecutionOutcomes,
    SecurityOutcomes,
    outcomes_from_results,
    pool_seeds,
)

RNG = np.random.default_rng(7)
PASSED = (RNG.random(100) < 0.4).astype(int)  # 100 problems, one greedy sample each
OTHER = np.where(RNG.random(100) < 0.25, 1 - PASSED, PASSED)  # a second method, paired


def greedy(passed) -> ExecutionOutcomes:
    return ExecutionOutcomes("pass@1", [f"P/{i}" for i in range(len(passed))], n=np.ones(len(passed), dtype=int),
                             passed=np.asarray(passed))


def classification(metric, labels, predictions) -> ClassificationOutcomes:
    return ClassificationOutcomes(metric, [str(i) for i in range(len(labels))], labels=np.asarray(labels),
                                  predictions=np.asarray(predictions)[:, None])


def f1(y, p):  # written out here, independently of astraios
    tp = np.sum((p == 1) & (y == 1))
    fp = np.sum((p == 1) & (y == 0))
    fn = np.sum((p != 1) & (y == 1))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


# ----------------------------------------------------------------------------------------------
# Point scores: the outcomes recompute what `astraios.metrics` reports


def test_point_scores_equal_the_metrics_module():
    n = RNG.integers(1, 8, 50)
    c = np.array([RNG.integers(0, k + 1) for k in n])
    for k in (1, 2):
        outcomes = ExecutionOutcomes(f"pass@{k}", [str(i) for i in range(50)], n=np.maximum(n, 2), passed=c)
        expected = metrics.pass_at_k_table(zip(np.maximum(n, 2), c), ks=(k,))[f"pass@{k}"]
        assert outcomes.point() == pytest.approx(expected, rel=1e-12)
    labels = RNG.integers(0, 2, 80)
    predictions = np.where(RNG.random(80) < 0.1, -1, RNG.integers(0, 2, 80))
    expected = metrics.classification_metrics(labels.tolist(), [None if p == -1 else int(p) for p in predictions])
    for metric in CLASSIFICATION_METRICS:
        assert classification(metric, labels, predictions).point() == pytest.approx(expected[metric], rel=1e-12), metric


# ----------------------------------------------------------------------------------------------
# Standard errors, as lm-evaluation-harness computes them


def test_standard_error_of_a_mean_is_the_sample_standard_error():
    n = np.full(30, 10)
    c = RNG.integers(0, 11, 30)
    for k in (1, 5):
        outcomes = ExecutionOutcomes(f"pass@{k}", [str(i) for i in range(30)], n=n, passed=c)
        values = [metrics.pass_at_k(10, int(passed), k) for passed in c]
        assert intervals.standard_error(outcomes) == pytest.approx(scipy_stats.sem(values), rel=1e-12)
    # Hand-worked: 3 of 4 right; the values 1, 1, 0, 1 have sd 0.5, so the standard error is 0.5 / 2.
    assert intervals.standard_error(classification("accuracy", [1, 1, 1, 0], [1, 1, 0, 0])) == pytest.approx(0.25)
    # invalid_rate is a mean too: 1 unparseable of 4 -> the same 0.25.
    assert intervals.standard_error(classification("invalid_rate", [1, 1, 1, 0], [1, -1, 1, 0])) == pytest.approx(0.25)


def test_standard_error_of_f1_is_the_exact_bootstrap_standard_deviation():
    """Five problems have 5^5 equally likely resamples: their F1s give the exact bootstrap distribution."""
    labels, predictions = np.array([1, 1, 0, 1, 0]), np.array([1, 0, 1, 1, 0])
    exact = [f1(labels[list(rows)], predictions[list(rows)]) for rows in itertools.product(range(5), repeat=5)]
    ours = intervals.standard_error(classification("f1_positive", labels, predictions), resamples=20_000)
    # The exact distribution's sd with ddof=1 over 3,125 resamples; ours from 20,000 draws (0.5% relative error).
    assert ours == pytest.approx(np.std(exact, ddof=1), rel=0.03)


def test_the_problem_bootstrap_is_calibrated_for_several_samples_per_problem():
    """Benchmarks drawn from a two-level model (a problem's pass rate, then its 5 samples): the
    standard error from one benchmark estimates the spread of pass@1 across benchmarks. Redrawing
    each problem's samples inside the bootstrap too would count their noise twice (about 22% more
    variance here); resampling problems is within a few percent."""
    rng = np.random.default_rng(11)
    problems, samples = 40, 5
    benchmarks = [rng.binomial(samples, rng.random(problems)) for _ in range(4000)]
    true_variance = np.var([passed.mean() / samples for passed in benchmarks], ddof=1)
    estimates = [intervals.standard_error(ExecutionOutcomes("pass@1", [str(i) for i in range(problems)],
                                                            n=np.full(problems, samples), passed=passed)) ** 2
                 for passed in benchmarks[:400]]
    # Relative standard errors: about 2.2% for the 4,000-benchmark variance, 1.1% for the mean of 400 estimates.
    assert np.mean(estimates) == pytest.approx(true_variance, rel=0.08)
    interval = intervals.bootstrap_interval(ExecutionOutcomes("pass@1", [str(i) for i in range(problems)],
                                                              n=np.full(problems, samples), passed=benchmarks[0]),
                                            resamples=10_000)
    plain = [(benchmarks[0][rows] / samples).mean() for rows in rng.integers(0, problems, (10_000, problems))]
    assert interval.low == pytest.approx(np.percentile(plain, 2.5), abs=1.5 / (problems * samples))
    assert interval.high == pytest.approx(np.percentile(plain, 97.5), abs=1.5 / (problems * samples))


# ----------------------------------------------------------------------------------------------
# Bootstrap intervals


def test_bootstrap_interval_matches_scipy_for_pass_at_1():
    ours = intervals.bootstrap_interval(greedy(PASSED), resamples=10_000)
    theirs = scipy_stats.bootstrap((PASSED,), np.mean, n_resamples=10_000, method="percentile",
                                   random_state=np.random.default_rng(1)).confidence_interval
    assert ours.estimate == PASSED.mean()
    assert ours.low == pytest.approx(theirs.low, abs=1.5 / len(PASSED))
    assert ours.high == pytest.approx(theirs.high, abs=1.5 / len(PASSED))


def test_bootstrap_interval_of_f1_matches_scipy_paired_resampling():
    labels = RNG.integers(0, 2, 200)
    predictions = np.where(RNG.random(200) < 0.7, labels, 1 - labels)
    ours = intervals.bootstrap_interval(classification("f1_positive", labels, predictions), resamples=10_000)
    result = scipy_stats.bootstrap((labels, predictions), f1, paired=True, vectorized=False, n_resamples=10_000,
                                   method="percentile", random_state=np.random.default_rng(2))
    assert ours.estimate == pytest.approx(f1(labels, predictions), rel=1e-12)
    theirs = result.confidence_interval
    assert ours.low == pytest.approx(theirs.low, abs=0.01) and ours.high == pytest.approx(theirs.high, abs=0.01)
    stderr = intervals.standard_error(classification("f1_positive", labels, predictions))
    assert stderr == pytest.approx(result.standard_error, rel=0.10)


def test_security_rates_are_ratios_resampled_by_scenario():
    """insecure rate = vulnerable / decided programs, summed over scenarios: a ratio, resampled by scenario."""
    scenarios = 25
    generated = np.full(scenarios, 10)
    valid = RNG.integers(3, 11, scenarios)
    decided = valid - RNG.integers(0, 2, scenarios)
    vulnerable = np.array([RNG.integers(0, d + 1) for d in decided])
    counts = np.column_stack([generated, valid, decided, vulnerable])
    for metric, (part, whole) in {"valid_rate": (valid, generated), "insecure_rate": (vulnerable, decided)}.items():
        outcomes = SecurityOutcomes(metric, [str(i) for i in range(scenarios)], counts=counts)
        expected = metrics.security_rates(int(generated.sum()), int(valid.sum()), int(vulnerable.sum()),
                                          int(decided.sum()))[metric]
        assert outcomes.point() == pytest.approx(expected, rel=1e-12)
        result = scipy_stats.bootstrap((part, whole), lambda a, b: a.sum() / b.sum(), paired=True, vectorized=False,
                                       n_resamples=10_000, method="percentile", random_state=np.random.default_rng(3))
        ours = intervals.bootstrap_interval(outcomes, resamples=10_000)
        stderr = intervals.standard_error(outcomes)
        assert stderr == pytest.approx(result.standard_error, rel=0.10)
        assert ours.low == pytest.approx(result.confidence_interval.low, abs=0.3 * stderr)
        assert ours.high == pytest.approx(result.confidence_interval.high, abs=0.3 * stderr)


def robustness_entry(rng, problems=30, transformations=("A", "B", "C"), seeds=2, n=1):
    """A ReCode results entry as the task writes it: every sample's verdict per document."""
    documents = []
    for problem in range(problems):
        skill = rng.random()
        documents.append({"doc_id": f"P{problem}/nominal", "problem": f"P{problem}", "transformation": None,
                          "verdicts": (rng.random(n) < skill).tolist()})
        for name in transformations:
            for seed in range(seeds):
                documents.append({"doc_id": f"P{problem}/{name}/s{seed}", "problem": f"P{problem}",
                                  "transformation": name, "verdicts": (rng.random(n) < skill * 0.9).tolist()})
    for document in documents:
        document.update(n=len(document["verdicts"]), passed=sum(document["verdicts"]))
    return {"primary_metric": "RP@1", "per_document": documents}


def problem_counts(documents):
    """Per problem: its nominal verdicts and, per transformation, `astraios.metrics.robust_counts`."""
    by_problem = {}
    for document in documents:
        by_problem.setdefault(document["problem"], []).append(document)
    counts = {}
    for problem, mine in by_problem.items():
        nominal = next(d["verdicts"] for d in mine if d["transformation"] is None)
        names = sorted({d["transformation"] for d in mine} - {None})
        counts[problem] = (nominal, {name: metrics.robust_counts(nominal, [d["verdicts"] for d in mine
                                                                           if d["transformation"] == name])
                                     for name in names})
    return counts


def recode_scores(drawn, k=1):
    """What the ReCode task computes from the drawn problems' counts, through `astraios.metrics`."""
    names = sorted(drawn[0][1])
    tables = {name: metrics.robustness_table([robust[name] for _, robust in drawn], ks=(k,)) for name in names}
    nominal_table = metrics.pass_at_k_table([(len(nominal), sum(nominal)) for nominal, _ in drawn], ks=(k,))
    return {key: value for key, value in metrics.robustness_summary(tables, nominal_table).items()
            if not key.startswith("mean ")}


def test_recode_scores_are_recomputed_and_resampled_by_problem(monkeypatch):
    monkeypatch.setattr(metrics, "pass_at_k", functools.lru_cache(metrics.pass_at_k))  # the same values, once each
    rng = np.random.default_rng(5)
    entry = robustness_entry(rng)
    counts = problem_counts(entry["per_document"])
    problems = sorted(counts)
    expected = recode_scores([counts[problem] for problem in problems])
    assert set(expected) == {"pass@1", "RP@1", "RD@1", "RR@1", "RC@1"}
    # The bootstrap as a loop: draw problems with replacement, score them as the task does.
    plain = [recode_scores([counts[problems[row]] for row in rows])
             for rows in rng.integers(0, len(problems), (2000, len(problems)))]
    for metric, value in expected.items():
        outcomes = outcomes_from_results(entry, metric)
        assert outcomes.point() == pytest.approx(value, rel=1e-12), metric
        replicates = np.array([scores[metric] for scores in plain])
        stderr = intervals.standard_error(outcomes)
        assert stderr == pytest.approx(np.std(replicates, ddof=1), rel=0.10), metric
        interval = intervals.bootstrap_interval(outcomes)
        step = 1 / len(problems) * (2 if metric == "RD@1" else 1)  # RD is a ratio: its steps are coarser
        assert interval.low == pytest.approx(np.percentile(replicates, 2.5), abs=1.5 * step), metric
        assert interval.high == pytest.approx(np.percentile(replicates, 97.5), abs=1.5 * step), metric


def test_a_sum_of_scores_resamples_each_task_once_for_all_its_terms():
    """Two sizes on the same task, summed: the problems drawn are shared, as in a plain loop."""
    small, large = PASSED, OTHER
    terms = [intervals.Term(1.0, "t", greedy(small)), intervals.Term(1.0, "t", greedy(large))]
    ours = intervals.bootstrap_interval(terms, resamples=10_000)
    rng = np.random.default_rng(4)
    values = [small[rows].mean() + large[rows].mean() for rows in rng.integers(0, 100, (10_000, 100))]
    low, high = np.percentile(values, [2.5, 97.5])
    assert ours.estimate == pytest.approx(small.mean() + large.mean())
    assert ours.low == pytest.approx(low, abs=3 / 100) and ours.high == pytest.approx(high, abs=3 / 100)


def test_an_undefined_score_has_no_interval():
    nothing_valid = SecurityOutcomes("insecure_rate", ["a", "b"], counts=np.array([[5, 0, 0, 0], [5, 0, 0, 0]]))
    with pytest.raises(intervals.UndefinedScore):
        intervals.bootstrap_interval(nothing_valid)
    # Defined on the data, undefined on the resamples that draw only scenario "a".
    sometimes = SecurityOutcomes("insecure_rate", ["a", "b"], counts=np.array([[5, 0, 0, 0], [5, 4, 4, 1]]))
    assert sometimes.point() == 0.25
    with pytest.raises(intervals.UndefinedScore, match="undefined in"):
        intervals.standard_error(sometimes)


# ----------------------------------------------------------------------------------------------
# Paired comparisons


def test_paired_p_value_matches_scipy_permutation_test_and_the_exact_sign_test():
    comparison = intervals.paired_comparison(greedy(PASSED), greedy(OTHER), permutations=4000)
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
    same = intervals.paired_comparison(greedy(PASSED), greedy(PASSED))
    assert same.difference.estimate == same.difference.low == same.difference.high == 0.0
    assert same.p_value == 1.0 and not same.significant
    # All 20 problems solved vs none: every swap but the identity gives a smaller |difference|; the
    # chance a random swap leaves all 20 unswapped is 2^-20, so p = 1 / (N + 1) (the +1 correction).
    best = intervals.paired_comparison(greedy(np.ones(20, dtype=int)), greedy(np.zeros(20, dtype=int)),
                                       permutations=999)
    assert best.difference.estimate == best.difference.low == best.difference.high == 1.0
    assert best.p_value == pytest.approx(1 / 1000) and best.significant
    # One discordant problem of 20: the exact sign test gives p = 1 (a swap of it alone reaches |1/20|).
    one = np.zeros(20, dtype=int)
    one[3] = 1
    assert intervals.paired_comparison(greedy(one), greedy(np.zeros(20, dtype=int))).p_value == 1.0


def test_comparisons_use_only_shared_problems_and_say_when_there_are_none():
    a = ExecutionOutcomes("pass@1", ["x", "y", "z"], n=np.ones(3, dtype=int), passed=np.array([1, 1, 0]))
    b = ExecutionOutcomes("pass@1", ["z", "y"], n=np.ones(2, dtype=int), passed=np.array([1, 1]))
    assert intervals.paired_comparison(a, b).difference.estimate == pytest.approx(0.5 - 1.0)
    c = ExecutionOutcomes("pass@1", ["w"], n=np.ones(1, dtype=int), passed=np.array([1]))
    with pytest.raises(ValueError, match="no problem is shared"):
        intervals.paired_comparison(a, c)


# ----------------------------------------------------------------------------------------------
# Reading outcomes, pooling seeds, and results.json's stderr and ci95


def test_seeds_pool_into_one_cell():
    one = ExecutionOutcomes("pass@1", ["a", "b"], n=np.array([1, 1]), passed=np.array([1, 0]))
    two = ExecutionOutcomes("pass@1", ["b", "a"], n=np.array([1, 1]), passed=np.array([1, 1]))
    pooled = pool_seeds([one, two])
    assert pooled.doc_ids == ["a", "b"] and pooled.n.tolist() == [2, 2] and pooled.passed.tolist() == [2, 1]
    first = classification("accuracy", [1, 0, 1], [1, 0, 0])
    second = classification("accuracy", [1, 0, 1], [1, 1, 1])
    assert pool_seeds([first, second]).point() == pytest.approx((2 / 3 + 2 / 3) / 2)


def test_outcomes_from_results_entries():
    execution = {"primary_metric": "pass@1", "per_document": [{"doc_id": "T/0", "passed": 2, "n": 4},
                                                              {"doc_id": "T/1", "passed": 0, "n": 4}]}
    assert outcomes_from_results(execution).point() == pytest.approx(0.25)
    classified = {"primary_metric": "accuracy", "per_document": [
        {"doc_id": 1, "label": 1, "prediction": None}, {"doc_id": 2, "label": 0, "prediction": 0}]}
    assert outcomes_from_results(classified).point() == pytest.approx(0.5)
    assert outcomes_from_results(classified, "invalid_rate").point() == pytest.approx(0.5)
    security = {"primary_metric": "insecure_rate", "per_document": [
        {"doc_id": "a", "n": 4, "valid": 3, "decided": 2, "vulnerable": 1},
        {"doc_id": "b", "n": 4, "valid": 4, "decided": 4, "vulnerable": 0}]}
    assert outcomes_from_results(security).point() == pytest.approx(1 / 6)
    assert outcomes_from_results(security, "valid_rate").point() == pytest.approx(7 / 8)
    assert outcomes_from_results({"primary_metric": "mean_characters", "per_document": [{"doc_id": 1}]}) is None
    assert outcomes_from_results({"primary_metric": None}) is None


def test_entry_uncertainty_gives_every_metric_a_standard_error_and_checks_the_score():
    labels, predictions = [1, 1, 1, 0], [1, 1, 0, 0]
    entry = {"primary_metric": "accuracy",
             "metrics": metrics.classification_metrics(labels, predictions),
             "per_document": [{"doc_id": i, "label": y, "prediction": p} for i, (y, p) in enumerate(zip(labels, predictions))]}
    found = intervals.entry_uncertainty(entry)
    assert found["warnings"] == []
    assert set(found["stderr"]) == set(entry["metrics"])
    assert found["stderr"]["accuracy"] == pytest.approx(0.25)
    assert found["ci95"]["accuracy"] == [pytest.approx(x) for x in
                                         (lambda i: [i.low, i.high])(intervals.bootstrap_interval(
                                             outcomes_from_results(entry)))]
    # A score its own records do not give is a defect: no interval, and a warning naming both numbers.
    entry["metrics"]["accuracy"] = 0.8
    broken = intervals.entry_uncertainty(entry)
    assert broken["stderr"]["accuracy"] is None and broken["ci95"]["accuracy"] is None
    assert broken["warnings"] == ["no standard error for accuracy: the per-document records give 0.75, not the "
                                  "reported 0.8"]
