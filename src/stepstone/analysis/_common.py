"""Shared helpers for the analysis package (internal).

Input checking that raises :class:`~stepstone.errors.AnalysisError` with a message that says
what to do, the ``to_dict()`` mixin every result uses, and small interval helpers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from stepstone.display import fields, jsonable
from stepstone.errors import AnalysisError

FloatArray: TypeAlias = npt.NDArray[np.float64]
ArrayLike: TypeAlias = npt.ArrayLike


def _stats() -> Any:
    """scipy.stats, imported on first use (it takes longer to import than a whole fit)."""
    from scipy import stats

    return stats


class ResultMixin:
    """Gives a result dataclass ``to_dict()``: plain JSON types, non-finite floats as None."""

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON types (dicts, lists, numbers, strings; inf/NaN become None)."""
        out: dict[str, Any] = jsonable(fields(self))
        return out


INTERNAL: Mapping[str, Any] = {"to_dict": False}
"""Field metadata that keeps a field out of ``to_dict()`` (e.g. raw bootstrap samples)."""


def as_float_array(values: ArrayLike, name: str, *, min_len: int = 1) -> FloatArray:
    """A 1-D float64 copy of ``values``; refuses non-numeric, non-finite or too-short input."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{name} must be numbers; got {values!r:.80}.") from exc
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise AnalysisError(f"{name} must be a flat list of numbers; got shape {arr.shape}.")
    if arr.size < min_len:
        raise AnalysisError(
            f"{name} needs at least {min_len} value(s); got {arr.size}. Add more runs or seeds."
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = int(np.flatnonzero(bad)[0])
        raise AnalysisError(
            f"{name} has a non-finite value ({arr[idx]}) at position {idx}; "
            "drop or fix that run before analysing."
        )
    out: FloatArray = arr.copy()
    return out


def require_positive(arr: FloatArray, name: str) -> None:
    """Refuse zero or negative entries (losses, compute, sizes must be > 0)."""
    bad = arr <= 0
    if bad.any():
        idx = int(np.flatnonzero(bad)[0])
        raise AnalysisError(
            f"{name} must be positive; position {idx} is {arr[idx]}. "
            "Check the units and drop runs that did not record it."
        )


def check_confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise AnalysisError(f"confidence must be between 0 and 1 (e.g. 0.95); got {confidence}.")
    return float(confidence)


def percentile_interval(samples: FloatArray, confidence: float, axis: int = 0) -> FloatArray:
    """Percentile interval of ``samples`` along ``axis``: an array with low, high first."""
    tail = 100.0 * (1.0 - confidence) / 2.0
    return np.asarray(np.percentile(samples, [tail, 100.0 - tail], axis=axis), dtype=np.float64)


def t_interval(mean: float, sem: float, dof: int, confidence: float) -> tuple[float, float]:
    """Student-t interval ``mean ± t·sem``; (nan, nan) when it cannot be formed."""
    if dof < 1 or not math.isfinite(sem):
        return (math.nan, math.nan)
    t = float(_stats().t.ppf(0.5 + confidence / 2.0, dof))
    return (mean - t * sem, mean + t * sem)


def wilson_interval(successes: float, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval for a proportion (Wilson 1927), good at small n and near 0 or 1."""
    if n <= 0:
        return (math.nan, math.nan)
    z = float(_stats().norm.ppf(0.5 + confidence / 2.0))
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def welch(a: FloatArray, b: FloatArray, confidence: float) -> tuple[float, float, float, float]:
    """Welch difference ``mean(b) - mean(a)``: (diff, low, high, p-value); needs 2+ each."""
    diff = float(b.mean() - a.mean())
    va, vb = float(a.var(ddof=1)) / a.size, float(b.var(ddof=1)) / b.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        return (diff, diff, diff, 1.0 if diff == 0 else 0.0)
    dof = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    t = float(_stats().t.ppf(0.5 + confidence / 2.0, dof))
    p = float(2 * _stats().t.sf(abs(diff) / se, dof))
    return (diff, diff - t * se, diff + t * se, p)


def paired(a: FloatArray, b: FloatArray, confidence: float) -> tuple[float, float, float, float]:
    """Paired difference ``mean(b - a)``: (diff, low, high, p-value of the paired t-test)."""
    d = b - a
    diff = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        return (diff, diff, diff, 1.0 if diff == 0 else 0.0)
    sem = sd / math.sqrt(d.size)
    low, high = t_interval(diff, sem, d.size - 1, confidence)
    p = float(2 * _stats().t.sf(abs(diff) / sem, d.size - 1))
    return (diff, low, high, p)


def align_arms(
    a: Sequence[float] | Mapping[Any, float] | ArrayLike,
    b: Sequence[float] | Mapping[Any, float] | ArrayLike,
    name_a: str = "a",
    name_b: str = "b",
) -> tuple[FloatArray, FloatArray, tuple[str, ...]]:
    """Pair two arms: mappings by their common keys (seeds), sequences by position."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = [k for k in a if k in b]
        if not keys:
            raise AnalysisError(
                f"{name_a} and {name_b} share no seeds; run both arms on the same seeds."
            )
        xa = as_float_array([a[k] for k in keys], name_a)
        xb = as_float_array([b[k] for k in keys], name_b)
        return xa, xb, tuple(str(k) for k in keys)
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        raise AnalysisError("Give both arms as seed->value mappings, or both as lists.")
    xa = as_float_array(a, name_a)
    xb = as_float_array(b, name_b)
    if xa.size != xb.size:
        raise AnalysisError(
            f"Paired arms need one value per seed in each: {name_a} has {xa.size}, "
            f"{name_b} has {xb.size}. Pass seed->value mappings to pair on common seeds."
        )
    return xa, xb, tuple(str(i) for i in range(xa.size))


def share(fraction: float) -> str:
    """A fraction as a percentage that never reads 0% or 100% when it is neither:
    ``0.3 → '30%'``, ``0.005 → '0.5%'``, ``0.0004 → '<0.1%'``."""
    if 0 < fraction < 0.001:
        return "<0.1%"
    if 0.999 < fraction < 1:
        return ">99.9%"
    if 0 < fraction < 0.01 or 0.99 < fraction < 1:
        return f"{fraction:.1%}"
    return f"{fraction:.0%}"
