"""Power of a decision: how many seeds settle it, and the smallest effect a ladder detects.

A decision rule answers yes or no when the 95% interval of an estimate excludes the rule's
threshold (docs/analysis.md, "One model of a comparison"). With a true distance ``Δ`` between
the estimate and the threshold (in the estimate's units; ln-gain for a gain) and a standard
error ``√(v_fixed + σ²/k)`` — ``σ`` the per-seed noise, ``k`` the seeds, ``v_fixed`` what
seeds do not reduce (the baseline law's fit uncertainty) — the interval excludes the
threshold with probability

    power(k) ≈ Φ(Δ/se − z_{1−α/2})                                  (normal)

and a t-test with ``k − 1`` degrees of freedom needs ``Δ/se ≥ t_{k−1, 1−α/2} + t_{k−1, power}``
(Guenther's approximation to the noncentral t: 34 pairs for d = 0.5 at 80%, as G*Power).
:func:`seeds_for_power` is the smallest ``k`` that meets it, None when even infinitely many
seeds would not (``v_fixed`` alone is too wide: more baseline runs, not seeds, would settle
it). :func:`detectable_effect` is the smallest ``Δ`` detected with ``k`` seeds.
:func:`gain_noise` turns a loss's seed noise into ln-gain units through the law's slope.
"""

from __future__ import annotations

import math

from scipy import stats as _st

from stepstone.errors import AnalysisError

MAX_SEEDS = 1000


def _check(confidence: float, power: float) -> None:
    if not 0.5 < confidence < 1 or not 0 < power < 1:
        raise AnalysisError("confidence is between 0.5 and 1 and power between 0 and 1 "
                            "(e.g. 0.95 and 0.8)")


def normal_power(effect: float, se: float, *, confidence: float = 0.95) -> float:
    """Probability that a two-sided ``confidence`` interval of an estimate with standard
    error ``se`` excludes a threshold ``effect`` away from the truth (either side)."""
    _check(confidence, 0.5)
    if se <= 0:
        return 1.0 if effect != 0 else 0.0
    z = float(_st.norm.ppf(0.5 + confidence / 2.0))
    x = abs(effect) / se
    return float(_st.norm.cdf(x - z) + _st.norm.cdf(-x - z))


def _quantiles(dof: float, confidence: float, power: float) -> float:
    if math.isinf(dof):
        return float(_st.norm.ppf(0.5 + confidence / 2.0) + _st.norm.ppf(power))
    return float(_st.t.ppf(0.5 + confidence / 2.0, dof) + _st.t.ppf(power, dof))


def detectable_effect(sd: float, seeds: int, *, fixed_var: float = 0.0, dof: float | None = None,
                      power: float = 0.8, confidence: float = 0.95) -> float:
    """The smallest true distance from the threshold detected with ``power`` by ``seeds``
    seeds of noise ``sd`` (plus ``fixed_var`` that seeds do not reduce); ``dof`` defaults to
    ``seeds − 1`` (normal when infinite)."""
    _check(confidence, power)
    if seeds < 1 or (dof is None and seeds < 2):
        raise AnalysisError(f"a t interval needs 2 or more seeds (or a dof); got {seeds}")
    nu = float(seeds - 1) if dof is None else float(dof)
    return _quantiles(nu, confidence, power) * math.sqrt(fixed_var + sd * sd / seeds)


def seeds_for_power(effect: float, sd: float, *, fixed_var: float = 0.0, power: float = 0.8,
                    confidence: float = 0.95, max_seeds: int = MAX_SEEDS) -> int | None:
    """The smallest number of seeds (2 or more) whose t interval excludes a threshold
    ``effect`` away with ``power``; None when ``max_seeds`` do not (the effect is at the
    threshold, or ``fixed_var`` alone is too wide)."""
    _check(confidence, power)
    if not (math.isfinite(effect) and math.isfinite(sd) and sd >= 0):
        raise AnalysisError(f"effect and sd must be finite (sd >= 0); got {effect}, {sd}")
    delta = abs(effect)
    if delta == 0:
        return None
    z = _quantiles(math.inf, confidence, power)
    if fixed_var >= (delta / z) ** 2:
        return None
    if sd == 0:
        return 2
    # the normal answer is a lower bound; the t quantiles only raise it
    k = max(2, math.ceil(sd * sd / ((delta / z) ** 2 - fixed_var)))
    while k <= max_seeds:
        if delta >= detectable_effect(sd, k, fixed_var=fixed_var, power=power,
                                      confidence=confidence):
            return k
        k += 1
    return None


def gain_noise(loss_sd: float, loss: float, irreducible: float, exponent: float) -> float:
    """A loss's seed noise in ln-gain units for a compute law ``E + A·C^−α``: the gain's
    ``ln C(L)`` moves by ``−1/(α (L − E))`` per unit of loss."""
    if loss <= irreducible or exponent <= 0:
        raise AnalysisError("the loss must lie above the law's E and its exponent be positive")
    return loss_sd / (exponent * (loss - irreducible))


__all__ = ["MAX_SEEDS", "detectable_effect", "gain_noise", "normal_power", "seeds_for_power"]
