"""Numbers and times as table cells, the same in the CLI's tables, the dashboard, the read
API's notebook tables and reports."""

from __future__ import annotations

import math
import time
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


def when(ts: float | None) -> str:
    """A timestamp as local ``YYYY-MM-DD HH:MM``; none as an empty cell."""
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))
