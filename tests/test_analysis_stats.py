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
