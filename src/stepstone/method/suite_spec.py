"""Suite specs: the checks a suite is made of, read and checked.

A check is ``metric op threshold`` on a run, of a kind in :data:`KINDS` (``threshold``,
``constraint``, ``bucket``; what each holds is in :mod:`stepstone.method.suites`). A spec is
a mapping with a non-empty list of ``checks`` (each a mapping, or a string like
``"val_loss <= 3.1"``) and optionally the scale it holds (``rung``, with the ladder's ``rungs``;
:mod:`stepstone.method.suite_scale`). :func:`normalize_spec` checks and completes one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from stepstone.errors import UsageError
from stepstone.method.suite_scale import same_rung

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
KINDS = ("threshold", "constraint", "bucket")
OPS = ("<=", ">=", "<", ">", "==", "!=")
_CHECK = re.compile(r"^\s*([A-Za-z_][\w.\-/]*)\s*(<=|>=|==|!=|<|>)\s*"
                    r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


def parse_check(text: str, kind: str = "constraint") -> dict[str, Any]:
    """``"latency_ms <= 1.0"`` → a check of ``kind``."""
    match = _CHECK.match(text)
    if not match:
        raise UsageError(f"cannot read the check {text!r}: write it as METRIC OP NUMBER, "
                         "e.g. 'latency_ms <= 1.0'")
    return {"kind": kind, "metric": match.group(1), "op": match.group(2),
            "value": float(match.group(3))}


def _check(raw: Any, index: int) -> dict[str, Any]:
    if isinstance(raw, str):
        return parse_check(raw, "threshold")
    if not isinstance(raw, Mapping):
        raise UsageError(f"check {index + 1} is a {type(raw).__name__}: give a mapping "
                         "(metric, op, value) or a string like 'val_loss <= 3.1'")
    check = dict(raw)
    kind = check.setdefault("kind", "bucket" if "field" in check else "threshold")
    if kind not in KINDS:
        raise UsageError(f"check {index + 1}: kind is one of {', '.join(KINDS)}, not {kind!r}")
    if check.get("op") not in OPS:
        raise UsageError(f"check {index + 1}: op is one of {' '.join(OPS)}, "
                         f"not {check.get('op')!r}")
    value = check.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"check {index + 1}: value must be a finite number, not {value!r}")
    check["value"] = float(value)
    if kind == "bucket":
        for key in ("field", "bucket"):
            if check.get(key) in (None, ""):
                raise UsageError(f"check {index + 1}: a bucket check needs {key!r}")
        check["bucket"] = str(check["bucket"])
        check.setdefault("eval", "eval")
        check.setdefault("stat", "mean")
        check.setdefault("metric", f"{check['eval']}[{check['field']}={check['bucket']}]")
    elif not isinstance(check.get("metric"), str) or not check["metric"]:
        raise UsageError(f"check {index + 1}: name the metric it checks")
    return check


def normalize_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A suite spec checked and completed (each check a mapping), or a UsageError."""
    if not isinstance(spec, Mapping):
        raise UsageError("a suite is a mapping with a list of checks")
    raw = spec.get("checks")
    if not isinstance(raw, list) or not raw:
        raise UsageError("a suite needs a non-empty list `checks:` (e.g. '- val_loss <= 3.1')")
    unknown = set(spec) - {"name", "tier", "question", "description", "metrics", "buckets",
                           "checks", "reference", "source", "rung", "rungs"}
    if unknown:
        raise UsageError(f"unknown suite keys: {', '.join(sorted(unknown))}")
    rung, rungs = spec.get("rung"), spec.get("rungs")
    if isinstance(rung, bool) or not isinstance(rung, str | int | float | type(None)):
        raise UsageError(f"rung is the scale the suite holds (a number like 1e7 or a label), "
                         f"not {rung!r}")
    if rungs is not None and (rung is None or not isinstance(rungs, list)
                              or not any(same_rung(rung, r) for r in rungs)):
        raise UsageError("rungs is the list of the ladder's rungs, and it holds the suite's "
                         "rung: give rung too, and list it in rungs")
    out = {k: v for k, v in spec.items() if k != "checks"}
    out["checks"] = [_check(c, i) for i, c in enumerate(raw)]
    return out


def check_text(check: Mapping[str, Any]) -> str:
    return f"{check['metric']} {check['op']} {check['value']:.6g}"
