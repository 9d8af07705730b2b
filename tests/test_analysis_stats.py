"""Seed variance, bootstrap intervals, paired comparisons, minimum detectable effect."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from stepstone.analysis import (
    bootstrap_ci,
    minimum_detectable_effect,
    paired_comparison,
    seed_variance,
)
from stepstone.errors import AnalysisError


def test_seed_variance_matches_textbook() -> None:
    s = seed_variance([1.0, 2.0, 3.0, 4.0, 5.0])
    assert s.mean == 3.0
    assert s.std == pytest.approx(math.sqrt(2.5))
    assert s.sem == pytest.approx(math.sqrt(2.5 / 5))
    half = 2.7764451051977987 * math.sqrt(0.5)  # t_{0.975, 4}
    assert (s.ci_low, s.ci_high) == pytest.approx((3 - half, 3 + half))
    assert s.cv == pytest.approx(math.sqrt(2.5) / 3)
    assert (s.min, s.max) == (1.0, 5.0)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param([1.0], "at least 2", id="one-seed"),
        pytest.param([1.0, float("inf")], "non-finite", id="inf"),
        pytest.param(["a", "b"], "numbers", id="strings"),
    ],
)
def test_seed_variance_refusals(values: list[object], message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        seed_variance(values)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["BCa", "percentile", "basic"])
def test_bootstrap_ci_covers_mean_of_normal_sample(method: str) -> None:
    x = np.random.default_rng(0).normal(10.0, 2.0, 200)
    ci = bootstrap_ci(x, method=method, n_resamples=2000)
    assert ci.estimate == pytest.approx(x.mean())
    # close to the t interval for a large normal sample
    t_lo, t_hi = st.t.interval(0.95, 199, loc=x.mean(), scale=x.std(ddof=1) / math.sqrt(200))
    assert ci.low == pytest.approx(t_lo, abs=0.08)
    assert ci.high == pytest.approx(t_hi, abs=0.08)


def test_bootstrap_ci_degenerate_and_refusals() -> None:
    ci = bootstrap_ci([2.0, 2.0, 2.0], statistic="median")
    assert (ci.low, ci.estimate, ci.high) == (2.0, 2.0, 2.0)
    with pytest.raises(AnalysisError, match="Unknown statistic"):
        bootstrap_ci([1.0, 2.0], statistic="mode")
    with pytest.raises(AnalysisError, match="Unknown method"):
        bootstrap_ci([1.0, 2.0], method="studentized")


def test_paired_comparison_matches_scipy_ttest_rel() -> None:
    a = [0.61, 0.63, 0.60, 0.65, 0.62, 0.64]
    b = [0.64, 0.65, 0.62, 0.69, 0.63, 0.66]
    res = paired_comparison(a, b)
    ref = st.ttest_rel(b, a)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.mean_diff == pytest.approx(np.mean(np.subtract(b, a)))
    assert res.verdict == "b better" and res.wins == 6 and res.losses == 0
    assert res.wilcoxon_p == pytest.approx(st.wilcoxon(b, a).pvalue)
    lower = paired_comparison(a, b, higher_is_better=False)
    assert lower.verdict == "b worse" and lower.losses == 6


def test_paired_comparison_aligns_seed_mappings() -> None:
    a = {1: 2.0, 2: 2.1, 3: 2.2, 4: 9.0}
    b = {3: 2.2, 1: 2.0, 2: 2.1}
    res = paired_comparison(a, b)
    assert res.seeds == ("1", "2", "3")
    assert res.mean_diff == 0.0 and res.verdict == "no detectable difference"
    assert res.ties == 3 and res.wilcoxon_p is None


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        pytest.param([1.0, 2.0], [1.0], "one value per seed", id="unequal"),
        pytest.param({1: 1.0}, {2: 1.0}, "share no seeds", id="no-common-seed"),
        pytest.param({1: 1.0}, [1.0], "both", id="mixed"),
        pytest.param([1.0], [2.0], "at least 2 seeds", id="one-seed"),
    ],
)
def test_paired_comparison_refusals(a: object, b: object, message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        paired_comparison(a, b)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("d", "n_needed", "paired_design"),
    [
        # Cohen (1988) / G*Power, two-sided α = 0.05, power 0.8
        pytest.param(0.5, 64, False, id="two-sample-d0.5-n64"),
        pytest.param(0.8, 26, False, id="two-sample-d0.8-n26"),
        pytest.param(0.2, 394, False, id="two-sample-d0.2-n394"),
        pytest.param(0.5, 34, True, id="paired-d0.5-n34"),
    ],
)
def test_minimum_detectable_effect_published_sample_sizes(
    d: float, n_needed: int, paired_design: bool
) -> None:
    at_n = minimum_detectable_effect(1.0, n_needed, paired_design=paired_design)
    below = minimum_detectable_effect(1.0, n_needed - 1, paired_design=paired_design)
    assert at_n.effect_in_std <= d < below.effect_in_std


def test_minimum_detectable_effect_scales_with_std_and_power() -> None:
    base = minimum_detectable_effect(0.02, 5)
    assert base.effect == pytest.approx(0.02 * base.effect_in_std)
    assert minimum_detectable_effect(0.02, 5, power=0.9).effect > base.effect
    assert minimum_detectable_effect(0.02, 5, alternative="one-sided").effect < base.effect
    with pytest.raises(AnalysisError, match="std"):
        minimum_detectable_effect(0.0, 5)
    with pytest.raises(AnalysisError, match="at least 2"):
        minimum_detectable_effect(1.0, 1)
