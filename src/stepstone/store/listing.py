"""Read-only queries for the dashboard: a paged, sorted run listing and series since a step.

Everything here reads; nothing writes. The listing loads no configs or summaries
(``details=False`` shape). Pages go by keyset (a cursor names the last row seen, and each
page is one indexed seek per attention bucket), and counts come from ``run_counts``, which
triggers keep exact, so a page of 50 runs costs about the same at 10 runs or 1,000,000.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stepstone.errors import UsageError
from stepstone.store.db import SQLITE, Database
from stepstone.store.runs import STATUSES, RunRecord, Runs, shows_dead, status_condition
from stepstone.store.schema_core import ATTENTION, PAGE_KEYS, RANK, RUNNING_INDEX

# sortable columns of the listing (the user picks one of these names, never raw SQL); runs
# that need attention sort first (stopped without finishing, then still running). Each
# (rank, key, id) order has its index (migration 10), so a page reads only its own rows.
SORT_COLUMNS = PAGE_KEYS
COUNT_SCAN = 20_000  # a filter on name or tag is counted among this many runs at most
_BUCKETS = (0, 1, 2)  # the values of RANK


@dataclass(frozen=True)
class RunPage:
    """One page of a run listing and how many runs match in all.

    ``total`` is exact unless ``exact`` is False: a name or tag filter on more than
    :data:`COUNT_SCAN` runs is counted among the first of them and scaled up. ``next`` and
    ``previous`` are the cursors of the pages after and before this one (None at an end)."""

    runs: list[RunRecord]
    total: int
    offset: int
    limit: int
    exact: bool = True
    next: str | None = None
    previous: str | None = None


def _rank(status: str) -> int:
    return ATTENTION.get(status, 2)


def _cursor(record: RunRecord, sort: str) -> str:
    value: Any = {"created": record.created_at, "name": record.name, "project": record.project,
                  "status": record.status, "kind": record.kind,
                  "step": -1 if record.last_step is None else record.last_step}[sort]
    raw = json.dumps([sort, _rank(record.status), value, record.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(token: str, sort: str) -> tuple[int, Any, str]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        kind, bucket, value, run_id = json.loads(raw)
        if kind != sort or bucket not in _BUCKETS or not isinstance(run_id, str) or not (
                isinstance(value, (int, float, str)) and not isinstance(value, bool)):
            raise ValueError(token)
    except (ValueError, TypeError, UnicodeDecodeError, binascii.Error):
        raise UsageError("this page link is damaged or from another sort order: "
                         "start again from the first page") from None
    return int(bucket), value, run_id


class Listing:
    """Read-only statements the dashboard needs beyond :class:`Runs` and :class:`Metrics`;
    one request's view (it reads the run counts once)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._runs = Runs(db)
        self._count_rows: dict[tuple[str, str], int] | None = None

    def page(
        self,
        *,
        status: str | None = None,
        project: str | None = None,
        tag: str | None = None,
        name: str | None = None,
        sort: str = "created",
        descending: bool = True,
        attention_first: bool = True,
        offset: int = 0,
        limit: int = 50,
        after: str | None = None,
        before: str | None = None,
    ) -> RunPage:
        """Runs matching every filter, sorted (ties by id, in the same direction), ``limit``
        of them: after the cursor ``after``, before ``before``, or from ``offset``."""
        if sort not in SORT_COLUMNS:
            raise UsageError(f"cannot sort by {sort!r}: use one of {', '.join(SORT_COLUMNS)}")
        if status is not None and status not in STATUSES:
            raise UsageError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
        if offset < 0 or limit < 1 or limit > 1000:
            raise UsageError("a page starts at offset >= 0 and holds 1 to 1000 runs")
        if after and before:
            raise UsageError("a page is either after one cursor or before another, not both")
        where: list[str] = []
        params: list[Any] = []
        # a dead run recorded as running shows as crashed (``Runs._record``): it filters so
        dead = (self._runs.dead_condition()
                if status and self.db.readonly and shows_dead([status]) else None)
        if status:
            condition, args = status_condition([status], dead)
            where.append(condition)
            params += args
        if project:
            where.append("project = ?")
            params.append(project)
        if name:
            where.append("(name LIKE ? OR id LIKE ?)")
            params += [f"%{name}%", f"{name}%"]
        if tag:
            where.append("tags LIKE ?")
            params.append(f"%{json.dumps(tag)}%")
        total, exact = self._count(status, project, where, params, scanned=bool(name or tag))
        if dead is not None and not (name or tag):  # run_counts counts them as recorded
            moved = self._dead_count(dead)
            total += moved if status == "crashed" else -moved
        # one status is one bucket: no rank condition, so its (status, key, id) index serves
        buckets: tuple[int | None, ...] = _BUCKETS if attention_first and not status else (None,)
        key = SORT_COLUMNS[sort]
        cursor = after or before
        start = _read_cursor(cursor, sort) if cursor else None
        forward = before is None
        if start is not None and buckets == (None,):
            start = (-1, start[1], start[2])
        rows = self._walk(buckets, key, descending == forward, where, params, start,
                          offset if cursor is None else 0, limit + 1, forward)
        more = len(rows) > limit
        rows = rows[:limit]
        if not forward:
            rows.reverse()
        records = [self._runs._record(r) for r in rows]
        at_start = (offset == 0 and after is None) if forward else not more
        at_end = not more if forward else False
        return RunPage(
            records, total, offset, limit, exact,
            next=_cursor(records[-1], sort) if records and not at_end else None,
            previous=_cursor(records[0], sort) if records and not at_start else None,
        )

    def _walk(self, buckets: tuple[int | None, ...], key: str, descending: bool,
              where: list[str], params: list[Any], start: tuple[int, Any, str] | None,
              skip: int, want: int, forward: bool) -> list[dict[str, Any]]:
        """Up to ``want`` rows, bucket by bucket (one indexed seek each), from ``start`` on
        (backward: the rows before it, nearest first)."""
        if not forward:
            buckets = buckets[::-1]
        direction, beyond = ("DESC", "<") if descending else ("ASC", ">")
        out: list[dict[str, Any]] = []
        for bucket in buckets:
            conds, args = list(where), list(params)
            if bucket is not None:
                conds.insert(0, f"({RANK}) = ?")
                args.insert(0, bucket)
            if start is not None:
                here = -1 if bucket is None else bucket
                if (here < start[0]) if forward else (here > start[0]):
                    continue  # a bucket the cursor is past
                if here == start[0]:  # the range bound lets the index seek to the cursor
                    conds.append(f"{key} {beyond}= ? AND ({key}, id) {beyond} (?, ?)")
                    args += [start[1], start[1], start[2]]
            clause = " WHERE " + " AND ".join(conds) if conds else ""
            if skip:  # an offset (old page links): skip whole buckets by their size
                size = int(self.db.scalar(f"SELECT COUNT(*) FROM runs{clause}", args))
                if size <= skip:
                    skip -= size
                    continue
            out += self.db.query(
                f"SELECT * FROM runs{clause} ORDER BY {key} {direction}, id {direction} "
                f"LIMIT {int(want - len(out))} OFFSET {int(skip)}", args)
            skip = 0
            if len(out) >= want:
                break
        return out

    def _count(self, status: str | None, project: str | None, where: list[str],
               params: list[Any], *, scanned: bool) -> tuple[int, bool]:
        """How many runs match, and whether exactly: status and project filters from
        ``run_counts`` (kept exact by triggers); with a name or tag filter, the matches among
        the first COUNT_SCAN runs, scaled to all runs when there are more (an estimate)."""
        counts = self._counts()
        if not scanned:
            return sum(n for (p, s), n in counts.items()
                       if status in (None, s) and project in (None, p)), True
        runs = sum(counts.values())
        hits = int(self.db.scalar(
            f"SELECT COUNT(*) FROM (SELECT id, name, tags, status, project FROM runs "
            f"LIMIT {COUNT_SCAN}) sample WHERE {' AND '.join(where)}", params))
        if runs <= COUNT_SCAN:
            return hits, True
        return round(hits * runs / COUNT_SCAN), False

    def _counts(self) -> dict[tuple[str, str], int]:
        """Runs per (project, status), read once per listing (a page asks three times)."""
        if self._count_rows is None:
            self._count_rows = {
                (str(r["project"]), str(r["status"])): int(r["n"])
                for r in self.db.query("SELECT project, status, n FROM run_counts WHERE n > 0")}
        return self._count_rows

    def _dead_count(self, dead: tuple[str, list[Any]]) -> int:
        # SQLite would read the status index and every running row; the partial index of
        # running runs holds all the count needs (PostgreSQL's planner finds it itself)
        hint = f" INDEXED BY {RUNNING_INDEX}" if self.db.dialect is SQLITE else ""
        return int(self.db.scalar(f"SELECT COUNT(*) FROM runs{hint} WHERE {dead[0]}", dead[1]))

    def projects(self) -> list[str]:
        return sorted({p for p, _ in self._counts()})

    def status_counts(self) -> dict[str, int]:
        """Runs per status as a reader shows them (a dead run recorded as running: crashed)."""
        out: dict[str, int] = {}
        for (_, status), n in self._counts().items():
            out[status] = out.get(status, 0) + n
        dead = self._dead_count(self._runs.dead_condition()) if self.db.readonly else 0
        if dead:
            out["running"] -= dead
            out["crashed"] = out.get("crashed", 0) + dead
        return {status: n for status, n in out.items() if n > 0}

    def summaries(self, run_ids: Sequence[str], keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``{run_id: {key: value}}`` for the given summary keys of the given runs."""
        out: dict[str, dict[str, Any]] = {r: {} for r in run_ids}
        if not run_ids or not keys:
            return out
        run_marks = ", ".join("?" for _ in run_ids)
        key_marks = ", ".join("?" for _ in keys)
        for row in self.db.query(
            f"SELECT run_id, key, value FROM run_summaries WHERE run_id IN ({run_marks})"
            f" AND key IN ({key_marks})",
            [*run_ids, *keys],
        ):
            out[row["run_id"]][row["key"]] = json.loads(row["value"])
        return out

    def series_chunks(self, run_id: str, key: str) -> list[tuple[bytes, bytes]]:
        """The raw chunks of one series in logging order: (int64 steps, float64 values), packed
        little-endian, for readers that decode them in bulk (numpy ``frombuffer``)."""
        rows = self.db.query(
            "SELECT steps, vals FROM metric_chunks WHERE run_id = ? AND key = ? ORDER BY id",
            (run_id, key),
        )
        return [(bytes(r["steps"]), bytes(r["vals"])) for r in rows]
