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
from dataclasses import replace
from typing import Any

from stepstone.errors import UsageError
from stepstone.method.suite_scale import same_rung
from stepstone.store.suites import Check, SuiteSpec, spec_of

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
KINDS = ("threshold", "constraint", "bucket")
OPS = ("<=", ">=", "<", ">", "==", "!=")
_CHECK = re.compile(r"^\s*([A-Za-z_][\w.\-/]*)\s*(<=|>=|==|!=|<|>)\s*"
                    r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$")


def parse_check(text: str, kind: str = "constraint") -> Check:
    """``"latency_ms <= 1.0"`` → a check of ``kind``."""
    match = _CHECK.match(text)
    if not match:
        raise UsageError(f"cannot read the check {text!r}: write it as METRIC OP NUMBER, "
                         "e.g. 'latency_ms <= 1.0'")
    return Check(kind=kind, metric=match.group(1), op=match.group(2),
                 value=float(match.group(3)))


def _check(raw: Any, index: int) -> Check:
    if isinstance(raw, str):
        return parse_check(raw, "threshold")
    if isinstance(raw, Check):
        raw = raw.to_dict()
    if not isinstance(raw, Mapping):
        raise UsageError(f"check {index + 1} is a {type(raw).__name__}: give a mapping "
                         "(metric, op, value) or a string like 'val_loss <= 3.1'")
    unknown = set(raw) - set(Check.__dataclass_fields__)
    if unknown:
        raise UsageError(f"check {index + 1}: unknown keys: {', '.join(sorted(map(str, unknown)))}")
    kind = raw.get("kind") or ("bucket" if "field" in raw else "threshold")
    if kind not in KINDS:
        raise UsageError(f"check {index + 1}: kind is one of {', '.join(KINDS)}, not {kind!r}")
    op = raw.get("op")
    if op not in OPS:
        raise UsageError(f"check {index + 1}: op is one of {' '.join(OPS)}, not {op!r}")
    value = raw.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise UsageError(f"check {index + 1}: value must be a finite number, not {value!r}")
    basis = None if raw.get("basis") is None else str(raw["basis"])
    if kind == "bucket":
        for key in ("field", "bucket"):
            if raw.get(key) in (None, ""):
                raise UsageError(f"check {index + 1}: a bucket check needs {key!r}")
        field, bucket = str(raw["field"]), str(raw["bucket"])
        name = str(raw.get("eval") or "eval")
        return Check(kind=kind, metric=str(raw.get("metric") or f"{name}[{field}={bucket}]"),
                     op=op, value=float(value), basis=basis, eval=name, field=field,
                     bucket=bucket, stat=str(raw.get("stat") or "mean"))
    metric = raw.get("metric")
    if not isinstance(metric, str) or not metric:
        raise UsageError(f"check {index + 1}: name the metric it checks")
    return Check(kind=kind, metric=metric, op=op, value=float(value), basis=basis)


def normalize_spec(spec: Mapping[str, Any]) -> SuiteSpec:
    """A suite spec checked and completed (each check a :class:`Check`), or a UsageError."""
    if not isinstance(spec, Mapping):
        raise UsageError("a suite is a mapping with a list of checks")
    raw = spec.get("checks")
    if not isinstance(raw, list) or not raw:
        raise UsageError("a suite needs a non-empty list `checks:` (e.g. '- val_loss <= 3.1')")
    unknown = set(spec) - {"name", "tier", "question", "description", "metrics", "buckets",
                           "checks", "reference", "source", "rung", "rungs"}
    if unknown:
        raise UsageError(f"unknown suite keys: {', '.join(sorted(unknown))}")
    for key in ("metrics", "buckets"):
        if not isinstance(spec.get(key), list | type(None)):
            raise UsageError(f"{key} is a list, not {spec[key]!r}")
    rung, rungs = spec.get("rung"), spec.get("rungs")
    if isinstance(rung, bool) or not isinstance(rung, str | int | float | type(None)):
        raise UsageError(f"rung is the scale the suite holds (a number like 1e7 or a label), "
                         f"not {rung!r}")
    if rungs is not None and (rung is None or not isinstance(rungs, list)
                              or not any(same_rung(rung, r) for r in rungs)):
        raise UsageError("rungs is the list of the ladder's rungs, and it holds the suite's "
                         "rung: give rung too, and list it in rungs")
    out = spec_of({**spec, "checks": []})
    return replace(out, checks=tuple(_check(c, i) for i, c in enumerate(raw)))


def check_text(check: Check) -> str:
    return f"{check.metric} {check.op} {check.value:.6g}"
