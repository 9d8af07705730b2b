"""Quality against efficiency: Pareto frontier under hard constraints, and MFU.

:func:`pareto_front` takes runs as records (mappings of metric name to value, with an
``"id"``), drops every run that breaks a hard constraint (``"latency_ms <= 100"``,
``"memory_gb < 40"``; operators ``<= < >= > == !=``) or lacks a metric, then marks the
runs that no other run dominates. Run *j* dominates run *i* when it is at least as good on
quality and on every cost (costs are minimised) and strictly better on one. The survivors
are ranked by quality.

:func:`mfu` is model FLOPs utilisation (Chowdhery et al. 2022, PaLM, §4 and App. B):
``MFU = model FLOPs per second achieved / peak FLOPs per second``, where the model FLOPs
are those the model needs (e.g. 6ND plus attention), not those the hardware executed
(rematerialisation is not counted). PaLM 540B: 238.3k tokens/s on 6,144 TPU v4 chips
(275 TFLOP/s peak each) at ``6N + 12·L·H·Q·T`` FLOPs per token gives 46.2%.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stepstone.display import finite
from stepstone.errors import AnalysisError

from ._common import ResultMixin
from .flops import FlopsEstimate

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
_CONSTRAINT = re.compile(
    r"^\s*([A-Za-z_][\w.\-/]*)\s*(<=|>=|==|!=|<|>)\s*"
    r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Constraint(ResultMixin):
    """A hard constraint ``metric op value``."""

    metric: str
    op: str
    value: float
    text: str

    def holds(self, x: float) -> bool:
        return bool(_OPS[self.op](x, self.value))


@dataclass(frozen=True)
class ParetoPoint(ResultMixin):
    id: str
    quality: float
    costs: dict[str, float]
    on_front: bool
    dominated_by: str | None
    rank: int  # by quality among runs that meet every constraint, 1 = best


@dataclass(frozen=True)
class Disqualified(ResultMixin):
    id: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ParetoResult(ResultMixin):
    quality: str
    cost: tuple[str, ...]
    maximize: bool
    constraints: tuple[Constraint, ...]
    front: tuple[ParetoPoint, ...]  # sorted by the first cost
    ranked: tuple[ParetoPoint, ...]  # every qualified run by quality
    disqualified: tuple[Disqualified, ...]

    @property
    def best(self) -> ParetoPoint | None:
        """The best-quality run that meets every constraint."""
        return self.ranked[0] if self.ranked else None


@dataclass(frozen=True)
class MFUResult(ResultMixin):
    mfu: float
    achieved_flops_per_second: float
    peak_flops_per_second: float
    n_devices: int
    flops_method: str
    warning: str | None = None  # set when the MFU is impossible (over 100%)


def over_peak(mfu: float) -> str | None:
    """Why an MFU over 100% cannot be (None when it is at most 100%): the one check of it,
    for :func:`mfu` and the roofline alike."""
    if mfu <= 1.0:
        return None
    return (f"MFU {mfu:.0%} is over 100%, which no device achieves: the FLOPs, the time, "
            "the peak (for the precision used) or the device count is wrong")


def parse_constraint(text: str) -> Constraint:
    """Parse ``"metric op number"``, e.g. ``"latency_ms <= 100"``."""
    m = _CONSTRAINT.match(text)
    if m is None:
        raise AnalysisError(
            f"Cannot read the constraint {text!r}; write it as 'metric op number' with op one "
            "of <=, <, >=, >, ==, !=, e.g. 'latency_ms <= 100'."
        )
    return Constraint(m.group(1), m.group(2), float(m.group(3)), text.strip())


def pareto_front(
    records: Sequence[Mapping[str, Any]],
    *,
    quality: str,
    cost: str | Sequence[str],
    maximize: bool = True,
    constraints: Sequence[str | Constraint] = (),
    id_key: str = "id",
) -> ParetoResult:
    """Pareto frontier of ``quality`` (maximised unless ``maximize=False``) against
    ``cost`` (one or several metrics, all minimised) over runs meeting every constraint."""
    costs = (cost,) if isinstance(cost, str) else tuple(cost)
    if not costs:
        raise AnalysisError("Name at least one cost metric, e.g. cost='latency_ms'.")
    parsed = tuple(c if isinstance(c, Constraint) else parse_constraint(c) for c in constraints)
    if not records:
        raise AnalysisError("No runs given to rank.")
    ids: list[str] = []
    qual: list[float] = []
    cmat: list[list[float]] = []
    out: list[Disqualified] = []
    for i, rec in enumerate(records):
        rid = str(rec.get(id_key, f"#{i}"))
        reasons = []
        q = finite(rec.get(quality))
        cs = [finite(rec.get(c)) for c in costs]
        if q is None:
            reasons.append(f"no {quality}")
        reasons += [f"no {c}" for c, v in zip(costs, cs, strict=True) if v is None]
        for con in parsed:
            v = finite(rec.get(con.metric))
            if v is None:
                reasons.append(f"no {con.metric} to check {con.text!r}")
            elif not con.holds(v):
                reasons.append(f"{con.metric} = {v:g} breaks {con.text!r}")
        if reasons:
            out.append(Disqualified(rid, tuple(reasons)))
            continue
        assert q is not None
        ids.append(rid)
        qual.append(q)
        cmat.append([float(v) for v in cs if v is not None])
    if not ids:
        return ParetoResult(quality, costs, maximize, parsed, (), (), tuple(out))
    qv = np.array(qual) if maximize else -np.array(qual)
    cm = np.array(cmat)
    # j dominates i: q_j >= q_i, c_j <= c_i everywhere, and strictly better somewhere
    ge = (qv[:, None] >= qv[None, :]) & np.all(cm[:, None, :] <= cm[None, :, :], axis=2)
    gt = (qv[:, None] > qv[None, :]) | np.any(cm[:, None, :] < cm[None, :, :], axis=2)
    dom = ge & gt  # dom[j, i]
    order = np.argsort(-qv, kind="stable")
    rank = np.empty(len(ids), dtype=int)
    rank[order] = np.arange(1, len(ids) + 1)
    points = []
    for i in range(len(ids)):
        by = np.flatnonzero(dom[:, i])
        best_dom = ids[int(by[np.argmax(qv[by])])] if by.size else None
        points.append(
            ParetoPoint(
                ids[i],
                qual[i],
                dict(zip(costs, cmat[i], strict=True)),
                by.size == 0,
                best_dom,
                int(rank[i]),
            )
        )
    front = sorted((p for p in points if p.on_front), key=lambda p: (p.costs[costs[0]], p.id))
    ranked = tuple(points[i] for i in order)
    return ParetoResult(quality, costs, maximize, parsed, tuple(front), ranked, tuple(out))


def mfu(
    flops: float | FlopsEstimate,
    seconds: float,
    peak_flops_per_second: float,
    *,
    n_devices: int = 1,
) -> MFUResult:
    """Model FLOPs utilisation: ``flops / seconds / (peak_flops_per_second · n_devices)``.

    ``flops`` is the model FLOPs done in ``seconds`` (a number or a :class:`FlopsEstimate`);
    the peak is per device, as the vendor states it for the precision used. An MFU over
    100% is impossible: the result carries a ``warning`` saying so (:func:`over_peak`).
    """
    method = flops.method if isinstance(flops, FlopsEstimate) else "given"
    f = flops.flops if isinstance(flops, FlopsEstimate) else float(flops)
    for name, v in (("flops", f), ("seconds", seconds), ("peak", peak_flops_per_second)):
        if not (math.isfinite(v) and v > 0):
            raise AnalysisError(f"MFU needs a positive {name}; got {v}.")
    if n_devices < 1:
        raise AnalysisError(f"n_devices must be at least 1; got {n_devices}.")
    achieved = f / seconds
    peak = peak_flops_per_second * n_devices
    return MFUResult(achieved / peak, achieved, peak, n_devices, method,
                     over_peak(achieved / peak))
