"""Evaluation suites (``recall@2026-11-21``): frozen specs by version, and run checks."""

from __future__ import annotations

import builtins
import json
import time
from typing import Any

from stepstone.errors import NotFoundError
from stepstone.store.db import Database
from stepstone.store.versions import dated_version


class Suites:
    """Statements on ``suites`` and ``suite_checks``. A spec is never updated."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, *, name: str, day: str, parent: str | None, tier: str | None,
               question_id: str | None, spec: dict[str, Any]) -> str:
        """Insert a new version of suite ``name`` dated ``day`` (``.2`` for a second that day)."""
        with self.db.transaction():
            last = int(self.db.scalar("SELECT COALESCE(MAX(seq), 0) FROM suites"
                                      " WHERE name = ? AND day = ?", (name, day)) or 0)
            version = dated_version(name, day, self.db.insert_numbered(
                "INSERT INTO suites (version, name, day, seq, parent, tier, question_id, spec,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (version) DO NOTHING",
                lambda seq: (dated_version(name, day, seq), name, day, seq, parent, tier,
                             question_id, json.dumps(spec, sort_keys=True, default=str),
                             time.time()),
                last + 1))
        return version

    def _decode(self, row: dict[str, Any]) -> dict[str, Any]:
        row["spec"] = json.loads(row["spec"])
        return row

    def get(self, version: str) -> dict[str, Any]:
        row = self.db.query_one("SELECT * FROM suites WHERE version = ?", (version,))
        if row is None:
            raise NotFoundError(f"no suite {version!r}: `stepstone suite list` shows them")
        return self._decode(row)

    def current(self, name: str) -> dict[str, Any] | None:
        row = self.db.query_one("SELECT * FROM suites WHERE name = ?"
                                " ORDER BY day DESC, seq DESC LIMIT 1", (name,))
        return None if row is None else self._decode(row)

    def list(self, name: str | None = None) -> builtins.list[dict[str, Any]]:
        sql = "SELECT * FROM suites"
        params: tuple[Any, ...] = ()
        if name is not None:
            sql += " WHERE name = ?"
            params = (name,)
        return [self._decode(r) for r in self.db.query(sql + " ORDER BY name, day, seq", params)]

    def names(self) -> builtins.list[str]:
        return [r["name"] for r in self.db.query("SELECT DISTINCT name FROM suites ORDER BY name")]

    def record_check(self, suite_version: str, run_id: str, passed: bool,
                     results: builtins.list[dict[str, Any]]) -> int:
        with self.db.transaction():
            number = self.db.scalar(
                "INSERT INTO suite_checks (suite_version, run_id, passed, results, created_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (suite_version, run_id, int(passed), json.dumps(results, default=str),
                 time.time()),
            )
        return int(number)

    def checks(self, *, run_id: str | None = None,
               suite_version: str | None = None) -> builtins.list[dict[str, Any]]:
        """Checks, oldest first (the newest of a run and suite version is the one that counts)."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("run_id", run_id), ("suite_version", suite_version)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT * FROM suite_checks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.query(sql + " ORDER BY id", params)
        for row in rows:
            row["results"] = json.loads(row["results"])
            row["passed"] = bool(row["passed"])
        return rows
