"""Test-time compute curves: a metric against an inference-time knob.

The knob is whatever can be turned at inference without retraining: recursion or inference
steps, samples for best-of-n, context length, number of key-value pairs to recall. Given the
metric at several knob values (one value per evaluation; several at one knob value — seeds or
runs — are averaged, with their spread), :func:`testtime_curve` gives

* the curve: per knob value, the mean, the sample standard deviation and the count;
* the best knob value (by mean, oriented by ``higher_is_better``);
* the **trend beyond training**: with ``train_value`` (the knob's value during training, e.g.
  16 recursion steps), the change from the training value to the largest knob value evaluated,
  and the least-squares slope of the metric on ``log2(knob)`` over the points at or past the
  training value (the change per doubling). It **improves** when the change is better than
  ``tolerance``, **degrades** when it is worse by more than ``tolerance``, else it is **flat**
  (the curve saturates). The same summary below the training value says what cutting the
  knob costs. A model that keeps improving past its training value is one whose test-time
  compute buys quality; one that degrades was fitted to its training setting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from stepstone.errors import AnalysisError

from ._common import ResultMixin


@dataclass(frozen=True)
class CurvePoint(ResultMixin):
    knob: float
    mean: float
    std: float  # sample standard deviation over evaluations at this value (NaN for one)
    n: int


@dataclass(frozen=True)
class Trend(ResultMixin):
    """The metric's change on one side of the training value."""

    side: str  # "beyond" or "below"
    from_knob: float
    to_knob: float
    change: float  # metric at to_knob - metric at from_knob
    slope_per_doubling: float | None  # least squares on log2(knob); None with one point
    verdict: str  # "improves", "flat", "degrades" (by the metric's orientation)


@dataclass(frozen=True)
class TestTimeCurve(ResultMixin):
    knob: str
    metric: str
    higher_is_better: bool
    train_value: float | None
    points: tuple[CurvePoint, ...]
    best: CurvePoint
    beyond: Trend | None
    below: Trend | None
    summary: str

    __test__ = False  # not a pytest test class despite the name

    def at(self, knob: float) -> CurvePoint:
        """The point at ``knob``."""
        for p in self.points:
            if p.knob == knob:
                return p
        raise AnalysisError(f"The curve has no point at {self.knob} = {knob}.")


_SAID = {"improves": "improves", "degrades": "degrades", "flat": "stays flat"}


def _trend(points: Sequence[CurvePoint], side: str, anchor: CurvePoint, far: CurvePoint,
           higher: bool, tolerance: float) -> Trend:
    change = far.mean - anchor.mean
    slope: float | None = None
    if len(points) >= 2 and all(p.knob > 0 for p in points):
        x = np.log2(np.array([p.knob for p in points], dtype=np.float64))
        y = np.array([p.mean for p in points], dtype=np.float64)
        if float(np.ptp(x)) > 0:
            slope = float(np.polyfit(x, y, 1)[0])
    better = change if higher else -change
    verdict = "improves" if better > tolerance else "degrades" if better < -tolerance else "flat"
    return Trend(side, anchor.knob, far.knob, change, slope, verdict)


def testtime_curve(
    knob_values: Sequence[float],
    metric_values: Sequence[float],
    *,
    train_value: float | None = None,
    knob: str = "knob",
    metric: str = "metric",
    higher_is_better: bool = True,
    tolerance: float = 0.01,
) -> TestTimeCurve:
    """The curve of ``metric`` against ``knob`` and its trend past ``train_value``.

    ``knob_values[i]`` is the knob at which ``metric_values[i]`` was measured; repeated knob
    values (seeds, runs) are averaged. ``tolerance`` (metric units) separates a real change
    from a flat curve.
    """
    if len(knob_values) != len(metric_values):
        raise AnalysisError(f"{len(knob_values)} knob values but {len(metric_values)} metric "
                            "values: give one metric value per evaluation.")
    if not knob_values:
        raise AnalysisError("A test-time curve needs at least one evaluation.")
    if tolerance < 0:
        raise AnalysisError(f"tolerance must be 0 or more; got {tolerance}.")
    groups: dict[float, list[float]] = {}
    for k, v in zip(knob_values, metric_values, strict=True):
        kf, vf = float(k), float(v)
        if not math.isfinite(kf):
            raise AnalysisError(f"The knob value {k!r} is not finite.")
        if not math.isfinite(vf):
            raise AnalysisError(f"The {metric} at {knob} = {k} is not finite ({v}).")
        groups.setdefault(kf, []).append(vf)
    points = tuple(
        CurvePoint(k, float(np.mean(vs)), float(np.std(vs, ddof=1)) if len(vs) > 1 else math.nan,
                   len(vs))
        for k, vs in sorted(groups.items())
    )
    best = (max if higher_is_better else min)(points, key=lambda p: p.mean)
    beyond = below = None
    parts = [f"best {metric} {best.mean:.4g} at {knob} = {best.knob:g}"]
    if train_value is not None:
        tv = float(train_value)
        anchor = min(points, key=lambda p: (abs(p.knob - tv), p.knob))
        past = [p for p in points if p.knob >= anchor.knob]
        under = [p for p in points if p.knob <= anchor.knob]
        if len(past) >= 2:
            beyond = _trend(past, "beyond", anchor, past[-1], higher_is_better, tolerance)
            parts.append(f"beyond training ({knob} {anchor.knob:g} → {beyond.to_knob:g}) it "
                         f"{_SAID[beyond.verdict]} ({beyond.change:+.4g})")
        else:
            parts.append(f"no evaluation beyond the training value {tv:g}")
        if len(under) >= 2:
            below = _trend(under[::-1], "below", anchor, under[0], higher_is_better, tolerance)
            parts.append(f"below it ({under[0].knob:g}) it {_SAID[below.verdict]} "
                         f"({below.change:+.4g})")
    return TestTimeCurve(knob, metric, higher_is_better,
                         None if train_value is None else float(train_value), points, best,
                         beyond, below, "; ".join(parts))
