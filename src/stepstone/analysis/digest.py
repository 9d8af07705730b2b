"""A metric series in a few numbers, for a reader with little room (a model's context).

:func:`digest_series` keeps, per key: the first and last values, the minimum and maximum
with their steps, the trend (the mean of the last quarter of the points against the first
quarter's), the count of non-finite points and the first step that had one, and anomalies:
spikes (a point beyond :data:`SPIKE_MADS` median absolute deviations of the series' median)
and an end far above the series' minimum (a divergence). Pure: numbers in, a frozen record
out.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

SPIKE_MADS = 10.0
"""A point this many median absolute deviations from the median is a spike."""
MAX_ANOMALIES = 3
"""At most this many spikes are named (the count says how many there were)."""
FLAT = 0.02
"""A change of the mean under this fraction of its size is flat."""


@dataclass(frozen=True)
class SeriesDigest:
    """One series, digested."""

    key: str
    points: int
    first: float | None
    last: float | None
    min: float | None
    min_step: int | None
    max: float | None
    max_step: int | None
    trend: str  # "falling" | "rising" | "flat" | "too short"
    change: float | None  # relative change of the mean, last quarter against the first
    nonfinite: int
    first_nonfinite_step: int | None
    anomalies: tuple[str, ...]


def _trend(values: Sequence[float]) -> tuple[str, float | None]:
    if len(values) < 4:
        return "too short", None
    quarter = max(1, len(values) // 4)
    head = statistics.fmean(values[:quarter])
    tail = statistics.fmean(values[-quarter:])
    scale = max(abs(head), abs(tail), 1e-12)
    change = (tail - head) / scale
    if abs(change) < FLAT:
        return "flat", change
    return ("falling" if change < 0 else "rising"), change


def _spikes(steps: Sequence[int], values: Sequence[float]) -> list[str]:
    if len(values) < 8:
        return []
    median = statistics.median(values)
    mad = statistics.median(abs(v - median) for v in values)
    if mad <= 0:
        return []
    found = [(s, v) for s, v in zip(steps, values, strict=True)
             if abs(v - median) > SPIKE_MADS * mad]
    out = [f"spike at step {s}: {v:.4g} (median {median:.4g})" for s, v in found[:MAX_ANOMALIES]]
    if len(found) > MAX_ANOMALIES:
        out.append(f"{len(found) - MAX_ANOMALIES} more spikes")
    return out


def digest_series(key: str, steps: Sequence[int], values: Sequence[float]) -> SeriesDigest:
    """The digest of one series (``steps`` and ``values`` in logging order)."""
    finite = [(s, v) for s, v in zip(steps, values, strict=True) if math.isfinite(v)]
    bad = [s for s, v in zip(steps, values, strict=True) if not math.isfinite(v)]
    anomalies: list[str] = []
    if bad:
        anomalies.append(f"{len(bad)} non-finite points, the first at step {bad[0]}")
    if not finite:
        return SeriesDigest(key, len(values), None, None, None, None, None, None, "too short",
                            None, len(bad), bad[0] if bad else None, tuple(anomalies))
    fsteps = [s for s, _ in finite]
    fvalues = [v for _, v in finite]
    low = min(range(len(fvalues)), key=fvalues.__getitem__)
    high = max(range(len(fvalues)), key=fvalues.__getitem__)
    trend, change = _trend(fvalues)
    anomalies += _spikes(fsteps, fvalues)
    last, least = fvalues[-1], fvalues[low]
    if least > 0 and last > 2 * least and low < len(fvalues) - 1:
        anomalies.append(f"ends at {last / least:.3g}x its minimum (step {fsteps[low]})")
    return SeriesDigest(key, len(values), fvalues[0], last, least, fsteps[low], fvalues[high],
                        fsteps[high], trend, change, len(bad), bad[0] if bad else None,
                        tuple(anomalies))
