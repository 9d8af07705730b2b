"""Reading several evals together, and catching "val loss improves, an eval gets worse".

* :func:`average_evals` — the average of several evals next to each individual number, as
  researchers read a results table. Each eval gets its mean over seeds with a t interval;
  the average row, when every eval has the same seeds, is the per-seed average across evals
  (so its interval respects the correlation between evals); otherwise the mean of the means
  without an interval.
* :func:`loss_eval_divergence` — between two runs or checkpoints: did validation loss improve
  while a downstream eval got worse? With several seeds per side each change gets an
  interval, paired on the seeds both sides ran (values given as seed -> value mappings
  sharing 2+ seeds: the t interval of the per-seed change), else Welch; it counts as worse
  only when the interval excludes 0 and the change is larger than ``min_delta``. The result
  carries a Markdown table that shows it.
* :func:`checkpoint_divergences` — the same check between consecutive checkpoints of a run.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from stepstone.errors import AnalysisError

from ._common import (
    FloatArray,
    ResultMixin,
    as_float_array,
    check_confidence,
    paired,
    t_interval,
    welch,
)

Value = float | Sequence[float] | Mapping[str, float]
"""One number, one per seed, or seed -> number (the form that pairs two sides by seed)."""


@dataclass(frozen=True)
class EvalRow(ResultMixin):
    name: str
    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    values: tuple[float, ...]


@dataclass(frozen=True)
class EvalTable(ResultMixin):
    """Each eval's number and, next to them, their average."""

    rows: tuple[EvalRow, ...]
    average: EvalRow
    confidence: float
    note: str

    def markdown(self) -> str:
        lines = ["| eval | mean | ± std | interval | seeds |", "| --- | ---: | ---: | --- | ---: |"]
        for r in (*self.rows, self.average):
            ci = f"[{r.ci_low:.4g}, {r.ci_high:.4g}]" if math.isfinite(r.ci_low) else "–"
            sd = f"{r.std:.3g}" if math.isfinite(r.std) else "–"
            lines.append(f"| {r.name} | {r.mean:.4g} | {sd} | {ci} | {r.n} |")
        return "\n".join(lines)


@dataclass(frozen=True)
class EvalChange(ResultMixin):
    name: str
    before: float
    after: float
    change: float  # after - before
    ci_low: float | None
    ci_high: float | None
    higher_is_better: bool
    worse: bool
    better: bool
    paired: bool = False  # the interval is of the per-seed change on common seeds


@dataclass(frozen=True)
class Divergence(ResultMixin):
    """Validation loss against downstream evals between two runs or checkpoints."""

    before_label: str
    after_label: str
    loss_key: str
    loss_before: float
    loss_after: float
    loss_improved: bool
    changes: tuple[EvalChange, ...]
    worsened: tuple[str, ...]
    detected: bool
    table: str
    confidence: float


def _row(name: str, value: Value, confidence: float) -> EvalRow:
    x = _array(value, name)
    if x.size >= 2:
        sd = float(x.std(ddof=1))
        lo, hi = t_interval(float(x.mean()), sd / math.sqrt(x.size), x.size - 1, confidence)
    else:
        sd, lo, hi = math.nan, math.nan, math.nan
    return EvalRow(name, int(x.size), float(x.mean()), sd, lo, hi, tuple(float(v) for v in x))


def average_evals(
    evals: Mapping[str, Value], *, confidence: float = 0.95, name: str = "average"
) -> EvalTable:
    """Each eval (one number or one per seed) and their average."""
    conf = check_confidence(confidence)
    if not evals:
        raise AnalysisError("No evals given; pass a mapping of eval name -> score(s).")
    rows = tuple(_row(k, v, conf) for k, v in evals.items())
    sizes = {r.n for r in rows}
    if len(sizes) == 1 and rows[0].n >= 2:
        per_seed = np.mean([r.values for r in rows], axis=0)
        avg = _row(name, per_seed.tolist(), conf)
        note = "average taken per seed across evals, then over seeds"
    else:
        avg = EvalRow(
            name,
            min(sizes),
            float(np.mean([r.mean for r in rows])),
            math.nan,
            math.nan,
            math.nan,
            (),
        )
        note = (
            "mean of the eval means; no interval because the evals do not share seeds"
            if len(sizes) > 1
            else "mean of single numbers; add seeds for an interval"
        )
    return EvalTable(rows, avg, conf, note)


def _hib(name: str, higher_is_better: bool | Mapping[str, bool]) -> bool:
    if isinstance(higher_is_better, Mapping):
        return bool(higher_is_better.get(name, True))
    return bool(higher_is_better)


def loss_eval_divergence(
    before: Mapping[str, Value],
    after: Mapping[str, Value],
    *,
    loss_key: str = "val_loss",
    higher_is_better: bool | Mapping[str, bool] = True,
    min_delta: float = 0.0,
    confidence: float = 0.95,
    labels: tuple[str, str] = ("before", "after"),
) -> Divergence:
    """Did ``loss_key`` improve (go down) from ``before`` to ``after`` while an eval got worse?

    Both mappings hold the loss and the evals: one number each, one per seed, or seed ->
    number (then the sides pair on their common seeds).
    ``higher_is_better`` applies to the evals (a bool, or per eval name; default True).
    """
    conf = check_confidence(confidence)
    for side, m in (("before", before), ("after", after)):
        if loss_key not in m:
            raise AnalysisError(f"{side} has no {loss_key!r}; pass loss_key= to name the loss.")
    lb = _array(before[loss_key], loss_key)
    la = _array(after[loss_key], loss_key)
    loss_improved = bool(la.mean() < lb.mean())
    names = [k for k in before if k != loss_key and k in after]
    if not names:
        raise AnalysisError("before and after share no eval besides the loss.")
    changes: list[EvalChange] = []
    for k in names:
        vb, va = before[k], after[k]
        is_paired = False
        if isinstance(vb, Mapping) and isinstance(va, Mapping):
            seeds = [s for s in vb if s in va]
            is_paired = len(seeds) >= 2  # every column is of the seeds both sides ran
            if is_paired:
                vb, va = [vb[s] for s in seeds], [va[s] for s in seeds]
        xb, xa = _array(vb, k), _array(va, k)
        hib = _hib(k, higher_is_better)
        change = float(xa.mean() - xb.mean())
        lo: float | None = None
        hi: float | None = None
        if is_paired:  # the t interval of the per-seed change
            _, lo, hi, _ = paired(xb, xa, conf)
        elif xa.size >= 2 and xb.size >= 2:
            _, lo, hi, _ = welch(xb, xa, conf)
        signed = change if hib else -change  # > 0 means better
        beyond = abs(change) > min_delta
        if lo is not None and hi is not None:
            clear_down = (hi < 0) if hib else (lo > 0)
            clear_up = (lo > 0) if hib else (hi < 0)
        else:
            clear_down = clear_up = True
        worse = signed < 0 and beyond and clear_down
        better = signed > 0 and beyond and clear_up
        changes.append(
            EvalChange(k, float(xb.mean()), float(xa.mean()), change, lo, hi, hib, worse, better,
                       is_paired)
        )
    worsened = tuple(c.name for c in changes if c.worse)
    detected = loss_improved and bool(worsened)
    b_lab, a_lab = labels
    lines = [
        f"| metric | {b_lab} | {a_lab} | change | reading |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| {loss_key} | {lb.mean():.4g} | {la.mean():.4g} | {la.mean() - lb.mean():+.4g} | "
        f"{'improves' if loss_improved else 'does not improve'} |",
    ]
    for c in changes:
        reading = "WORSE" if c.worse else "better" if c.better else "no clear change"
        ci = f" [{c.ci_low:+.3g}, {c.ci_high:+.3g}]" if c.ci_low is not None else ""
        lines.append(
            f"| {c.name} | {c.before:.4g} | {c.after:.4g} | {c.change:+.4g}{ci} | {reading} |"
        )
    return Divergence(
        b_lab,
        a_lab,
        loss_key,
        float(lb.mean()),
        float(la.mean()),
        loss_improved,
        tuple(changes),
        worsened,
        detected,
        "\n".join(lines),
        conf,
    )


def _array(value: Value, name: str) -> FloatArray:
    values = list(value.values()) if isinstance(value, Mapping) else value
    return as_float_array(values, name)


def checkpoint_divergences(
    checkpoints: Sequence[Mapping[str, float]],
    *,
    step_key: str = "step",
    loss_key: str = "val_loss",
    higher_is_better: bool | Mapping[str, bool] = True,
    min_delta: float = 0.0,
) -> tuple[Divergence, ...]:
    """Every consecutive pair of checkpoints where val loss improves but an eval worsens."""
    if len(checkpoints) < 2:
        raise AnalysisError("Need at least 2 checkpoints to compare.")
    found = []
    for prev, cur in itertools.pairwise(checkpoints):
        before = {k: v for k, v in prev.items() if k != step_key}
        after = {k: v for k, v in cur.items() if k != step_key}
        labels = (f"{step_key} {prev.get(step_key, '?')}", f"{step_key} {cur.get(step_key, '?')}")
        div = loss_eval_divergence(
            before,
            after,
            loss_key=loss_key,
            higher_is_better=higher_is_better,
            min_delta=min_delta,
            labels=labels,
        )
        if div.detected:
            found.append(div)
    return tuple(found)
