"""Numbers as table cells, the same in the CLI's tables and in reports."""

from __future__ import annotations

import math
from typing import Any


def fmt(value: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; None and NaN as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def interval(low: Any, high: Any, *, unbounded: bool = True) -> str:
    """``[low, high]``; a missing upper end is ``∞`` when ``unbounded`` (an interval open
    above), else an en dash; nothing known at all is one en dash."""
    if low is None and high is None:
        return "–"
    lo = fmt(low)
    hi = "∞" if high is None and unbounded else fmt(high)
    if lo == "–" and hi == "–":
        return "–"
    return f"[{lo}, {hi}]"
