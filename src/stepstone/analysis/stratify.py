"""Stratified evaluation: per-bucket mean, spread and worst case, not one number.

Input: per-example records, each a mapping with ``"id"``, ``"score"`` (float) and/or
``"correct"`` (bool), optionally ``"prediction"``, and any other keys as bucket fields
(``"difficulty"``, ``"length"``, ...). For each bucket of each field :func:`stratify` gives

* count, mean, sample standard deviation;
* the **worst case**: the 5th percentile of the scores (the 95th when lower is better);
  for pass/fail records it is not defined (None) and the accuracy interval carries the risk;
* an interval for the mean: Student t for scores, Wilson score interval for accuracy;
* coverage findings: expected buckets that are **empty**, buckets with fewer than
  ``min_count`` examples (**thin**: their numbers are noise), records missing the field.

The weakest bucket (lowest mean among buckets that are not thin, or among all when every
bucket is thin) is highlighted. Numeric fields with many distinct values are cut into
bins: explicit edges via ``bins={"length": [0, 128, 512, 2048]}``, or ``bins={"length": 4}``
for quantile bins (automatic, 5 quantile bins, above ``max_levels`` distinct values).

:func:`compare_buckets` compares two runs bucket by bucket: paired on example ids that
both runs scored (paired t interval of the per-example difference), else Welch. When paired,
every column (counts, means, difference, interval) is of the paired examples, and
``unmatched`` counts the examples of either run left out for want of a partner.

The direction of a comparison has one reading everywhere (the command line, the dashboard,
the report): run b **against** the reference a, ``diff = b - a``; "better" and "worse" are
said of b, in the metric's direction (:func:`direction`), and :func:`regression_text` is the
one sentence that names the bucket where b is worst against a.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stepstone.errors import AnalysisError

from ._common import (
    FloatArray,
    ResultMixin,
    check_confidence,
    paired,
    t_interval,
    welch,
    wilson_interval,
)

Record = Mapping[str, Any]
RESERVED = ("id", "score", "correct", "prediction")
MISSING = "(missing)"


@dataclass(frozen=True)
class BucketStats(ResultMixin):
    field: str
    bucket: str
    count: int
    mean: float
    std: float
    worst_5pct: float | None
    ci_low: float
    ci_high: float
    thin: bool


@dataclass(frozen=True)
class Coverage(ResultMixin):
    field: str
    n_buckets: int
    empty: tuple[str, ...]
    thin: tuple[str, ...]
    missing_field: int


@dataclass(frozen=True)
class StratifiedReport(ResultMixin):
    metric: str
    higher_is_better: bool
    confidence: float
    min_count: int
    overall: BucketStats
    buckets: tuple[BucketStats, ...]
    weakest: BucketStats | None
    coverage: tuple[Coverage, ...]
    findings: tuple[str, ...]
    missing_metric: int

    def for_field(self, field: str) -> tuple[BucketStats, ...]:
        return tuple(b for b in self.buckets if b.field == field)


@dataclass(frozen=True)
class BucketDiff(ResultMixin):
    field: str
    bucket: str
    count_a: int
    count_b: int
    mean_a: float
    mean_b: float
    diff: float  # b - a
    ci_low: float | None
    ci_high: float | None
    paired: bool
    verdict: str  # "b better", "b worse", "no clear difference", "too few examples"
    unmatched: int = 0  # paired: examples of either run without a partner, left out


@dataclass(frozen=True)
class BucketComparison(ResultMixin):
    metric: str
    higher_is_better: bool
    confidence: float
    overall: BucketDiff
    rows: tuple[BucketDiff, ...]
    largest_regression: BucketDiff | None


def _metric_name(records: Sequence[Record], metric: str | None) -> str:
    if metric is not None:
        return metric
    if any(r.get("score") is not None for r in records):
        return "score"
    if any(r.get("correct") is not None for r in records):
        return "correct"
    raise AnalysisError('Records carry neither "score" nor "correct"; pass metric= to name one.')


def _value(rec: Record, metric: str) -> float | None:
    v = rec.get(metric)
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        return 1.0 if v else 0.0
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise AnalysisError(
            f"Record {rec.get('id', '?')!r} has a non-numeric {metric}: {v!r}."
        ) from None
    if not math.isfinite(f):
        raise AnalysisError(f"Record {rec.get('id', '?')!r} has a non-finite {metric}: {v}.")
    return f


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _binner(
    field: str, values: list[Any], bins: Mapping[str, int | Sequence[float]], max_levels: int
) -> tuple[Any, list[str]]:
    """A function value -> bucket label for ``field``, and the labels in order."""
    present = [v for v in values if v is not None]
    numeric = bool(present) and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
        for v in present
    )
    spec = bins.get(field)
    if spec is None and not (numeric and len(set(present)) > max_levels):
        order = sorted({str(v) for v in present})
        return (lambda v: MISSING if v is None else str(v)), order
    if not numeric:
        raise AnalysisError(f"Field {field!r} is not numeric, so it cannot be binned.")
    arr = np.asarray(present, dtype=np.float64)
    if spec is None or isinstance(spec, int):
        q = 5 if spec is None else int(spec)
        if q < 1:
            raise AnalysisError(f"bins for {field!r} must be at least 1; got {q}.")
        edges = np.unique(np.quantile(arr, np.linspace(0, 1, q + 1)))
    else:
        edges = np.asarray(sorted(float(e) for e in spec), dtype=np.float64)
        if edges.size < 2:
            raise AnalysisError(f"bins for {field!r} need at least 2 edges.")
    labels = [f"[{_fmt(lo)}, {_fmt(hi)})" for lo, hi in itertools.pairwise(edges)]
    if labels:
        labels[-1] = labels[-1][:-1] + "]"
    below, above = f"< {_fmt(edges[0])}", f"> {_fmt(edges[-1])}"

    def label(v: Any) -> str:
        if v is None:
            return MISSING
        x = float(v)
        if x < edges[0]:
            return below
        if x > edges[-1]:
            return above
        i = min(int(np.searchsorted(edges, x, side="right")) - 1, len(labels) - 1)
        return labels[i]

    return label, labels


def _stats(
    field: str, bucket: str, x: FloatArray, binary: bool, hib: bool, conf: float, min_count: int
) -> BucketStats:
    n = x.size
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n >= 2 else math.nan
    if binary:
        lo, hi = wilson_interval(float(x.sum()), n, conf)
        worst = None
    else:
        lo, hi = (
            t_interval(mean, std / math.sqrt(n), n - 1, conf) if n >= 2 else (math.nan, math.nan)
        )
        worst = float(np.percentile(x, 5 if hib else 95))
    return BucketStats(field, bucket, n, mean, std, worst, lo, hi, n < min_count)


def _fields(by: str | Sequence[str]) -> list[str]:
    fields = [by] if isinstance(by, str) else list(by)
    if not fields:
        raise AnalysisError("Name at least one bucket field in by=, e.g. by='difficulty'.")
    for f in fields:
        if f in RESERVED:
            raise AnalysisError(f"{f!r} is not a bucket field; bucket by e.g. 'difficulty'.")
    return fields


def stratify(
    records: Sequence[Record],
    by: str | Sequence[str],
    *,
    metric: str | None = None,
    higher_is_better: bool = True,
    bins: Mapping[str, int | Sequence[float]] | None = None,
    expected: Mapping[str, Sequence[Any]] | None = None,
    min_count: int = 30,
    confidence: float = 0.95,
    max_levels: int = 20,
) -> StratifiedReport:
    """Per-bucket statistics of ``metric`` (``"score"`` or ``"correct"`` by default)."""
    conf = check_confidence(confidence)
    if not records:
        raise AnalysisError("No records to stratify; pass per-example evaluation records.")
    fields = _fields(by)
    name = _metric_name(records, metric)
    scored = [(r, _value(r, name)) for r in records]
    kept = [(r, v) for r, v in scored if v is not None]
    missing_metric = len(records) - len(kept)
    if not kept:
        raise AnalysisError(f"No record has a {name!r} value.")
    binary = all(isinstance(r.get(name), (bool, np.bool_)) for r, _ in kept)
    allv = np.array([v for _, v in kept])
    overall = _stats("*", "all", allv, binary, higher_is_better, conf, min_count)
    buckets: list[BucketStats] = []
    coverage: list[Coverage] = []
    findings: list[str] = []
    if missing_metric:
        findings.append(f"{missing_metric} record(s) have no {name!r} and were left out")
    for field in fields:
        label, order = _binner(field, [r.get(field) for r, _ in kept], bins or {}, max_levels)
        groups: dict[str, list[float]] = {}
        for r, v in kept:
            groups.setdefault(label(r.get(field)), []).append(v)
        want = [str(e) for e in (expected or {}).get(field, ())]
        keys = list(dict.fromkeys([*order, *want, *groups]))
        empty = tuple(k for k in keys if k not in groups)
        field_stats = [
            _stats(field, k, np.array(groups[k]), binary, higher_is_better, conf, min_count)
            for k in keys
            if k in groups
        ]
        thin = tuple(b.bucket for b in field_stats if b.thin)
        miss = len(groups.get(MISSING, []))
        buckets.extend(field_stats)
        coverage.append(Coverage(field, len(field_stats), empty, thin, miss))
        findings += [f"{field}={k}: no examples (empty bucket)" for k in empty]
        findings += [
            f"{field}={b.bucket}: only {b.count} example(s), under {min_count} (thin)"
            for b in field_stats
            if b.thin
        ]
        if miss:
            findings.append(f"{miss} record(s) have no {field!r}")
    solid = [b for b in buckets if not b.thin] or buckets
    weakest = None
    if solid:
        weakest = (min if higher_is_better else max)(solid, key=lambda b: b.mean)
        findings.insert(
            0,
            f"weakest bucket: {weakest.field}={weakest.bucket} "
            f"(mean {weakest.mean:.4g} vs {overall.mean:.4g} overall)",
        )
    return StratifiedReport(
        name,
        higher_is_better,
        conf,
        min_count,
        overall,
        tuple(buckets),
        weakest,
        tuple(coverage),
        tuple(findings),
        missing_metric,
    )


def _diff(
    field: str,
    bucket: str,
    pa: list[tuple[Any, float]],
    pb: list[tuple[Any, float]],
    hib: bool,
    conf: float,
) -> BucketDiff:
    ids_a = {i: v for i, v in pa if i is not None}
    ids_b = {i: v for i, v in pb if i is not None}
    common = [i for i in ids_a if i in ids_b]
    xa = np.array([v for _, v in pa])
    xb = np.array([v for _, v in pb])
    if xa.size == 0 or xb.size == 0:
        ma = float(xa.mean()) if xa.size else math.nan
        mb = float(xb.mean()) if xb.size else math.nan
        return BucketDiff(
            field, bucket, xa.size, xb.size, ma, mb, mb - ma, None, None, False, "too few examples"
        )
    is_paired = len(common) >= 2
    lo: float | None = None
    hi: float | None = None
    unmatched = 0
    if is_paired:  # every column describes the paired examples; the others are counted out
        unmatched = xa.size + xb.size - 2 * len(common)
        xa = np.array([ids_a[i] for i in common])
        xb = np.array([ids_b[i] for i in common])
        diff, lo, hi, _ = paired(xa, xb, conf)
    else:
        diff = float(xb.mean() - xa.mean())
        if xa.size >= 2 and xb.size >= 2 and (xa.var() > 0 or xb.var() > 0):
            diff, lo, hi, _ = welch(xa, xb, conf)
    if lo is None or hi is None:
        verdict = "too few examples"
    elif lo > 0 or hi < 0:
        verdict = "b better" if (lo > 0) == hib else "b worse"
    else:
        verdict = "no clear difference"
    return BucketDiff(
        field,
        bucket,
        int(xa.size),
        int(xb.size),
        float(xa.mean()),
        float(xb.mean()),
        diff,
        lo,
        hi,
        is_paired,
        verdict,
        unmatched,
    )


def direction(higher_is_better: bool) -> str:
    """``"higher is better"`` or ``"lower is better"``."""
    return "higher is better" if higher_is_better else "lower is better"


def regression_text(comparison: BucketComparison, run: str = "b",
                    reference: str = "a") -> str | None:
    """The one wording of the bucket where ``run`` (b) is worst against ``reference`` (a),
    None when it is clearly worse in none."""
    w = comparison.largest_regression
    if w is None:
        return None
    return (f"{run} is worse than {reference} in {w.field}={w.bucket}: {comparison.metric} "
            f"{w.mean_b:.4g} against {w.mean_a:.4g} ({w.diff:+.4g}; "
            f"{direction(comparison.higher_is_better)})")


def compare_buckets(
    records_a: Sequence[Record],
    records_b: Sequence[Record],
    by: str | Sequence[str],
    *,
    metric: str | None = None,
    higher_is_better: bool = True,
    bins: Mapping[str, int | Sequence[float]] | None = None,
    confidence: float = 0.95,
    max_levels: int = 20,
) -> BucketComparison:
    """Run b against the reference run a, bucket by bucket (``diff = b - a``)."""
    conf = check_confidence(confidence)
    if not records_a or not records_b:
        raise AnalysisError("Both runs need per-example records to compare.")
    fields = _fields(by)
    name = _metric_name([*records_a, *records_b], metric)
    ka = [(r, v) for r in records_a if (v := _value(r, name)) is not None]
    kb = [(r, v) for r in records_b if (v := _value(r, name)) is not None]
    overall = _diff(
        "*",
        "all",
        [(r.get("id"), v) for r, v in ka],
        [(r.get("id"), v) for r, v in kb],
        higher_is_better,
        conf,
    )
    rows: list[BucketDiff] = []
    for field in fields:
        vals = [r.get(field) for r, _ in (*ka, *kb)]
        label, order = _binner(field, vals, bins or {}, max_levels)
        ga: dict[str, list[tuple[Any, float]]] = {}
        gb: dict[str, list[tuple[Any, float]]] = {}
        for r, v in ka:
            ga.setdefault(label(r.get(field)), []).append((r.get("id"), v))
        for r, v in kb:
            gb.setdefault(label(r.get(field)), []).append((r.get("id"), v))
        for k in dict.fromkeys([*order, *ga, *gb]):
            if k in ga or k in gb:
                rows.append(_diff(field, k, ga.get(k, []), gb.get(k, []), higher_is_better, conf))
    worse = [r for r in rows if r.verdict == "b worse"]
    largest = None
    if worse:
        largest = (min if higher_is_better else max)(worse, key=lambda r: r.diff)
    return BucketComparison(name, higher_is_better, conf, overall, tuple(rows), largest)
