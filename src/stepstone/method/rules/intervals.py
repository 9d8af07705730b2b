"""Confidence intervals of a rule's values, in the standard library only (rules run without
the ``analysis`` extra): Student t for a mean over seeds, Wilson for a proportion, and the
MOVER combination (Zou & Donner 2008) of independent intervals for sums and differences, which
adds squared half-widths instead of widths (for two Wilson intervals it is Newcombe's
interval of a difference of proportions). The formulas are in docs/analysis.md.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

_NORMAL = statistics.NormalDist()


def _t_two_sided(t: float, dof: int) -> float:
    """P(|T| < t) for Student's t with an integer number of degrees of freedom (closed form)."""
    theta = math.atan(t / math.sqrt(dof))
    c2 = math.cos(theta) ** 2
    if dof % 2 == 1:
        total, term = 0.0, math.cos(theta)
        for k in range(1, (dof - 1) // 2 + 1):
            if k > 1:
                term *= c2 * (2 * k - 2) / (2 * k - 1)
            total += term
        if dof == 1:
            return 2 * theta / math.pi
        return (2.0 / math.pi) * (theta + math.sin(theta) * total)
    total, term = 1.0, 1.0
    for k in range(1, dof // 2):
        term *= c2 * (2 * k - 1) / (2 * k)
        total += term
    return math.sin(theta) * total


def critical(confidence: float, dof: float) -> float:
    """The two-sided critical value at ``confidence``: Student t with ``dof`` degrees of
    freedom (rounded down to an integer; normal when infinite or above 1000)."""
    if math.isinf(dof) or dof > 1000:
        return _NORMAL.inv_cdf(0.5 + confidence / 2.0)
    nu = max(1, int(dof))
    low, high = 0.0, 1.0
    while _t_two_sided(high, nu) < confidence:
        high *= 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if _t_two_sided(mid, nu) < confidence:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * high:
            break
    return (low + high) / 2.0


def mean_interval(values: Sequence[float], confidence: float) -> tuple[float, float, float]:
    """(mean, low, high): the t interval of the mean of 2 or more values."""
    mean = statistics.fmean(values)
    half = critical(confidence, len(values) - 1) * statistics.stdev(values) / math.sqrt(
        len(values))
    return mean, mean - half, mean + half


def wilson(successes: float, n: int, confidence: float) -> tuple[float, float, float]:
    """(proportion, low, high): the Wilson score interval of ``successes`` out of ``n``."""
    z = _NORMAL.inv_cdf(0.5 + confidence / 2.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return p, max(0.0, centre - half), min(1.0, centre + half)


def mover_sum(a: tuple[float, float, float], b: tuple[float, float, float]
              ) -> tuple[float, float, float]:
    """The interval of ``a + b`` for independent estimates given as (value, low, high)."""
    value = a[0] + b[0]
    low = value - math.hypot(a[0] - a[1], b[0] - b[1])
    high = value + math.hypot(a[2] - a[0], b[2] - b[0])
    return value, low, high
