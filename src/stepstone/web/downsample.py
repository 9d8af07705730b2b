"""Downsampling of a series for drawing: a min/max envelope, and largest-triangle-three-buckets.

Pure: sequences in, index list out, no I/O. The envelope (:func:`envelope_indices`) keeps,
from each of ``n // 2`` equal buckets, the lowest and the highest point, so every spike up
and down survives however many points a bucket holds: the metric charts use it.
LTTB (Steinarsson, 2013) keeps the first and the last point and, from each of ``n - 2``
equal buckets between them, the point that makes the largest triangle with the point kept
before it and the mean of the next bucket: the shape survives, but of a spike up and one
down in one bucket only one. numpy is used when it is installed (a million points in tens
of milliseconds); the pure-Python path gives the same answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

_np: Any
try:  # numpy is an optional speed-up, not a requirement of the dashboard
    import numpy as _np
except ImportError:  # pragma: no cover - exercised where numpy is absent
    _np = None


def lttb_indices(
    xs: Sequence[float], ys: Sequence[float], n: int, *, use_numpy: bool | None = None
) -> list[int]:
    """The indices of the ``n`` points LTTB keeps (all of them when there are ``<= n``)."""
    size = _checked(xs, ys, n, 3, "LTTB needs")
    if size <= n:
        return list(range(size))
    use_numpy = _np is not None if use_numpy is None else use_numpy
    if use_numpy and _np is not None:
        return _lttb_numpy(xs, ys, n)
    return _lttb_python(xs, ys, n)


def lttb(
    xs: Sequence[float], ys: Sequence[float], n: int
) -> tuple[list[float], list[float]]:
    """The kept points as two lists (x and y)."""
    keep = lttb_indices(xs, ys, n)
    return [xs[i] for i in keep], [ys[i] for i in keep]


def _checked(xs: Sequence[float], ys: Sequence[float], n: int, least: int, what: str) -> int:
    """The number of points, once ``xs`` and ``ys`` pair up and ``n`` is at least ``least``."""
    size = len(xs)
    if len(ys) != size:
        raise ValueError(f"xs has {size} points and ys {len(ys)}")
    if n < least:
        raise ValueError(f"{what} a threshold of at least {least} points")
    return size


def _bounds(size: int, n: int, bucket: int) -> tuple[int, int]:
    """Start and end (exclusive) of bucket ``bucket`` (0-based) of the middle points."""
    every = (size - 2) / (n - 2)
    start = math.floor(bucket * every) + 1
    end = min(math.floor((bucket + 1) * every) + 1, size - 1)
    return start, end


def _lttb_python(xs: Sequence[float], ys: Sequence[float], n: int) -> list[int]:
    size = len(xs)
    keep = [0]
    a = 0
    for bucket in range(n - 2):
        start, end = _bounds(size, n, bucket)
        if bucket == n - 3:
            nstart, nend = size - 1, size
        else:
            nstart, nend = _bounds(size, n, bucket + 1)
        count = nend - nstart
        avg_x = sum(float(xs[i]) for i in range(nstart, nend)) / count
        avg_y = sum(float(ys[i]) for i in range(nstart, nend)) / count
        ax, ay = float(xs[a]), float(ys[a])
        best, best_area = start, -1.0
        for i in range(start, end):
            area = abs((ax - avg_x) * (float(ys[i]) - ay) - (ax - float(xs[i])) * (avg_y - ay))
            if area > best_area:
                best, best_area = i, area
        keep.append(best)
        a = best
    keep.append(size - 1)
    return keep


def _lttb_numpy(xs: Sequence[float], ys: Sequence[float], n: int) -> list[int]:
    assert _np is not None
    x = _np.asarray(xs, dtype=_np.float64)
    y = _np.asarray(ys, dtype=_np.float64)
    size = len(x)
    every = (size - 2) / (n - 2)
    edges = _np.minimum(_np.floor(_np.arange(n - 1) * every).astype(_np.int64) + 1, size - 1)
    # the mean of every bucket, and of the last point standing in for the bucket after the last
    cx = _np.concatenate(([0.0], _np.cumsum(x)))
    cy = _np.concatenate(([0.0], _np.cumsum(y)))
    starts, ends = edges[:-1], edges[1:]
    counts = ends - starts
    mean_x = _np.append((cx[ends] - cx[starts]) / counts, x[-1])
    mean_y = _np.append((cy[ends] - cy[starts]) / counts, y[-1])
    keep = [0]
    a = 0
    for bucket in range(n - 2):
        start, end = int(starts[bucket]), int(ends[bucket])
        ax, ay = x[a], y[a]
        bx, by = mean_x[bucket + 1], mean_y[bucket + 1]
        area = _np.abs((ax - bx) * (y[start:end] - ay) - (ax - x[start:end]) * (by - ay))
        a = start + int(_np.argmax(area))
        keep.append(a)
    keep.append(size - 1)
    return keep


def envelope_indices(
    xs: Sequence[float], ys: Sequence[float], n: int, *, use_numpy: bool | None = None
) -> list[int]:
    """The indices of at most ``n`` points: the first, the last, and the lowest and the
    highest point of each of ``(n - 2) // 2`` equal buckets between them, in order."""
    size = _checked(xs, ys, n, 4, "a min/max envelope needs")
    if size <= n:
        return list(range(size))
    use_numpy = _np is not None if use_numpy is None else use_numpy
    buckets = (n - 2) // 2
    keep = {0, size - 1}
    if use_numpy and _np is not None:
        # every bucket as a row of one matrix (shorter rows padded with their own last point,
        # which leaves the first lowest and highest where they were)
        y = _np.asarray(ys, dtype=_np.float64)
        every = (size - 2) / buckets
        edges = _np.minimum(
            _np.floor(_np.arange(buckets + 1) * every).astype(_np.int64) + 1, size - 1)
        starts, ends = edges[:-1], edges[1:]
        width = int((ends - starts).max())
        rows = _np.minimum(starts[:, None] + _np.arange(width)[None, :], (ends - 1)[:, None])
        values = y[rows]
        keep.update((starts + values.argmin(axis=1)).tolist())
        keep.update((starts + values.argmax(axis=1)).tolist())
    else:
        for bucket in range(buckets):
            start, end = _bounds(size, buckets + 2, bucket)
            span = range(start, end)
            keep.add(min(span, key=lambda i: float(ys[i])))
            keep.add(max(span, key=lambda i: float(ys[i])))
    return sorted(keep)
