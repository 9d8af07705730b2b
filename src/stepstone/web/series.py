"""Series for drawing: read from the store, non-finite points dropped, LTTB-downsampled."""

from __future__ import annotations

import math
from typing import Any

from stepstone.store.lab import Lab
from stepstone.store.listing import Listing
from stepstone.store.metrics import Series
from stepstone.web.downsample import lttb_indices

DEFAULT_POINTS = 1500
MAX_POINTS = 20000


def drawable(series: Series, points: int) -> dict[str, Any]:
    """``{"x": steps, "y": values, "n": points logged, "dropped": non-finite points}``."""
    xs: list[float] = []
    ys: list[float] = []
    dropped = 0
    for step, value in zip(series.steps, series.values):
        if math.isfinite(value):
            xs.append(step)
            ys.append(value)
        else:
            dropped += 1
    keep = lttb_indices(xs, ys, points)
    if len(keep) < len(xs):
        xs = [xs[i] for i in keep]
        ys = [ys[i] for i in keep]
    return {"x": xs, "y": ys, "n": len(series), "dropped": dropped}


def run_series(
    lab: Lab, run_id: str, keys: list[str] | None, since: int | None, points: int
) -> dict[str, dict[str, Any]]:
    """Every (or the named) series of a run, after step ``since`` when given."""
    found = Listing(lab.db).series_since(run_id, keys, since)
    return {key: drawable(found[key], points) for key in sorted(found)}
