"""Numeric precision of weights or activations, and downstream metrics across precisions.

:func:`precision_report` gives percentile ranges of the values (e.g. 5–95 and 0.1–99.9) and,
for each format, what a cast would do to them:

* **overflow** — values whose rounded magnitude exceeds the format's largest finite value
  (they become inf, or saturate/NaN in fp8, or clip in int8);
* **underflow** — non-zero values that round to zero;
* **precision loss** — non-zero values that survive but lose relative precision: for float
  formats the subnormal range (``|x| < min normal``), where fewer mantissa bits remain;
  for int8 the values whose relative rounding error exceeds ``2^-4`` (what e4m3 guarantees
  in its normal range), i.e. values small against the scale;
* the mean relative error over representable values and the SQNR in dB
  (``10·log10(Σx² / Σ(x - q(x))²)``).

Float casts are simulated exactly with round-to-nearest-even: for ``|x| >= 2^emin`` the
spacing is ``2^(floor(log2|x|) - m)``, below it the subnormal spacing ``2^(emin - m)``.

==========  =====  ========  ===========  ===============  ================
format       e/m   max        min normal   min subnormal    unit roundoff
==========  =====  ========  ===========  ===============  ================
fp16         5/10  65504      2^-14        2^-24            2^-11
bf16         8/7   3.39e38    2^-126       2^-133           2^-8
fp8_e4m3     4/3   448        2^-6         2^-9             2^-4   (OCP E4M3FN, no inf)
fp8_e5m2     5/2   57344      2^-14        2^-16            2^-3
==========  =====  ========  ===========  ===============  ================

int8 is symmetric: ``q = clip(round(x/s), -127, 127)·s`` with ``s = absmax/127`` per tensor
(``int8``) or per channel along ``channel_axis`` (``int8_per_channel``); with
``int8_clip_percentile=p`` the scale comes from the p-th percentile of ``|x|`` instead, and
values past it overflow (clip).

:func:`compare_precisions` sets a downstream metric measured at several precisions and
seeds against a reference precision: mean, spread, the difference with its interval, and a
non-inferiority verdict: **accept** when the whole interval of the drop lies within
``max_drop``, **reject** when the whole interval lies beyond it, otherwise **inconclusive**
(run more seeds). A precision drop is then accepted on signals, not on faith.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stepstone.errors import AnalysisError

from ._common import (
    ArrayLike,
    FloatArray,
    ResultMixin,
    as_float_array,
    check_confidence,
    paired,
    welch,
)


@dataclass(frozen=True)
class FloatFormat:
    name: str
    exponent_bits: int
    mantissa_bits: int
    max_finite: float
    min_normal: float

    @property
    def min_subnormal(self) -> float:
        return self.min_normal * 2.0**-self.mantissa_bits

    @property
    def unit_roundoff(self) -> float:
        return 2.0 ** -(self.mantissa_bits + 1)


FLOAT_FORMATS: dict[str, FloatFormat] = {
    "fp16": FloatFormat("fp16", 5, 10, 65504.0, 2.0**-14),
    "bf16": FloatFormat("bf16", 8, 7, (2 - 2.0**-7) * 2.0**127, 2.0**-126),
    "fp8_e4m3": FloatFormat("fp8_e4m3", 4, 3, 448.0, 2.0**-6),
    "fp8_e5m2": FloatFormat("fp8_e5m2", 5, 2, 57344.0, 2.0**-14),
}
INT_FORMATS = ("int8", "int8_per_channel")
FORMATS = (*FLOAT_FORMATS, *INT_FORMATS)
INT8_REL_TOLERANCE = 2.0**-4


@dataclass(frozen=True)
class PercentileRange(ResultMixin):
    low_pct: float
    high_pct: float
    low: float
    high: float
    width: float


@dataclass(frozen=True)
class FormatReport(ResultMixin):
    format: str
    overflow_fraction: float
    underflow_fraction: float
    precision_loss_fraction: float
    mean_relative_error: float
    sqnr_db: float
    max_value: float
    detail: str


@dataclass(frozen=True)
class PrecisionReport(ResultMixin):
    n_values: int
    n_zero: int
    absmax: float
    mean: float
    std: float
    ranges: tuple[PercentileRange, ...]
    formats: tuple[FormatReport, ...]

    def format(self, name: str) -> FormatReport:
        for f in self.formats:
            if f.format == name:
                return f
        raise AnalysisError(f"No report for format {name!r}.")


@dataclass(frozen=True)
class PrecisionRow(ResultMixin):
    precision: str
    n: int
    mean: float
    std: float
    drop: float | None  # reference - this (higher is better) or this - reference
    ci_low: float | None
    ci_high: float | None
    paired: bool
    verdict: str  # "reference", "accept", "reject", "inconclusive"
    n_paired: int | None = None  # paired: the seeds both ran, which drop and interval use
    note: str = ""


@dataclass(frozen=True)
class PrecisionComparison(ResultMixin):
    metric: str
    reference: str
    higher_is_better: bool
    max_drop: float
    confidence: float
    rows: tuple[PrecisionRow, ...]


def round_to_float(x: FloatArray, fmt: FloatFormat) -> FloatArray:
    """Round to the nearest value of ``fmt`` (ties to even), exponent range unbounded above."""
    emin = round(math.log2(fmt.min_normal))
    _, e = np.frexp(x)  # x = f·2^e with 0.5 <= |f| < 1, so floor(log2|x|) = e - 1
    exp = np.maximum(e.astype(np.int64) - 1, emin)
    spacing = np.ldexp(1.0, (exp - fmt.mantissa_bits).astype(np.int32))
    return np.asarray(np.rint(x / spacing) * spacing, dtype=np.float64)


def _rel_err(x: FloatArray, q: FloatArray) -> FloatArray:
    nz = x != 0
    out = np.zeros_like(x)
    out[nz] = np.abs(q[nz] - x[nz]) / np.abs(x[nz])
    return out


def _sqnr(x: FloatArray, q: FloatArray) -> float:
    noise = float(np.sum((x - q) ** 2))
    signal = float(np.sum(x**2))
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(signal / noise) if signal > 0 else -math.inf


def _float_report(x: FloatArray, fmt: FloatFormat) -> FormatReport:
    q = round_to_float(x, fmt)
    n = x.size
    nz = x != 0
    over = np.abs(q) > fmt.max_finite
    under = nz & (q == 0)
    loss = nz & ~under & ~over & (np.abs(x) < fmt.min_normal)
    ok = nz & ~over & ~under
    rel = _rel_err(x, q)
    qc = np.clip(q, -fmt.max_finite, fmt.max_finite)  # saturate for the SQNR
    return FormatReport(
        format=fmt.name,
        overflow_fraction=float(over.sum() / n),
        underflow_fraction=float(under.sum() / n),
        precision_loss_fraction=float(loss.sum() / n),
        mean_relative_error=float(rel[ok].mean()) if ok.any() else math.nan,
        sqnr_db=_sqnr(x, qc),
        max_value=fmt.max_finite,
        detail=f"e{fmt.exponent_bits}m{fmt.mantissa_bits}, round to nearest even",
    )


def _int8_report(
    x: np.ndarray, per_channel: bool, axis: int, clip_pct: float | None
) -> FormatReport:
    a = np.abs(x)
    if per_channel:
        if x.ndim < 2:
            raise AnalysisError("int8_per_channel needs a 2-D or higher array (channels).")
        ax = axis % x.ndim
        other = tuple(i for i in range(x.ndim) if i != ax)
        ref = (
            np.percentile(a, clip_pct, axis=other, keepdims=True)
            if clip_pct is not None
            else a.max(axis=other, keepdims=True)
        )
        n_scales = x.shape[ax]
    else:
        ref = np.asarray(np.percentile(a, clip_pct) if clip_pct is not None else a.max())
        n_scales = 1
    scale = np.where(ref > 0, ref / 127.0, 1.0)
    levels = np.rint(x / scale)
    over = np.abs(levels) > 127
    q = np.clip(levels, -127, 127) * scale
    xf, qf, of = x.ravel(), np.broadcast_to(q, x.shape).ravel(), over.ravel()
    nz = xf != 0
    under = nz & (qf == 0)
    rel = _rel_err(xf, qf)
    ok = nz & ~of & ~under
    loss = ok & (rel > INT8_REL_TOLERANCE)
    how = f"percentile {clip_pct:g} of |x|" if clip_pct is not None else "absmax"
    return FormatReport(
        format="int8_per_channel" if per_channel else "int8",
        overflow_fraction=float(of.sum() / xf.size),
        underflow_fraction=float(under.sum() / xf.size),
        precision_loss_fraction=float(loss.sum() / xf.size),
        mean_relative_error=float(rel[ok].mean()) if ok.any() else math.nan,
        sqnr_db=_sqnr(xf, qf),
        max_value=127.0,
        detail=f"symmetric, scale = {how} / 127, {n_scales} scale(s)",
    )


def precision_report(
    values: ArrayLike,
    *,
    formats: Sequence[str] = FORMATS,
    percentiles: Sequence[tuple[float, float]] = ((5.0, 95.0), (0.1, 99.9)),
    channel_axis: int = 0,
    int8_clip_percentile: float | None = None,
) -> PrecisionReport:
    """Ranges of ``values`` (weights or activations, any shape) and what each format does
    to them. ``channel_axis`` is the axis of per-channel int8 scales (0: output channels)."""
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError("values must be a numeric array (weights or activations).") from exc
    if x.size == 0:
        raise AnalysisError("values is empty; pass a tensor's values.")
    if not np.all(np.isfinite(x)):
        raise AnalysisError(
            f"values has {int((~np.isfinite(x)).sum())} non-finite entries; they already "
            "overflowed in the source precision. Inspect them before judging a cast."
        )
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise AnalysisError(f"Unknown format(s) {unknown}; choose from {', '.join(FORMATS)}.")
    if int8_clip_percentile is not None and not 0 < int8_clip_percentile <= 100:
        raise AnalysisError("int8_clip_percentile must be in (0, 100], e.g. 99.9.")
    flat = x.ravel()
    ranges = []
    for lo_p, hi_p in percentiles:
        if not 0 <= lo_p < hi_p <= 100:
            raise AnalysisError(f"Percentile range ({lo_p}, {hi_p}) must satisfy 0<=lo<hi<=100.")
        lo, hi = np.percentile(flat, [lo_p, hi_p])
        ranges.append(PercentileRange(lo_p, hi_p, float(lo), float(hi), float(hi - lo)))
    reports = []
    for name in formats:
        if name in FLOAT_FORMATS:
            reports.append(_float_report(flat, FLOAT_FORMATS[name]))
        else:
            reports.append(
                _int8_report(x, name == "int8_per_channel", channel_axis, int8_clip_percentile)
            )
    return PrecisionReport(
        n_values=int(flat.size),
        n_zero=int((flat == 0).sum()),
        absmax=float(np.abs(flat).max()),
        mean=float(flat.mean()),
        std=float(flat.std()),
        ranges=tuple(ranges),
        formats=tuple(reports),
    )


def compare_precisions(
    results: Mapping[str, Sequence[float] | Mapping[Any, float]],
    *,
    reference: str,
    max_drop: float,
    higher_is_better: bool = True,
    confidence: float = 0.95,
    metric: str = "metric",
) -> PrecisionComparison:
    """A downstream metric per precision (one value per seed) against ``reference``.

    Give seed -> value mappings to pair precisions on common seeds; lists are compared
    unpaired (Welch). A row's ``n``, ``mean`` and ``std`` are over all its seeds (the spread
    across seeds); paired, ``drop`` and its interval are over the ``n_paired`` seeds both ran,
    and ``note`` says so when that is fewer. ``max_drop`` is the largest acceptable loss of
    quality, in metric units.
    """
    conf = check_confidence(confidence)
    if reference not in results:
        raise AnalysisError(f"The reference precision {reference!r} is not among the results.")
    if max_drop < 0:
        raise AnalysisError(f"max_drop must be 0 or more; got {max_drop}.")
    ref_raw = results[reference]
    ref = as_float_array(
        list(ref_raw.values()) if isinstance(ref_raw, Mapping) else ref_raw, reference
    )
    rows = []
    for name, raw in results.items():
        vals = as_float_array(list(raw.values()) if isinstance(raw, Mapping) else raw, name)
        mean = float(vals.mean())
        std = float(vals.std(ddof=1)) if vals.size >= 2 else math.nan
        if name == reference:
            rows.append(
                PrecisionRow(name, vals.size, mean, std, None, None, None, False, "reference")
            )
            continue
        is_paired = isinstance(raw, Mapping) and isinstance(ref_raw, Mapping)
        if is_paired:
            assert isinstance(raw, Mapping) and isinstance(ref_raw, Mapping)
            keys = [k for k in ref_raw if k in raw]
            a = np.array([ref_raw[k] for k in keys], dtype=np.float64)
            b = np.array([raw[k] for k in keys], dtype=np.float64)
            enough = len(keys) >= 2
        else:
            a, b = ref, vals
            enough = a.size >= 2 and b.size >= 2
        sign = 1.0 if higher_is_better else -1.0
        drop = sign * float(a.mean() - b.mean()) if a.size and b.size else None
        n_paired = len(a) if is_paired else None
        note = ""
        if is_paired and (len(a) < vals.size or len(a) < ref.size):
            note = (f"drop and interval over the {len(a)} seeds both ran; n, mean and std over "
                    f"all {vals.size} seeds of {name}")
        if not enough:
            rows.append(
                PrecisionRow(
                    name, vals.size, mean, std, drop, None, None, is_paired, "inconclusive",
                    n_paired, note,
                )
            )
            continue
        # difference reference - this, oriented so that positive means "worse than reference"
        d, lo, hi, _ = paired(b, a, conf) if is_paired else welch(b, a, conf)
        lo, hi = (lo, hi) if higher_is_better else (-hi, -lo)
        drop = d if higher_is_better else -d
        verdict = "accept" if hi <= max_drop else "reject" if lo > max_drop else "inconclusive"
        rows.append(
            PrecisionRow(
                name, vals.size, mean, std, drop, lo, hi, is_paired, verdict, n_paired, note
            )
        )
    return PrecisionComparison(metric, reference, higher_is_better, max_drop, conf, tuple(rows))
