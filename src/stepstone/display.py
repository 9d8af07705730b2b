"""Numbers and times as table cells, the same in the CLI's tables, the dashboard, the read
API's notebook tables and reports; and records as JSON, the same from ``--json``, the
dashboard's ``/api``, the MCP server and reports."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
from collections.abc import Mapping
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


def cell(value: Any) -> str:
    """A value as a table cell: none as an empty cell, a float with 4 significant digits, a
    list joined with commas, a mapping as JSON; the same in the CLI's tables, the dashboard
    and the read API's notebook tables (each escapes it for where it goes)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def changes(delta: Mapping[str, Any] | None) -> str:
    """A config change as ``key=value, key=value`` in its order; none as an empty text."""
    return ", ".join(f"{k}={v}" for k, v in (delta or {}).items())


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


def duration(seconds: float | None) -> str:
    """A duration given in seconds (a run's), as :func:`span` writes it; none as an empty
    cell."""
    return "" if seconds is None else span(seconds / 3600)


def span(hours: float) -> str:
    """A duration given in hours, in the unit a person reads it in: ``1 s``, ``5 min``,
    ``3 h``, ``2.5 d``."""
    seconds = hours * 3600.0
    if seconds < 59.5:
        return f"{seconds:.0f} s"
    if seconds < 3570:
        return f"{seconds / 60:.0f} min"
    if hours < 48:
        return f"{hours:.3g} h"
    return f"{hours / 24:.3g} d"


def nbytes(count: int) -> str:
    """A size in bytes as a person reads it: ``512 B``, ``1.5 KiB``, ``3.2 GiB``."""
    if count < 1024:
        return f"{count} B"
    size, unit = count / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.1f} {unit}"


def day(ts: float | None = None) -> str:
    """A timestamp's local date as ``YYYY-MM-DD`` (a baseline's or a plan's day); none: today."""
    return time.strftime("%Y-%m-%d", time.localtime(time.time() if ts is None else ts))


def when(ts: float | None) -> str:
    """A timestamp as local ``YYYY-MM-DD HH:MM``; none as an empty cell."""
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def finite(value: Any) -> float | None:
    """A finite number as a float; None for anything else: none, NaN, ±inf, a boolean, text
    that is not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def jsonable(value: Any) -> Any:
    """``value`` with what JSON cannot hold made plain: NaN and ±inf as null (JSON has no
    such numbers), records as dicts (their ``to_dict``, else a dataclass's :func:`fields`),
    tuples as lists, numpy arrays and scalars as lists and numbers. The one JSON-safe
    conversion of ``--json``, the dashboard's ``/api``, the MCP tools, reports and the
    analysis results' ``to_dict``."""
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(fields(value))
    if hasattr(value, "tolist"):  # a numpy array or scalar, without importing numpy
        return jsonable(value.tolist())
    return value


def fields(record: Any) -> dict[str, Any]:
    """A dataclass's fields by name, but those marked ``metadata={"to_dict": False}`` (raw
    samples a result keeps for itself); values are not copied."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)
            if f.metadata.get("to_dict", True)}


def json_text(value: Any) -> str:
    """``value`` as indented JSON text (see :func:`jsonable`)."""
    return json.dumps(jsonable(value), indent=2, default=str)


# C0 controls but tab and newline, DEL, C1 controls (a lone 0x9b is a CSI), and the bidi
# overrides and isolates that reorder what a terminal shows
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: Any) -> str:
    """``text`` (a name, a note, a page: what a person or a program wrote) as it may be
    printed to a terminal: escape sequences (colours, cursor moves, OSC 52 clipboard writes,
    OSC 8 links), carriage returns and bidi overrides are shown as ``\\x1b``-style escapes,
    not obeyed; tabs and newlines are kept."""
    return _UNSAFE.sub(_escaped, str(text))


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
