"""The run filter language: wandb-style filters and ``order`` over run records.

A filter is a dict of field → value, where a field is a run column (``status``,
``project``, ``tags``, ``question``, ``baseline``, ``kind``, ``name``, ...), a
``config.<dotted.path>`` or a ``summary.<key>``; a value is matched for equality
(membership for ``tags``) or is a dict of MongoDB-style operators like wandb's
(``$eq $ne $gt $gte $lt $lte $in $nin $exists $regex``); ``$and`` and ``$or`` take
lists of filters.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from stepstone.errors import UsageError
from stepstone.store.runs import RunRecord

ALIASES = {
    "state": "status", "question": "question_id", "group": "group_name", "tag": "tags",
    "display_name": "name", "created": "created_at", "jobType": "job_type",
    "displayName": "name", "createdAt": "created_at", "heartbeatAt": "heartbeat_at",
    "updatedAt": "heartbeat_at", "group_name": "group_name",
}
"""wandb's and the docs' field names → run record columns."""
PUSHED = {"status", "project", "question_id", "baseline", "kind"}
"""Columns the store filters on itself (plain equality, in SQL)."""
TIMES = {"created_at", "ended_at", "heartbeat_at"}
"""Columns holding a time (seconds since the epoch): a filter may give an ISO date instead."""

_MISSING = object()


def _lookup(data: Any, dotted: str) -> Any:
    """``data["a"]["b"]`` for ``"a.b"``, or ``_MISSING``; an exact flat key wins."""
    if isinstance(data, Mapping) and dotted in data:
        return data[dotted]
    node = data
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def _field(record: RunRecord, name: str) -> Any:
    if name.startswith("config."):
        return _lookup(record.config, name[len("config."):])
    for prefix in ("summary.", "summary_metrics."):
        if name.startswith(prefix):
            return _lookup(record.summary, name[len(prefix):])
    column = ALIASES.get(name, name)
    if column == "duration":
        return record.duration
    if not hasattr(record, column) or column in ("config", "summary"):
        raise UsageError(
            f"unknown filter field {name!r}: use a run field (status, project, tags, question, "
            "baseline, kind, name, ...), config.<key> or summary.<key>"
        )
    return getattr(record, column)


def _epoch(name: str, value: Any) -> Any:
    """A filter's value for a time column as seconds since the epoch: an ISO date or time
    (``"2026-12-01"``, ``"2026-12-01T10:00:00"``, UTC unless it names a zone) or a datetime;
    a number is taken as it is."""
    if isinstance(value, (list, tuple)):
        return [_epoch(name, v) for v in value]
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        value = datetime.datetime.combine(value, datetime.time())
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"filter on {name}: {value!r} is not a date; give an ISO date "
                             "or time like 2026-12-01 or 2026-12-01T10:00:00") from None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    return value


def _compare(op: str, actual: Any, expected: Any, name: str = "") -> bool:
    if op == "$exists":
        return (actual is not _MISSING and actual is not None) == bool(expected)
    if actual is _MISSING:
        return op in ("$ne", "$nin")
    if op == "$eq":
        return _equal(actual, expected)
    if op == "$ne":
        return not _equal(actual, expected)
    if op == "$in":
        return any(_equal(actual, e) for e in expected)
    if op == "$nin":
        return not any(_equal(actual, e) for e in expected)
    if op == "$regex":
        return actual is not None and re.search(str(expected), str(actual)) is not None
    if op in ("$gt", "$gte", "$lt", "$lte"):
        try:
            if op == "$gt":
                return bool(actual > expected)
            if op == "$gte":
                return bool(actual >= expected)
            if op == "$lt":
                return bool(actual < expected)
            return bool(actual <= expected)
        except TypeError:
            if isinstance(expected, str) and isinstance(actual, (int, float)):
                raise UsageError(f"filter on {name}: {expected!r} is text but the field holds "
                                 f"numbers; give a number") from None
            return False  # a run whose value is of another kind does not match
    raise UsageError(
        f"unknown filter operator {op!r}: use $eq $ne $gt $gte $lt $lte $in $nin $exists $regex"
    )


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list) and not isinstance(expected, list):
        return expected in actual  # tags: membership
    return bool(actual == expected)


def matches(record: RunRecord, filters: Mapping[str, Any]) -> bool:
    """Whether ``record`` passes every filter (the syntax is in this module's docstring)."""
    for name, condition in filters.items():
        if name == "$and":
            if not all(matches(record, f) for f in condition):
                return False
            continue
        if name == "$or":
            if not any(matches(record, f) for f in condition):
                return False
            continue
        actual = _field(record, name)
        timed = ALIASES.get(name, name) in TIMES
        if isinstance(condition, Mapping) and condition and all(
            str(k).startswith("$") for k in condition
        ):
            if not all(_compare(op, actual, _epoch(name, value) if timed and op != "$regex"
                                else value, name) for op, value in condition.items()):
                return False
        elif not _compare("$eq", actual, _epoch(name, condition) if timed else condition, name):
            return False
    return True


def _sort_key(order: str) -> tuple[str, bool]:
    order = order.strip()
    if order.startswith("-"):
        return order[1:], True
    return order.lstrip("+"), False


def sort_records(records: list[RunRecord], order: str | None) -> list[RunRecord]:
    """``records`` sorted by ``order`` (``"-field"`` descending); runs without the field last."""
    if not order:
        return records
    name, descending = _sort_key(order)
    present: list[tuple[Any, RunRecord]] = []
    missing: list[tuple[Any, RunRecord]] = []
    for r in records:
        value = _field(r, name)
        (missing if value is _MISSING or value is None else present).append((value, r))
    try:
        present.sort(key=lambda pair: pair[0], reverse=descending)
    except TypeError:
        present.sort(key=lambda pair: str(pair[0]), reverse=descending)
    return [r for _, r in present] + [r for _, r in missing]
