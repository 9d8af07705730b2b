"""What a decision rule is evaluated against: runs, the baseline and efficiency gains.

Build an :class:`Evidence` with :meth:`Evidence.build` from plain values or RunFactss.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from stepstone.errors import UsageError

Rung = int | str | None
Seed = int | str | None

# ----------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class Gain:
    """A compute efficiency gain at one rung with its interval (baseline law and seed noise);
    ``caveat`` says why the interval cannot settle a comparison ("" when it can): a law with
    too few points, one seed and no noise floor. A gain with no interval is ``(g, 0, inf)``."""

    value: float
    low: float
    high: float
    caveat: str = ""
    note: str | None = None  # why the gain is undefined (value NaN) at this rung

    def __post_init__(self) -> None:
        bounds = (self.low, self.value, self.high)
        if all(math.isfinite(b) for b in bounds) and not self.low <= self.value <= self.high:
            raise UsageError(
                f"a gain needs low <= value <= high, got {self.value} [{self.low}, {self.high}]"
            )


@dataclass(frozen=True)
class Tally:
    """Pass/fail results in a bucket: ``successes`` out of ``trials`` (a Wilson interval)."""

    successes: int
    trials: int


@dataclass(frozen=True)
class Scores:
    """Per-example scores in a bucket (a t interval of their mean)."""

    values: tuple[float, ...]


BucketValue = float | Tally | Scores


@dataclass(frozen=True)
class NoiseFloor:
    """The seed-to-seed standard deviation of a metric, measured over ``n`` seeds."""

    sd: float
    n: int


@dataclass(frozen=True)
class RunFacts:
    """One run's final metrics, its rung and seed, and per-bucket values (metric → bucket → value).

    In :attr:`Evidence.baseline`, ``rung=None`` applies to every rung and ``seed=None``
    marks the reference value itself (seeded records then give its spread).
    """

    metrics: Mapping[str, float]
    rung: Rung = None
    seed: Seed = None
    finished: bool = True
    buckets: Mapping[str, Mapping[str, BucketValue]] = field(default_factory=dict)
    run_id: str = ""
    reason: str = ""  # why an abandoned run was abandoned


@dataclass(frozen=True)
class Evidence:
    """Everything a rule is evaluated against. Build it with :meth:`Evidence.build`.

    ``rungs`` is the ladder's order, smallest first; the last is the top rung, where a
    comparison without ``at every/any rung`` is evaluated. ``missing`` lists planned
    runs that do not exist, as (rung, seed); a rung of None means any rung. ``abandoned``
    are runs left out (named in the verdict); ``noise`` the baseline's noise floor per metric
    (the spread of a one-seed value, and the unit of ``sigma``); ``confidence`` the level of
    every interval.
    """

    runs: tuple[RunFacts, ...] = ()
    baseline: tuple[RunFacts, ...] = ()
    gains: Mapping[Rung, Gain] = field(default_factory=dict)
    missing: tuple[tuple[Rung, Seed], ...] = ()
    rungs: tuple[Rung, ...] = ()
    abandoned: tuple[RunFacts, ...] = ()
    noise: Mapping[str, NoiseFloor] = field(default_factory=dict)
    confidence: float = 0.95

    def __post_init__(self) -> None:
        seen = set()
        for run in self.runs:
            if (run.rung, run.seed) in seen:
                raise UsageError(
                    f"two runs at rung {run.rung}, seed {run.seed}; give each run its own seed"
                )
            seen.add((run.rung, run.seed))
        if not 0.5 <= self.confidence < 1:
            raise UsageError(f"confidence is between 0.5 and 1 (e.g. 0.95), not {self.confidence}")
        if not self.rungs:
            found = [r.rung for r in self.runs] + list(self.gains)
            found += [rung for rung, _ in self.missing if rung is not None]
            order = list(dict.fromkeys(found))
            if all(isinstance(r, int) and not isinstance(r, bool) for r in order):
                order.sort()
            object.__setattr__(self, "rungs", tuple(order))

    @classmethod
    def build(
        cls,
        runs: Mapping[Any, Mapping[Any, Mapping[str, float]]] | Iterable[RunFacts] = (),
        baseline: Mapping[Any, Any] | Iterable[RunFacts] = (),
        gains: Mapping[Any, Gain | tuple[float, float, float] | float] | None = None,
        unfinished: Iterable[tuple[Rung, Seed]] = (),
        missing: Iterable[tuple[Rung, Seed]] = (),
        rungs: Iterable[Rung] | None = None,
        abandoned: Iterable[RunFacts] = (),
        noise: Mapping[str, NoiseFloor | tuple[float, int]] | None = None,
        confidence: float = 0.95,
    ) -> Evidence:
        """Evidence from plain values.

        ``runs``: ``{rung: {seed: {metric: value}}}`` or RunFactss. ``baseline``:
        ``{metric: value}``, ``{rung: {metric: value}}``, ``{rung: {seed: {metric: value}}}``
        or RunFactss. ``gains``: ``{rung: (value, low, high)}`` (a bare number is exact).
        ``unfinished`` and ``missing``: (rung, seed) pairs. ``noise``: ``{metric: (sd, n)}``.
        """
        records = _records(runs) if isinstance(runs, Mapping) else list(runs)
        stopped = set(unfinished)
        known = {(r.rung, r.seed) for r in records}
        records = [
            replace(r, finished=False) if (r.rung, r.seed) in stopped else r for r in records
        ]
        records += [RunFacts({}, rung, seed, finished=False) for rung, seed in stopped - known]
        refs = _baseline_records(baseline) if isinstance(baseline, Mapping) else list(baseline)
        return cls(
            runs=tuple(records),
            baseline=tuple(refs),
            gains={rung: _gain(g) for rung, g in (gains or {}).items()},
            missing=tuple(missing),
            rungs=tuple(rungs or ()),
            abandoned=tuple(abandoned),
            noise={m: v if isinstance(v, NoiseFloor) else NoiseFloor(float(v[0]), int(v[1]))
                   for m, v in (noise or {}).items()},
            confidence=confidence,
        )


def _records(runs: Mapping[Any, Mapping[Any, Mapping[str, float]]]) -> list[RunFacts]:
    return [
        RunFacts(dict(metrics), rung, seed)
        for rung, by_seed in runs.items()
        for seed, metrics in by_seed.items()
    ]


def _baseline_records(baseline: Mapping[Any, Any]) -> list[RunFacts]:
    if all(not isinstance(v, Mapping) for v in baseline.values()):
        return [RunFacts(dict(baseline))]
    out = []
    for rung, inner in baseline.items():
        if not isinstance(inner, Mapping):
            raise UsageError(
                "a baseline is {metric: value}, {rung: {metric: value}} or "
                "{rung: {seed: {metric: value}}}; do not mix the shapes"
            )
        if all(isinstance(v, Mapping) for v in inner.values()):
            out += [RunFacts(dict(m), rung, seed) for seed, m in inner.items()]
        else:
            out.append(RunFacts(dict(inner), rung))
    return out


def _gain(g: Gain | tuple[float, float, float] | float) -> Gain:
    """A gain from a Gain, ``(value, low, high)`` or a bare number (exact)."""
    if isinstance(g, Gain):
        return g
    if isinstance(g, int | float):
        return Gain(float(g), float(g), float(g))
    value, low, high = g
    return Gain(float(value), float(low), float(high))
