"""The scale a suite holds: a run's rung against the suite's ``rung`` and ladder.

A suite distilled from runs that span several rungs (a ladder; a run's rung is
:func:`stepstone.method.evidence.rung_of`) holds one rung: :func:`at_scale` picks the runs at
it, :func:`scale_mismatch` says why a run is not at it (a run of another scale is skipped,
not checked against another scale's thresholds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from stepstone.errors import NotFoundError, UsageError
from stepstone.method.evidence import rung_of
from stepstone.store.runs import RunRecord
from stepstone.store.suites import SuiteSpec

SCALE_TOLERANCE = 1.5
"""A run is at a numeric rung when its rung is within this factor of it and no other rung of
the suite's ladder is nearer (a small feature moves ``n_params`` a little, not a rung)."""


def _rung_number(rung: Any) -> float | None:
    if isinstance(rung, bool):
        return None
    try:
        number = float(rung)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def same_rung(a: Any, b: Any) -> bool:
    """Whether two rungs are the same: equal numbers (``1e7`` and ``10000000``), else equal
    labels."""
    x, y = _rung_number(a), _rung_number(b)
    return x == y if x is not None and y is not None else str(a) == str(b)


def scale_mismatch(spec: SuiteSpec, run: RunRecord) -> str | None:
    """Why ``run`` is not at the scale the suite ``spec`` holds, or None when it is (a suite
    without a ``rung`` holds every scale). A numeric rung holds the runs within
    :data:`SCALE_TOLERANCE` of it and nearer it than any other of the suite's ``rungs``."""
    rung = spec.rung
    if rung is None:
        return None
    mine = rung_of(run)
    if mine is None:
        return (f"run {run.id} has no scale (no rung or n_params): the suite holds rung "
                f"{rung}; log n_params or set rung in its config")
    target, value = _rung_number(rung), _rung_number(mine)
    ladder = [_rung_number(r) for r in spec.rungs or [rung]]
    numbers = [n for n in ladder if n is not None]
    if target is None or value is None or len(numbers) < len(ladder):
        same = str(mine) == str(rung)
    else:
        away = {n: abs(math.log(value / n)) for n in numbers}
        same = min(away, key=lambda n: away[n]) == target and \
            away[target] <= math.log(SCALE_TOLERANCE)
    return None if same else (f"run {run.id} is at rung {mine}, the suite holds rung {rung}: "
                              "not checked against another scale's thresholds")


def at_scale(runs: Sequence[RunRecord], rung: str | None
              ) -> tuple[list[RunRecord], dict[str, Any]]:
    """The adopted runs at the scale the suite is for, and the spec keys that record it.

    Runs at one rung (or none) give every run and no scale. A ladder gives the runs at
    ``rung`` (else at the largest rung) and ``{"rung": ..., "rungs": [...]}``."""
    ladder: dict[str, Any] = {}
    for run in runs:
        value = rung_of(run)
        if value is not None:
            ladder.setdefault(str(value), value)
    if rung is None and len(ladder) < 2:
        return list(runs), {}
    if rung is not None:
        chosen = next((v for v in ladder.values() if same_rung(v, rung)), None)
        if chosen is None:
            raise NotFoundError(f"no adopted run is at rung {rung}"
                                + (f" (they are at {', '.join(ladder)})" if ladder else
                                   " (they have no rung or n_params)"))
    else:
        numbers = {k: _rung_number(v) for k, v in ladder.items()}
        if any(n is None for n in numbers.values()):
            raise UsageError(f"the adopted runs span the rungs {', '.join(ladder)}: choose the "
                             "scale the suite is for with --rung")
        chosen = ladder[max(numbers, key=lambda k: numbers[k] or 0.0)]
    mine = [r for r in runs if (v := rung_of(r)) is not None and same_rung(v, chosen)]
    return mine, {"rung": chosen, "rungs": sorted(ladder.values(), key=lambda v: (
        _rung_number(v) is None, _rung_number(v) or 0.0, str(v)))}
