"""Numbers a command reads from a run's summary or config: finite, at an exact key."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from stepstone.store.runs import flatten


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float (a number or a numeric string; not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def config_number(config: Mapping[str, Any], key: str) -> float | None:
    """The finite number at exactly the dotted path ``key`` of ``config``, or None. No suffix
    matching: ``steps`` is the top-level key only (never ``eval.steps``), ``train.steps`` that
    path."""
    return finite_number(flatten(config).get(key))

