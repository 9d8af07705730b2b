"""Compute-efficiency gain: known gains recovered, undefined below E, trend verdicts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stepstone.analysis import efficiency_gain, fit_scaling_law, gain_curve
from stepstone.analysis.fit import ScalingFit
from stepstone.analysis.gain import _trend
from stepstone.analysis.scaling import ChinchillaLaw
from stepstone.errors import AnalysisError

E, A, ALPHA = 1.8, 300.0, 0.08
RUNGS = np.array([1e19, 1e20, 1e21, 1e22])


def law(c: np.ndarray | float, a: float = A, alpha: float = ALPHA) -> np.ndarray:
    return E + a * np.asarray(c, dtype=float) ** -alpha


@pytest.fixture(scope="module")
def exact_fit() -> ScalingFit:
    c = np.logspace(18, 22, 10)
    return fit_scaling_law("compute", compute=c, loss=law(c), n_bootstrap=50, holdout=0)


@pytest.fixture(scope="module")
def noisy_fit() -> ScalingFit:
    rng = np.random.default_rng(11)
    c = np.logspace(18, 22, 16)
    loss = law(c) * np.exp(rng.normal(0, 0.003, c.size))
    return fit_scaling_law("compute", compute=c, loss=loss, n_bootstrap=300, holdout=0)


@pytest.mark.parametrize(
    ("gains", "verdict"),
    [
        pytest.param([1.25, 1.25, 1.25, 1.25], "stable", id="stable"),
        pytest.param([1.1, 1.3, 1.6, 2.0], "rising", id="rising"),
        pytest.param([2.0, 1.6, 1.3, 1.1], "falling", id="falling"),
        pytest.param([1.2, 1.9, 1.1, 1.8], "inconclusive", id="noisy"),
    ],
)
def test_known_gains_and_trend(exact_fit: ScalingFit, gains: list[float], verdict: str) -> None:
    # a run that spends C and reaches the loss the baseline reaches with g·C has gain g
    loss = [float(law(c * g)) for c, g in zip(RUNGS, gains, strict=True)]
    res = efficiency_gain(exact_fit, RUNGS, loss)
    assert [r.gain for r in res.rungs] == pytest.approx(gains, rel=1e-6)
    assert all(r.defined for r in res.rungs)
    assert res.trend.verdict == verdict, res.trend.explanation
    assert res.comparison == "baseline law L(C)"
    json.dumps(res.to_dict(), allow_nan=False)


def test_gain_undefined_at_or_below_irreducible_loss(exact_fit: ScalingFit) -> None:
    res = efficiency_gain(exact_fit, [1e20, 1e21], [float(law(2e20)), 1.79])
    good, bad = res.rungs
    assert good.gain == pytest.approx(2.0, rel=1e-6)
    assert not bad.defined and bad.gain is None and bad.ci_low is None
    assert "irreducible loss" in bad.note
    assert res.trend.verdict == "inconclusive"
    assert not res.all_above(1.0)


def test_gain_interval_from_baseline_uncertainty(noisy_fit: ScalingFit) -> None:
    res = efficiency_gain(noisy_fit, RUNGS, [float(law(c * 1.5)) for c in RUNGS])
    for r in res.rungs:
        assert r.ci_low is not None and r.ci_high is not None
        assert r.ci_low <= r.gain <= r.ci_high  # type: ignore[operator]
        assert r.ci_low <= 1.5 <= r.ci_high
    assert res.all_above(1.0)
    assert res.trend.verdict in ("stable", "inconclusive")
    lo, hi = res.trend.ci_low, res.trend.ci_high
    assert lo is not None and hi is not None and lo < 0 < hi


def test_unbounded_upper_end_when_refits_put_e_above_loss() -> None:
    rng = np.random.default_rng(2)
    c = np.logspace(18, 20, 8)
    fit = fit_scaling_law(
        "compute",
        compute=c,
        loss=law(c) * np.exp(rng.normal(0, 0.01, 8)),
        n_bootstrap=200,
        holdout=0,
    )
    # two decades of noisy runs leave E poorly pinned: many refits put E above this loss
    assert fit.param("E").ci_high > fit.values["E"] + 0.3
    rung = efficiency_gain(fit, [1e20], [fit.values["E"] + 0.3]).rungs[0]
    assert rung.defined and rung.gain is not None
    assert rung.ci_high is None and "never reach" in rung.note
    assert json.loads(json.dumps(rung.to_dict()))["ci_high"] is None


def test_same_size_comparison_with_chinchilla_baseline() -> None:
    n = np.repeat(np.logspace(7.5, 10, 6), 5)
    d = np.tile(np.logspace(9.5, 11.5, 5), 6)
    loss = 1.69 + 406.4 / n**0.34 + 410.7 / d**0.28
    grid = {"alpha": (0.5,), "beta": (0.5,)}
    fit = fit_scaling_law(ChinchillaLaw(grid=grid), n=n, d=d, loss=loss, n_bootstrap=10, holdout=0)
    # a 1e9 model trained on 2e10 tokens reaching the loss the baseline reaches at 3e10 tokens
    target = 1.69 + 406.4 / 1e9**0.34 + 410.7 / 3e10**0.28
    res = efficiency_gain(fit, [6 * 1e9 * 2e10], [target], n=[1e9])
    assert res.comparison == "same model size"
    assert res.rungs[0].gain == pytest.approx(1.5, rel=1e-6)
    floor = 1.69 + 406.4 / 1e9**0.34
    res = efficiency_gain(fit, [1.2e20], [floor - 0.01], n=[1e9])
    assert not res.rungs[0].defined and "unlimited data" in res.rungs[0].note
    frontier = efficiency_gain(fit, [1.2e20], [target])
    assert frontier.comparison == "compute-optimal frontier"


def test_gain_curve_constant_when_exponents_match() -> None:
    c = np.logspace(18, 22, 10)
    base = fit_scaling_law("compute", compute=c, loss=law(c), n_bootstrap=20, holdout=0)
    new = fit_scaling_law("compute", compute=c, loss=law(c, a=200.0), n_bootstrap=20, holdout=0)
    curve = gain_curve(base, new, [1e19, 1e21, 1e23])
    expected = (300.0 / 200.0) ** (1 / ALPHA)
    assert [p.gain for p in curve.points] == pytest.approx([expected] * 3, rel=1e-6)


def test_gain_curve_reports_gain_of_c_when_exponents_differ() -> None:
    rng = np.random.default_rng(5)
    c = np.logspace(18, 22, 14)
    noise = np.exp(rng.normal(0, 0.002, c.size))
    base = fit_scaling_law("compute", compute=c, loss=law(c) * noise, n_bootstrap=200, holdout=0)
    new = fit_scaling_law(
        "compute", compute=c, loss=law(c, alpha=0.1) * noise, n_bootstrap=200, holdout=0
    )
    curve = gain_curve(base, new, np.logspace(19, 23, 5))
    assert curve.exponents_differ and "gain(C)" in curve.note
    gains = [p.gain for p in curve.points if p.gain is not None]
    assert len(gains) == len(curve.points)
    assert gains == sorted(gains)  # the steeper law pulls ahead with scale


def test_gain_refusals(exact_fit: ScalingFit) -> None:
    with pytest.raises(AnalysisError, match="one pair per rung"):
        efficiency_gain(exact_fit, [1e20, 1e21], [2.0])
    with pytest.raises(AnalysisError, match="positive"):
        efficiency_gain(exact_fit, [0.0], [2.0])
    with pytest.raises(AnalysisError, match="chinchilla"):
        efficiency_gain(exact_fit, [1e20], [2.0], n=[1e9])
    with pytest.raises(AnalysisError, match="labels"):
        efficiency_gain(exact_fit, [1e20], [2.0], labels=["a", "b"])


def test_trend_counts_draws_that_never_reach_a_rung_instead_of_dropping_them() -> None:
    # joint draws of the gains at 3 rungs (the law's error and the seeds'): in 10 of 100 the
    # largest rung's loss lies below the drawn law's reach, an infinite gain there
    rungs = np.array([1e19, 1e20, 1e21])
    point = np.full(3, 1.5)
    good = 1.5 * np.exp(np.outer(np.linspace(-0.01, 0.01, 100), [1.0, 0.5, -1.0]))
    bad = good.copy()
    bad[:10, 2] = np.inf
    clean = _trend(rungs, point, good, 0.95, 0.1)
    mixed = _trend(rungs, point, bad, 0.95, 0.1)
    assert clean.unreachable_fraction == 0.0
    assert mixed.unreachable_fraction == pytest.approx(0.10)
    # dropping the 10 draws would leave 90 finite slopes and a narrower interval; counting
    # them as infinite slopes beyond the 97.5% quantile makes it unbounded
    assert mixed.ci_low is None and mixed.ci_high is None
    assert mixed.verdict == "inconclusive" and "10%" in mixed.explanation
    assert clean.ci_low is not None and clean.ci_high is not None
    # 2 of 100 stay inside the tails: the interval stays finite and the fraction is said
    few = good.copy()
    few[:2, 2] = np.inf
    some = _trend(rungs, point, few, 0.95, 0.1)
    assert some.unreachable_fraction == pytest.approx(0.02)
    assert some.ci_low is not None and "2% of the draws" in some.explanation


def test_bootstrap_slope_spread_is_the_standard_deviation_for_normal_slopes() -> None:
    from stepstone.analysis.gain import _slope_se

    rng = np.random.default_rng(0)
    dx = np.array([-1.0, 0.0, 1.0])
    slopes = rng.normal(0.0, 0.2, 20000)
    samples = np.exp(np.outer(slopes, dx))  # ln g = slope·dx, so each row's slope is exact
    se, unreachable = _slope_se(samples, dx / float(dx @ dx), 0.95)
    assert se == pytest.approx(0.2, rel=0.03) and unreachable == 0.0


def test_gain_warns_when_runs_count_flops_differently(exact_fit: ScalingFit) -> None:
    loss = [float(law(2 * c)) for c in RUNGS]
    same = efficiency_gain(exact_fit, RUNGS, loss, flops_method=exact_fit.flops_method)
    assert same.warnings == () and same.runs_flops_method == exact_fit.flops_method
    other = efficiency_gain(exact_fit, RUNGS, loss, flops_method="kaplan")
    (warning,) = other.warnings
    assert "kaplan" in warning and exact_fit.flops_method in warning
    assert efficiency_gain(exact_fit, RUNGS, loss).warnings == ()  # unsaid: no claim


def test_a_small_share_of_unreachable_refits_never_reads_zero_percent() -> None:
    from stepstone.analysis._common import share

    assert [share(f) for f in (0.0, 0.0004, 0.005, 0.1, 0.995, 1.0)] == [
        "0%", "<0.1%", "0.5%", "10%", "99.5%", "100%"]


def test_gain_interval_carries_the_seed_noise(exact_fit: ScalingFit) -> None:
    """Defect: two seeds around a true gain of 2 gave the interval [2, 2] (the seeds' spread
    was dropped); now it is wide enough to hold the truth and to refuse 1.9."""
    from stepstone.analysis.uncertainty import seed_noise

    c = 1e20
    seeds = [float(law(2 * c)) - 0.01, float(law(2 * c)) + 0.01]
    mean = sum(seeds) / 2
    exact = efficiency_gain(exact_fit, [c], [mean])
    assert exact.rungs[0].ci_high - exact.rungs[0].ci_low < 1e-6  # the old answer: [2, 2]
    noisy = efficiency_gain(exact_fit, [c], [mean], noise=[seed_noise(seeds)])
    rung = noisy.rungs[0]
    assert rung.ci_low < 1.9 and rung.ci_high > 2.1
    assert "from its 2 seeds" in rung.seed_noise and rung.caveat == ""
    assert rung.ci_low < 2.0 < rung.ci_high


def test_one_seed_borrows_the_noise_floor_or_says_it_ignores_seed_noise(
        exact_fit: ScalingFit) -> None:
    from stepstone.analysis.uncertainty import seed_noise

    c = 1e20
    floor = efficiency_gain(exact_fit, [c], [float(law(2 * c))],
                            noise=[seed_noise([float(law(2 * c))], 0.02, 4)]).rungs[0]
    assert floor.ci_low < 1.9 and "noise floor" in floor.seed_noise and not floor.caveat
    alone = efficiency_gain(exact_fit, [c], [float(law(2 * c))],
                            noise=[seed_noise([float(law(2 * c))])]).rungs[0]
    assert "ignores seed noise" in alone.caveat


def test_a_law_with_too_few_points_gives_no_interval() -> None:
    """Defect: a 3-parameter law on 3 points printed E 3.364 [3.364, 3.364], a zero-width
    gain and a 'rising' trend."""
    c = np.array([1e18, 1e19, 1e20])
    fit = fit_scaling_law("compute", compute=c, loss=law(c), n_bootstrap=50, holdout=0)
    result = efficiency_gain(fit, c, law(2 * c))
    for rung in result.rungs:
        assert rung.ci_low is None and rung.ci_high is None
        assert "3 parameters fitted to 3 points" in rung.caveat
    assert result.trend.verdict == "inconclusive"
    assert "3 parameters fitted to 3 points" in result.trend.explanation


def test_three_rung_trend_is_not_blown_up_by_a_t_with_one_degree_of_freedom(
        noisy_fit: ScalingFit) -> None:
    """Defect: with 3 rungs a t quantile with 1 degree of freedom (12.7) multiplied the
    bootstrap term too, so a flat gain over a noisy baseline was inconclusive every time
    ([-0.115, +0.117] here) instead of stable."""
    rungs = np.array([1e19, 1e20, 1e21])
    result = efficiency_gain(noisy_fit, rungs, [float(law(1.3 * c)) for c in rungs])
    assert result.trend.verdict == "stable", result.trend.explanation


def test_trend_weights_each_rung_by_its_uncertainty(exact_fit: ScalingFit) -> None:
    """Defect: the fit was unweighted. A rung measured on noisy seeds (wide interval) moves
    the slope less than precise ones: 1.2, 1.2 and a noisy 2.0 stay near flat."""
    from stepstone.analysis.uncertainty import seed_noise

    rungs = np.array([1e19, 1e20, 1e21])
    loss = [float(law(g * c)) for g, c in zip((1.2, 1.2, 2.0), rungs, strict=True)]
    precise = [seed_noise([v - 1e-4, v, v + 1e-4]) for v in loss[:2]]
    noisy = seed_noise([loss[2] - 0.3, loss[2], loss[2] + 0.3])
    result = efficiency_gain(exact_fit, rungs, loss, noise=[*precise, noisy])
    unweighted = np.polyfit(np.log10(rungs), np.log([1.2, 1.2, 2.0]), 1)[0]
    assert result.trend.slope_per_decade is not None
    assert abs(result.trend.slope_per_decade) < 0.2 * unweighted
