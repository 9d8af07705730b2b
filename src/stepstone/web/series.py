"""Series for drawing: read from the store, non-finite points dropped, downsampled to a
min/max envelope (every spike kept: see :func:`~stepstone.web.downsample.envelope_indices`)."""

from __future__ import annotations

import math
from typing import Any

from stepstone.store.lab import Lab
from stepstone.store.listing import Listing
from stepstone.store.metrics import Series
from stepstone.web.downsample import envelope_indices

_np: Any
try:  # numpy makes a million-point series quick; the pure path gives the same answer
    import numpy as _np
except ImportError:  # pragma: no cover
    _np = None

DEFAULT_POINTS = 1500
MAX_POINTS = 20000


def drawable(series: Series, points: int) -> dict[str, Any]:
    """``{"x": steps, "y": values, "n": points logged, "dropped": non-finite points}``."""
    if _np is not None and len(series) > points:
        x = _np.asarray(series.steps, dtype=_np.float64)
        y = _np.asarray(series.values, dtype=_np.float64)
        ok = _np.isfinite(y)
        dropped = int(len(y) - int(ok.sum()))
        if dropped:
            x, y = x[ok], y[ok]
        keep = _np.asarray(envelope_indices(x, y, points), dtype=_np.int64)
        return {"x": x[keep].astype(_np.int64).tolist(), "y": y[keep].tolist(),
                "n": len(series), "dropped": dropped}
    xs: list[float] = []
    ys: list[float] = []
    dropped = 0
    for step, value in zip(series.steps, series.values, strict=True):
        if math.isfinite(value):
            xs.append(step)
            ys.append(value)
        else:
            dropped += 1
    keep_list = envelope_indices(xs, ys, points)
    if len(keep_list) < len(xs):
        xs = [xs[i] for i in keep_list]
        ys = [ys[i] for i in keep_list]
    return {"x": xs, "y": ys, "n": len(series), "dropped": dropped}


def _from_chunks(lab: Lab, run_id: str, key: str, points: int) -> dict[str, Any] | None:
    """A whole series decoded in bulk with numpy (no Python float per point)."""
    chunks = Listing(lab.db).series_chunks(run_id, key)
    if not chunks:
        return None
    x = _np.concatenate([_np.frombuffer(s, dtype="<i8") for s, _ in chunks])
    y = _np.concatenate([_np.frombuffer(v, dtype="<f8") for _, v in chunks])
    total = len(y)
    ok = _np.isfinite(y)
    dropped = int(total - int(ok.sum()))
    if dropped:
        x, y = x[ok], y[ok]
    if len(y) > points:
        keep = _np.asarray(envelope_indices(x, y, points), dtype=_np.int64)
        x, y = x[keep], y[keep]
    return {"x": x.tolist(), "y": y.tolist(), "n": total, "dropped": dropped}


def run_series(
    lab: Lab, run_id: str, keys: list[str] | None, since: int | None, points: int
) -> dict[str, dict[str, Any]]:
    """Every (or the named) series of a run, after step ``since`` when given."""
    if _np is not None and since is None:
        out = {}
        for key in sorted(set(keys if keys is not None else lab.metrics.keys(run_id))):
            found_one = _from_chunks(lab, run_id, key, points)
            if found_one is not None:
                out[key] = found_one
        return out
    found = lab.metrics.history(run_id, keys, after_step=since)
    return {key: drawable(found[key], points) for key in sorted(found)}
