"""Health detectors of a live run: non-finite loss, divergence, stall, throughput drop.

:class:`HealthState` is fed the new points of a run's series as they arrive and says what
fired. Pure: points and wall times in, findings out; the watcher that reads the lab, writes
the alerts and acts on them is :mod:`stepstone.launch.monitor`.

- **non-finite**: a loss key (:func:`is_loss_key`) logged NaN or ±inf;
- **divergence**: a loss key went beyond ``divergence`` × its running minimum (a positive
  minimum; the first point counts);
- **stall**: no new point of any training series (``system/*`` aside: the sampler keeps
  going in a hung process) for ``stall_seconds`` while the process lives; before the run's
  first point, for :data:`STARTUP_FACTOR` times as long (loading data, compiling a model:
  a start-up is slower than a step, and a stall stopped on alert would kill a healthy run);
- **throughput**: a throughput key (:func:`is_throughput_key`) stayed below
  ``1 - throughput_drop`` of the median of its earlier points for
  :data:`THROUGHPUT_SUSTAIN` points in a row (judged after :data:`THROUGHPUT_POINTS`).

Each detector fires once per key (a stall once per silence).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

THROUGHPUT_POINTS = 5
"""Points of a throughput key before its drop is judged."""
THROUGHPUT_SUSTAIN = 3
"""Consecutive low points that make a drop (one slow step on a busy machine is not one)."""
STARTUP_FACTOR = 3.0
"""How many stall durations a run may take to log its first training point."""


def is_loss_key(key: str) -> bool:
    """A loss series: ``loss`` in the last part of its name (``train/loss``, ``val_loss``)."""
    return "loss" in key.rsplit("/", 1)[-1].lower()


def is_throughput_key(key: str) -> bool:
    """A throughput series: ``throughput`` in its name, or a rate (``tokens_per_s``)."""
    low = key.lower()
    return "throughput" in low or low.endswith(("per_s", "per_sec", "per_second"))


@dataclass(frozen=True)
class HealthRules:
    """What counts as unhealthy (the defaults of ``--monitor``)."""

    divergence: float = 3.0
    stall_seconds: float = 600.0
    throughput_drop: float = 0.5
    keys: tuple[str, ...] = ()  # loss keys to watch; empty: every loss key

    def __post_init__(self) -> None:
        if not self.divergence > 1:
            raise ValueError(f"divergence is a factor above 1, not {self.divergence}")
        if not self.stall_seconds > 0:
            raise ValueError(f"a stall is a positive time, not {self.stall_seconds}")
        if not 0 < self.throughput_drop < 1:
            raise ValueError(f"a throughput drop is a fraction in (0, 1), not "
                             f"{self.throughput_drop}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def watches_loss(self, key: str) -> bool:
        return key in self.keys if self.keys else is_loss_key(key)


@dataclass(frozen=True)
class Finding:
    """One detector firing."""

    detector: str  # "nonfinite" | "divergence" | "stall" | "throughput"
    message: str
    metric: str | None = None
    step: int | None = None


@dataclass
class HealthState:
    """What the detectors remember of a run between feeds."""

    rules: HealthRules
    last_point_at: float
    minimum: dict[str, tuple[float, int]] = field(default_factory=dict)
    rates: dict[str, list[float]] = field(default_factory=dict)
    low: dict[str, list[float]] = field(default_factory=dict)
    fired: set[tuple[str, str]] = field(default_factory=set)
    stalled: bool = False
    started: bool = False  # a training point has been seen

    def _fire(self, detector: str, key: str, message: str, step: int | None) -> list[Finding]:
        if (detector, key) in self.fired:
            return []
        self.fired.add((detector, key))
        return [Finding(detector, message, key, step)]

    def feed(self, key: str, steps: Sequence[int], values: Sequence[float],
             now: float) -> list[Finding]:
        """The new points of ``key`` (in logging order), seen at wall time ``now``."""
        if not steps:
            return []
        if not key.startswith("system/"):
            self.last_point_at = now
            self.stalled = False
            self.started = True
        out: list[Finding] = []
        if self.rules.watches_loss(key):
            out += self._loss(key, steps, values)
        if is_throughput_key(key):
            out += self._throughput(key, steps, values)
        return out

    def _loss(self, key: str, steps: Sequence[int], values: Sequence[float]) -> list[Finding]:
        out: list[Finding] = []
        for step, value in zip(steps, values, strict=True):
            if not math.isfinite(value):
                out += self._fire("nonfinite", key, f"{key} is {value} at step {step}", step)
                continue
            low = self.minimum.get(key)
            if low is None or value < low[0]:
                self.minimum[key] = (value, step)
            elif low[0] > 0 and value > self.rules.divergence * low[0]:
                out += self._fire(
                    "divergence", key,
                    f"{key} diverged: {value:.4g} at step {step} is {value / low[0]:.3g}x its "
                    f"minimum {low[0]:.4g} (step {low[1]})", step)
        return out

    def _throughput(self, key: str, steps: Sequence[int],
                    values: Sequence[float]) -> list[Finding]:
        out: list[Finding] = []
        seen = self.rates.setdefault(key, [])
        low = self.low.setdefault(key, [])
        for step, value in zip(steps, values, strict=True):
            if not math.isfinite(value):
                continue
            typical = statistics.median(seen) if len(seen) >= THROUGHPUT_POINTS else None
            if typical is not None and typical > 0 and (
                    value < (1 - self.rules.throughput_drop) * typical):
                low.append(value)
                if len(low) >= THROUGHPUT_SUSTAIN:
                    out += self._fire(
                        "throughput", key,
                        f"{key} dropped to {value:.4g} at step {step}, {1 - value / typical:.0%} "
                        f"below its median {typical:.4g} for {len(low)} points", step)
                continue  # a low point does not lower the median it is judged against
            low.clear()
            seen.append(value)
        return out

    def idle(self, now: float) -> list[Finding]:
        """A stall, when the run has logged nothing for ``stall_seconds`` (once per silence)."""
        quiet = now - self.last_point_at
        limit = self.rules.stall_seconds * (1.0 if self.started else STARTUP_FACTOR)
        if self.stalled or quiet < limit:
            return []
        self.stalled = True
        if not self.started:
            return [Finding("stall", f"no point logged for {quiet:.0f} s since the watch began "
                                     f"while the process lives (before a first point, stall "
                                     f"after {limit:.0f} s: {STARTUP_FACTOR:g} x "
                                     f"{self.rules.stall_seconds:.0f} s)")]
        return [Finding("stall", f"no point logged for {quiet:.0f} s while the process lives "
                                 f"(stall after {self.rules.stall_seconds:.0f} s)")]
