"""Ad-hoc read-only SQL over a lab (``stepstone query``), guarded by the database itself.

The guard is the database's, never a list of words: on SQLite a read-only connection and an
authorizer that lets a statement read and call functions only; on PostgreSQL a read-only
transaction. Each query has a time limit (a progress handler on SQLite,
``statement_timeout`` on PostgreSQL), so that a recursive query that never ends is stopped.

``points`` (run_id, key, step, value, time) is the metric chunks unpacked row by row as the
query reads them, a common table expression put in front of the query: a query that filters
on ``run_id`` or ``key`` unpacks only the chunks it needs, and nothing is copied first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import Any

from stepstone.errors import UsageError
from stepstone.store.db import SQLITE, Database, first_line
from stepstone.store.metrics import unpack

# SQLite: one call per chunk packs its points as JSON [[step, value, time], ...]; json_each
# then yields them one by one (NaN has no JSON spelling: it is NULL, as SQLite stores NaN)
_SQLITE_POINTS = (
    "points AS (SELECT c.run_id AS run_id, c.key AS key, p.value ->> 0 AS step, "
    "p.value ->> 1 AS value, p.value ->> 2 AS time FROM metric_chunks AS c, "
    "json_each(stepstone_points(c.steps, c.vals, c.times)) AS p)"
)


def _int64(blob: str, i: str) -> str:
    """PostgreSQL: the little-endian int64 at index ``i`` of a bytea."""
    return "(" + " | ".join(f"(get_byte({blob}, 8 * {i} + {k})::bigint << {8 * k})"
                            for k in range(8)) + ")"


def _float64(bits: str) -> str:
    """PostgreSQL: the IEEE double whose bits are the bigint ``bits`` (exact for every
    finite value; inf, -inf and NaN as themselves)."""
    exponent = f"(({bits} >> 52) & 2047)"
    mantissa = f"({bits} & 4503599627370495)"
    sign = f"(CASE WHEN {bits} < 0 THEN -1.0::float8 ELSE 1.0::float8 END)"
    return (
        f"(CASE WHEN {exponent} = 2047 THEN (CASE WHEN {mantissa} <> 0 THEN 'NaN'::float8 "
        f"WHEN {bits} < 0 THEN '-Infinity'::float8 ELSE 'Infinity'::float8 END) "
        f"WHEN {exponent} = 0 THEN {sign} * ({mantissa}::float8 / 4503599627370496.0::float8"
        f" * 2.2250738585072014e-308::float8) "
        f"ELSE {sign} * (1.0::float8 + {mantissa}::float8 / 4503599627370496.0::float8)"
        f" * power(2::float8, ({exponent} - 1023)::float8) END)"
    )


_POSTGRES_POINTS = (
    "points AS (SELECT c.run_id AS run_id, c.key AS key, b.step AS step, "
    f"{_float64('b.vbits')} AS value, {_float64('b.tbits')} AS time "
    "FROM metric_chunks AS c CROSS JOIN LATERAL generate_series(0, c.n::integer - 1) AS g(i) "
    f"CROSS JOIN LATERAL (SELECT {_int64('c.steps', 'g.i')} AS step, "
    f"{_int64('c.vals', 'g.i')} AS vbits, {_int64('c.times', 'g.i')} AS tbits) AS b)"
)

# where the query's own WITH list starts, past any leading comments
_LEADING_WITH = re.compile(r"^((?:\s+|--[^\n]*\n|/\*.*?\*/)*)WITH(\s+RECURSIVE)?\s",
                           re.IGNORECASE | re.DOTALL)
_MENTIONS_POINTS = re.compile(r"\bpoints\b", re.IGNORECASE)


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[dict[str, Any]]


def with_points(sql: str, points: str) -> str:
    """``sql`` with the ``points`` expression in front of (or joined to) its WITH list."""
    if not _MENTIONS_POINTS.search(sql):
        return sql
    match = _LEADING_WITH.match(sql)
    if match is None:
        return f"WITH {points} {sql}"
    recursive = " RECURSIVE" if match.group(2) else ""
    return f"{match.group(1)}WITH{recursive} {points}, {sql[match.end():]}"


def run_query(db: Database, sql: str, *, timeout_s: float) -> QueryResult:
    """Run one read-only statement on ``db`` (opened read-only) within ``timeout_s`` seconds.

    Raises UsageError with one sentence for a statement that would write, a syntax error,
    more than one statement, or a query that ran out of time.
    """
    if not sql.strip():
        raise UsageError("give a query: --sql \"SELECT ...\"")
    try:
        if db.dialect is SQLITE:
            return _sqlite(db, with_points(sql, _SQLITE_POINTS), timeout_s)
        return _postgres(db, with_points(sql, _POSTGRES_POINTS), timeout_s)
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(_explain(exc, timeout_s)) from exc


def _explain(exc: Exception, timeout_s: float) -> str:
    text = first_line(exc)
    lowered = text.lower()
    state = getattr(exc, "sqlstate", None)
    if state == "57014" or lowered == "interrupted":
        return (f"the query ran past its time limit ({timeout_s:g} s) and was stopped: narrow "
                "it (WHERE, LIMIT) or give more time with --timeout")
    if state == "25006" or "not authorized" in lowered or "readonly database" in lowered:
        return ("query is read-only: it may read the lab (SELECT, WITH ... SELECT) but not "
                f"change it ({text})")
    if "one statement at a time" in lowered or "multiple commands" in lowered:
        return "give one statement: query runs a single SELECT"
    return f"the query failed: {text}"


# -- SQLite --------------------------------------------------------------------------------
def _points_json(steps: bytes, vals: bytes, times: bytes) -> str:
    text = json.dumps([list(p) for p in zip(unpack("q", steps), unpack("d", vals),
                                             unpack("d", times), strict=True)])
    if "N" in text or "I" in text:  # NaN, Infinity: only numbers are in the text
        text = (text.replace("NaN", "null").replace("-Infinity", "-9e999")
                .replace("Infinity", "9e999"))
    return text


def _sqlite(db: Database, sql: str, timeout_s: float) -> QueryResult:
    import sqlite3
    import time

    conn = db.connection
    allowed = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
               sqlite3.SQLITE_RECURSIVE}

    def authorize(action: int, table: str | None, *_args: Any) -> int:
        if action in allowed:
            return sqlite3.SQLITE_OK
        # json_each, a virtual table, is declared on first use by a schema write of
        # SQLite's own (a read-only connection refuses any real one)
        if action == sqlite3.SQLITE_UPDATE and table == "sqlite_master":
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    deadline = time.monotonic() + timeout_s

    def over_time() -> int:
        return 1 if time.monotonic() > deadline else 0

    conn.create_function("stepstone_points", 3, _points_json, deterministic=True)
    conn.set_authorizer(authorize)
    conn.set_progress_handler(over_time, 10_000)
    try:
        cursor = conn.execute(sql)
        return _collect(cursor, cursor.fetchmany)
    finally:
        conn.set_progress_handler(None, 0)
        conn.set_authorizer(None)


# -- PostgreSQL ----------------------------------------------------------------------------
def _postgres(db: Database, sql: str, timeout_s: float) -> QueryResult:
    conn = db.connection
    conn.execute("BEGIN READ ONLY")
    try:
        conn.execute(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}")
        # the extended protocol: one statement only, and `%` and `?` are the query's own
        cursor = conn.cursor()
        cursor.execute(sql, prepare=False, binary=True)
        return _collect(cursor, cursor.fetchmany)
    finally:
        conn.execute("ROLLBACK")


def _collect(cursor: Any, fetch: Callable[[int], list[Any]]) -> QueryResult:
    if cursor.description is None:
        return QueryResult([], [])
    columns = [d[0] for d in cursor.description]
    rows: list[dict[str, Any]] = []
    for row in chain.from_iterable(iter(lambda: fetch(1000), [])):
        rows.append(dict(zip(columns, row, strict=True)))
    return QueryResult(columns, rows)
