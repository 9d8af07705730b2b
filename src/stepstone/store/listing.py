"""Read-only queries for the dashboard: a paged, sorted run listing and series since a step.

Everything here reads; nothing writes. The listing loads no configs or summaries
(``details=False`` shape), so a page of 50 runs costs the same at 10 runs or 10,000.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stepstone.errors import UsageError
from stepstone.store.db import Database
from stepstone.store.runs import STATUSES, RunRecord, Runs

# sortable columns of the listing (the user picks one of these names, never raw SQL)
SORT_COLUMNS = {
    "created": "created_at",
    "name": "name",
    "project": "project",
    "status": "status",
    "step": "last_step",
    "kind": "kind",
}
# runs that need attention sort first: stopped without finishing, then still running
_ATTENTION_RANK = (
    "CASE status WHEN 'crashed' THEN 0 WHEN 'failed' THEN 0 WHEN 'killed' THEN 0 "
    "WHEN 'running' THEN 1 ELSE 2 END"
)


@dataclass(frozen=True)
class RunPage:
    """One page of a run listing and how many runs match in all."""

    runs: list[RunRecord]
    total: int
    offset: int
    limit: int


class Listing:
    """Read-only statements the dashboard needs beyond :class:`Runs` and :class:`Metrics`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._runs = Runs(db)

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
    ) -> RunPage:
        """Runs matching every filter, sorted, ``limit`` of them from ``offset``."""
        if sort not in SORT_COLUMNS:
            raise UsageError(f"cannot sort by {sort!r}: use one of {', '.join(SORT_COLUMNS)}")
        if status is not None and status not in STATUSES:
            raise UsageError(f"unknown status {status!r}: use one of {', '.join(STATUSES)}")
        if offset < 0 or limit < 1 or limit > 1000:
            raise UsageError("a page starts at offset >= 0 and holds 1 to 1000 runs")
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("status", status), ("project", project)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if name:
            where.append("(name LIKE ? OR id LIKE ?)")
            params += [f"%{name}%", f"{name}%"]
        if tag:
            where.append("tags LIKE ?")
            params.append(f"%{json.dumps(tag)}%")
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        total = int(self.db.scalar(f"SELECT COUNT(*) FROM runs{clause}", params))
        direction = "DESC" if descending else "ASC"
        order = [f"{SORT_COLUMNS[sort]} {direction}", "id ASC"]
        if attention_first:
            order.insert(0, _ATTENTION_RANK)
        rows = self.db.query(
            f"SELECT * FROM runs{clause} ORDER BY {', '.join(order)} "
            f"LIMIT {int(limit)} OFFSET {int(offset)}",
            params,
        )
        return RunPage([self._runs._record(r) for r in rows], total, offset, limit)

    def projects(self) -> list[str]:
        rows = self.db.query("SELECT DISTINCT project FROM runs ORDER BY project")
        return [str(r["project"]) for r in rows if r["project"] is not None]

    def status_counts(self) -> dict[str, int]:
        rows = self.db.query("SELECT status, COUNT(*) AS n FROM runs GROUP BY status")
        return {str(r["status"]): int(r["n"]) for r in rows}

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
