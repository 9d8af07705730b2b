"""The rules' standard-library intervals against scipy (the `analysis` extra)."""

from __future__ import annotations

import pytest

from stepstone.method.rules.intervals import critical, mean_interval, mover_sum, wilson

stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 5, 7, 10, 29, 200])
@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_t_critical_values_match_scipy(dof: int, confidence: float) -> None:
    expected = float(stats.t.ppf(0.5 + confidence / 2, dof))
    assert critical(confidence, dof) == pytest.approx(expected, rel=1e-9)


def test_normal_critical_value_for_infinite_dof() -> None:
    assert critical(0.95, float("inf")) == pytest.approx(1.959964, rel=1e-6)


def test_mean_interval_is_the_t_interval() -> None:
    values = [2.0, 2.1, 2.3, 1.9]
    res = stats.ttest_1samp(values, 0).confidence_interval(0.95)
    mean, low, high = mean_interval(values, 0.95)
    assert (low, high) == pytest.approx((res.low, res.high))
    assert mean == pytest.approx(2.075)


def test_wilson_matches_the_analysis_helper() -> None:
    from stepstone.analysis._common import wilson_interval

    for wins, n in ((0, 10), (3, 10), (81, 100), (100, 100)):
        assert wilson(wins, n, 0.95)[1:] == pytest.approx(wilson_interval(wins, n, 0.95))


def test_mover_adds_squared_half_widths() -> None:
    value, low, high = mover_sum((1.0, 0.7, 1.4), (2.0, 1.6, 2.3))
    assert value == 3.0
    assert low == pytest.approx(3.0 - 0.5) and high == pytest.approx(3.0 + 0.5)
