"""The noise floor of a baseline: the seed-to-seed spread of one metric.

The same config trained on different seeds ends at different values of its metric; the
sample standard deviation (ddof = 1) of those values is the noise floor that a single-seed
comparison borrows (it has no spread of its own) and that rules written in units of sigma
(``delta eval/loss <= -2 sigma``) are measured in.

    >>> floor = noise_floor_of("eval/loss", [2.50, 2.52, 2.51], rung="r3")
    >>> round(floor.sd, 4), floor.n
    (0.01, 3)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from stepstone.errors import AnalysisError

from ._common import ResultMixin


@dataclass(frozen=True)
class NoiseFloor(ResultMixin):
    """The seed-to-seed standard deviation ``sd`` of ``metric`` over ``n`` seeds of one
    config (at rung ``rung`` of its ladder, when it has one), measured on the runs ``runs``."""

    metric: str
    sd: float
    n: int
    rung: str | None = None
    runs: tuple[str, ...] = ()


def noise_floor_of(metric: str, values: Sequence[float], rung: str | None = None,
                   runs: Sequence[str] = ()) -> NoiseFloor:
    """The noise floor of ``metric`` from its value on each seed (sample SD, ddof = 1).

    Refuses fewer than two values (one seed has no spread) and non-finite values."""
    numbers = [float(v) for v in values]
    if len(numbers) < 2:
        raise AnalysisError(f"the noise floor of {metric} needs at least 2 seeds; got "
                            f"{len(numbers)}: run the same config on more seeds")
    if not all(math.isfinite(v) for v in numbers):
        raise AnalysisError(f"the noise floor of {metric} needs finite values; got {numbers}")
    return NoiseFloor(metric=metric, sd=statistics.stdev(numbers), n=len(numbers),
                      rung=None if rung is None else str(rung), runs=tuple(runs))
