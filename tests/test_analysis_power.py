"""Power and detectable effects against known answers (G*Power, the noncentral t, the normal)."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from stepstone.analysis.power import (
    detectable_effect,
    gain_noise,
    normal_power,
    seeds_for_power,
)
from stepstone.errors import AnalysisError


def _exact_power(d: float, k: int) -> float:
    """Two-sided one-sample (paired) t-test power from the noncentral t."""
    t = stats.t.ppf(0.975, k - 1)
    nc = d * math.sqrt(k)
    return float(stats.nct.sf(t, k - 1, nc) + stats.nct.cdf(-t, k - 1, nc))


@pytest.mark.parametrize(("d", "seeds"), [(0.5, 34), (0.8, 15), (1.0, 10), (0.2, 199)])
def test_seeds_match_gpower_for_a_paired_t_test(d: float, seeds: int) -> None:
    """G*Power, 'means: difference from constant', two-tailed, alpha 0.05, power 0.8."""
    assert seeds_for_power(d, 1.0) == seeds


@pytest.mark.parametrize("d", [0.3, 0.5, 0.8, 1.2, 2.0])
def test_seeds_reach_80_percent_under_the_noncentral_t_and_one_fewer_does_not(d: float) -> None:
    k = seeds_for_power(d, 1.0)
    assert k is not None
    assert _exact_power(d, k) >= 0.795
    if k > 2:
        assert _exact_power(d, k - 1) < 0.805


def test_normal_power_closed_form() -> None:
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert normal_power(z, 1.0) == pytest.approx(0.8, abs=1e-3)  # the far tail adds ~0
    assert normal_power(0.0, 1.0) == pytest.approx(0.05)
    assert detectable_effect(1.0, 16, dof=math.inf) == pytest.approx(z / 4)


def test_detectable_effect_inverts_seeds_for_power() -> None:
    for k in (3, 5, 12):
        mde = detectable_effect(0.01, k)
        assert seeds_for_power(mde * 1.0001, 0.01) == k


def test_fixed_variance_seeds_cannot_remove() -> None:
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert seeds_for_power(0.1, 0.05, fixed_var=(0.1 / z) ** 2) is None
    with_law = seeds_for_power(0.1, 0.05, fixed_var=0.5 * (0.1 / z) ** 2)
    without = seeds_for_power(0.1, 0.05)
    assert with_law is not None and without is not None and with_law > without
    assert seeds_for_power(0.0, 0.05) is None  # at the threshold: no number of seeds


def test_gain_noise_is_the_inverse_law_slope() -> None:
    # ln C(L) = (ln A - ln(L - E)) / alpha: d ln C / dL = -1 / (alpha (L - E))
    assert gain_noise(0.01, 2.5, 2.0, 0.25) == pytest.approx(0.01 / (0.25 * 0.5))
    with pytest.raises(AnalysisError):
        gain_noise(0.01, 1.9, 2.0, 0.25)
