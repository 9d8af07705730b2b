"""Seed variance, bootstrap intervals, paired comparisons and the minimum detectable effect.

* :func:`seed_variance` — mean, sample standard deviation (ddof=1), standard error
  ``s/√n``, the Student-t interval ``mean ± t_{n-1}·s/√n``, and the coefficient of variation.
* :func:`bootstrap_ci` — a bootstrap interval of a statistic (``scipy.stats.bootstrap``,
  BCa by default; Efron & Tibshirani 1993).
* :func:`paired_comparison` — two arms run on the same seeds: the per-seed difference
  ``b - a``, its t interval, the paired t-test and the Wilcoxon signed-rank test, the
  standardised effect ``d_z = mean(diff)/sd(diff)``, and wins/losses/ties.
* :func:`minimum_detectable_effect` — the smallest true difference a t-test at level α
  detects with the given power: solves ``power(δ) = target`` with the noncentral t
  distribution (two-sample: ``df = 2n - 2``, ``ncp = δ/σ·√(n/2)``; paired/one-sample:
  ``df = n - 1``, ``ncp = δ/σ·√n``). Reference (Cohen 1988, Table 2.4.1): 64 seeds per arm
  detect d = 0.5 and 26 detect d = 0.8 at α = 0.05, power 0.8.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize as _opt
from scipy import stats as _st

from stepstone.errors import AnalysisError

from ._common import (
    ArrayLike,
    ResultMixin,
    align_arms,
    as_float_array,
    check_confidence,
    paired,
    t_interval,
)


@dataclass(frozen=True)
class SeedSummary(ResultMixin):
    """One metric over seeds."""

    n: int
    mean: float
    std: float
    sem: float
    ci_low: float
    ci_high: float
    min: float
    max: float
    cv: float
    confidence: float


@dataclass(frozen=True)
class Interval(ResultMixin):
    """A point estimate with a confidence interval."""

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    n: int


@dataclass(frozen=True)
class PairedComparison(ResultMixin):
    """Arm b against arm a on the same seeds (``diff = b - a``)."""

    n: int
    seeds: tuple[str, ...]
    mean_a: float
    mean_b: float
    mean_diff: float
    ci_low: float
    ci_high: float
    p_value: float
    wilcoxon_p: float | None
    effect_size_dz: float | None
    wins: int
    losses: int
    ties: int
    higher_is_better: bool
    confidence: float
    verdict: str  # "b better", "b worse", "no detectable difference"


@dataclass(frozen=True)
class DetectableEffect(ResultMixin):
    """The smallest true difference a design detects (in metric units and in σ units)."""

    effect: float
    effect_in_std: float
    std: float
    n: int
    design: str
    alpha: float
    power: float
    alternative: str


def seed_variance(values: ArrayLike, *, confidence: float = 0.95) -> SeedSummary:
    """Spread of one metric over seeds (``values``: one number per seed, 2 or more)."""
    conf = check_confidence(confidence)
    x = as_float_array(values, "values", min_len=2)
    n = x.size
    mean = float(x.mean())
    std = float(x.std(ddof=1))
    sem = std / math.sqrt(n)
    lo, hi = t_interval(mean, sem, n - 1, conf)
    cv = std / abs(mean) if mean != 0 else math.nan
    return SeedSummary(n, mean, std, sem, lo, hi, float(x.min()), float(x.max()), cv, conf)


def _sample_std(x: Any, axis: int = -1) -> Any:
    """The sample standard deviation (ddof = 1), as everywhere else in stepstone."""
    return np.std(x, ddof=1, axis=axis)


_STATISTICS: dict[str, Callable[..., Any]] = {
    "mean": np.mean,
    "median": np.median,
    "std": _sample_std,
}


def bootstrap_ci(
    values: ArrayLike,
    *,
    statistic: str = "mean",
    n_resamples: int = 9999,
    confidence: float = 0.95,
    method: str = "BCa",
    seed: int | None = 0,
) -> Interval:
    """Bootstrap interval of ``statistic`` (``mean``, ``median`` or ``std``, the sample
    standard deviation with ddof = 1) of ``values``.

    ``method`` is ``"BCa"`` (bias-corrected and accelerated), ``"percentile"`` or ``"basic"``.
    """
    conf = check_confidence(confidence)
    x = as_float_array(values, "values", min_len=2)
    try:
        fn = _STATISTICS[statistic]
    except KeyError:
        raise AnalysisError(
            f"Unknown statistic {statistic!r}; choose one of {', '.join(_STATISTICS)}."
        ) from None
    if method not in ("BCa", "percentile", "basic"):
        raise AnalysisError(f"Unknown method {method!r}; choose BCa, percentile or basic.")
    if n_resamples < 100:
        raise AnalysisError(f"Use at least 100 resamples; got {n_resamples}.")
    est = float(fn(x))
    if np.all(x == x[0]):
        return Interval(est, est, est, conf, method, x.size)
    res = _st.bootstrap(
        (x,),
        fn,
        n_resamples=n_resamples,
        confidence_level=conf,
        method=method,
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return Interval(est, lo, hi, conf, method, x.size)


def paired_comparison(
    a: Sequence[float] | Mapping[Any, float] | ArrayLike,
    b: Sequence[float] | Mapping[Any, float] | ArrayLike,
    *,
    higher_is_better: bool = True,
    confidence: float = 0.95,
) -> PairedComparison:
    """Compare arm ``b`` with arm ``a`` on the same seeds.

    Give lists in the same seed order, or seed -> value mappings (paired on common seeds).
    The verdict uses the interval of the mean difference: it must exclude 0.
    """
    conf = check_confidence(confidence)
    xa, xb, seeds = align_arms(a, b)
    if xa.size < 2:
        raise AnalysisError("A paired comparison needs at least 2 seeds in both arms.")
    diff, lo, hi, p = paired(xa, xb, conf)
    d = xb - xa
    sd = float(d.std(ddof=1))
    dz = diff / sd if sd > 0 else None
    wil: float | None = None
    if np.any(d != 0):
        wil = float(_st.wilcoxon(xb, xa, zero_method="wilcox").pvalue)
    better = d > 0 if higher_is_better else d < 0
    worse = d < 0 if higher_is_better else d > 0
    if lo > 0 or hi < 0:
        improved = (lo > 0) == higher_is_better
        verdict = "b better" if improved else "b worse"
    else:
        verdict = "no detectable difference"
    return PairedComparison(
        n=int(xa.size),
        seeds=seeds,
        mean_a=float(xa.mean()),
        mean_b=float(xb.mean()),
        mean_diff=diff,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        wilcoxon_p=wil,
        effect_size_dz=dz,
        wins=int(better.sum()),
        losses=int(worse.sum()),
        ties=int((d == 0).sum()),
        higher_is_better=higher_is_better,
        confidence=conf,
        verdict=verdict,
    )


def _power(d: float, n: int, alpha: float, paired_design: bool, two_sided: bool) -> float:
    if paired_design:
        df, ncp = n - 1, d * math.sqrt(n)
    else:
        df, ncp = 2 * n - 2, d * math.sqrt(n / 2.0)
    tc = float(_st.t.ppf(1 - (alpha / 2 if two_sided else alpha), df))
    upper = float(_st.nct.sf(tc, df, ncp))
    if not math.isfinite(upper):  # far tail where scipy's nct gives NaN: normal limit
        upper = float(_st.norm.sf(tc - ncp))
    if not two_sided:
        return upper
    lower = float(_st.nct.cdf(-tc, df, ncp))
    return upper + (lower if math.isfinite(lower) else 0.0)


def minimum_detectable_effect(
    std: float,
    n: int,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    paired_design: bool = False,
    alternative: str = "two-sided",
) -> DetectableEffect:
    """Smallest true difference a t-test detects with ``power`` at level ``alpha``.

    ``std`` is the per-seed standard deviation (of the differences when ``paired_design``);
    ``n`` the seeds per arm (pairs when paired).
    """
    s = float(std)
    if not (math.isfinite(s) and s > 0):
        raise AnalysisError(f"std must be positive; got {std}. Measure it over 2+ seeds.")
    if n < 2:
        raise AnalysisError(f"n must be at least 2 seeds per arm; got {n}.")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise AnalysisError("alpha and power must be between 0 and 1 (e.g. 0.05 and 0.8).")
    if alternative not in ("two-sided", "one-sided"):
        raise AnalysisError("alternative must be 'two-sided' or 'one-sided'.")
    two = alternative == "two-sided"
    floor = _power(0.0, n, alpha, paired_design, two)
    if power <= floor:
        d = 0.0
    else:
        hi = 1.0
        while _power(hi, n, alpha, paired_design, two) < power:
            hi *= 2.0
        d = float(
            _opt.brentq(
                lambda x: _power(x, n, alpha, paired_design, two) - power, 0.0, hi, xtol=1e-10
            )
        )
    return DetectableEffect(
        effect=d * s,
        effect_in_std=d,
        std=s,
        n=int(n),
        design="paired" if paired_design else "two-sample",
        alpha=alpha,
        power=power,
        alternative=alternative,
    )
