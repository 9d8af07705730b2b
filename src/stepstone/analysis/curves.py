"""Curves of several runs drawn as one: runs grouped by config, and a group's mean with its
min–max and ±σ band. Pure: configs and point lists in, plain dicts out, no I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

SEED = "seed"


def _is_seed(key: str) -> bool:
    return key == SEED or key.endswith("." + SEED) or key.endswith("_" + SEED)


def group_runs(configs: Mapping[str, Mapping[str, Any]], by: str | None = None
               ) -> list[dict[str, Any]]:
    """Runs (id -> flat config) in groups, in first-seen order: ``by`` a config key, the runs
    with one value of it; without ``by``, the runs whose configs differ only in their seed.
    Each group is ``{"label": text, "runs": [ids]}``; the label names what sets it apart."""
    keys = sorted({k for c in configs.values() for k in c})
    if by:
        parts: dict[str, tuple[str, ...]] = {rid: (repr(c.get(by, "—")),)
                                             for rid, c in configs.items()}
        labels = {rid: f"{by}={c.get(by, '—')}" for rid, c in configs.items()}
    else:
        varying = [k for k in keys if not _is_seed(k)
                   and len({repr(c.get(k, "—")) for c in configs.values()}) > 1]
        parts = {rid: tuple(repr(c.get(k, "—")) for k in varying)
                 for rid, c in configs.items()}
        labels = {rid: ", ".join(f"{k}={c.get(k, '—')}" for k in varying) or "same config"
                  for rid, c in configs.items()}
    groups: dict[Any, dict[str, Any]] = {}
    for rid in configs:
        groups.setdefault(parts[rid], {"label": labels[rid], "runs": []})["runs"].append(rid)
    return list(groups.values())


def _resample(xs: Sequence[float], ys: Sequence[float], grid: Sequence[float]) -> list[float]:
    """ys at each step of ``grid`` (ascending, within xs), linear between the points around it:
    one walk along both."""
    out = []
    i = 0
    last = len(xs) - 1
    for x in grid:
        while i < last and xs[i + 1] <= x:
            i += 1
        if xs[i] == x or i == last:
            out.append(ys[i])
        else:
            out.append(ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i]))
    return out


def band(curves: Sequence[tuple[Sequence[float], Sequence[float]]], points: int = 1000
         ) -> dict[str, list[float]]:
    """The mean, min, max and ±σ of curves (each ``(steps, values)``, steps ascending) over
    the steps they all span: at their steps, or ``points`` evenly spaced ones when more.
    Empty lists when the curves share no step range."""
    empty: dict[str, list[float]] = {"x": [], "mean": [], "low": [], "high": [],
                                     "minus": [], "plus": []}
    curves = [(list(map(float, x)), list(map(float, y))) for x, y in curves if len(x)]
    if not curves:
        return empty
    lo = max(x[0] for x, _ in curves)
    hi = min(x[-1] for x, _ in curves)
    if lo > hi:
        return empty
    grid = sorted({s for x, _ in curves for s in x if lo <= s <= hi})
    if len(grid) > points:
        grid = [lo + (hi - lo) * i / (points - 1) for i in range(points)]
    columns = [_resample(x, y, grid) for x, y in curves]
    out: dict[str, list[float]] = {k: [] for k in empty}
    count = len(columns)
    for s, values in zip(grid, zip(*columns, strict=True), strict=True):
        mean = sum(values) / count
        sd = (math.sqrt(sum((v - mean) ** 2 for v in values) / (count - 1))
              if count > 1 else 0.0)
        out["x"].append(s)
        out["mean"].append(mean)
        out["low"].append(min(values))
        out["high"].append(max(values))
        out["minus"].append(mean - sd)
        out["plus"].append(mean + sd)
    return out
