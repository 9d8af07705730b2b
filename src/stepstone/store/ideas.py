"""Ideas (the parking lot) and the events that moved them; nothing is ever deleted."""

from __future__ import annotations

import builtins
import time
from typing import Any

from stepstone.errors import NotFoundError
from stepstone.store.db import Database


class Ideas:
    """Statements on ``ideas`` and ``idea_events``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, *, title: str, source: str | None, cost_hours: float | None, signal: str,
            reason: str) -> str:
        now = time.time()
        with self.db.transaction():
            count = int(self.db.scalar("SELECT COUNT(*) FROM ideas") or 0)
            idea_id = "i{}".format(self.db.insert_numbered(
                "INSERT INTO ideas (id, title, source, cost_hours, signal, status, reason,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'parked', ?, ?, ?)"
                " ON CONFLICT (id) DO NOTHING",
                lambda n: (f"i{n}", title, source, cost_hours, signal, reason, now, now),
                count + 1))
            self._event(idea_id, None, "parked", reason, now)
        return idea_id

    def _event(self, idea_id: str, old: str | None, new: str, reason: str, at: float) -> None:
        self.db.execute(
            "INSERT INTO idea_events (idea_id, from_status, to_status, reason, at)"
            " VALUES (?, ?, ?, ?, ?)", (idea_id, old, new, reason, at),
        )

    def move(self, idea_id: str, status: str, reason: str) -> None:
        """Set the status and record the move with its reason, in one transaction."""
        now = time.time()
        with self.db.transaction():
            old = self.db.scalar("SELECT status FROM ideas WHERE id = ?", (idea_id,))
            if old is None:
                raise NotFoundError(f"no idea {idea_id!r}: `stepstone idea list` shows them")
            self.db.execute("UPDATE ideas SET status = ?, reason = ?, updated_at = ? WHERE id = ?",
                            (status, reason, now, idea_id))
            self._event(idea_id, str(old), status, reason, now)

    def get(self, idea_id: str) -> dict[str, Any]:
        row = self.db.query_one("SELECT * FROM ideas WHERE id = ?", (idea_id,))
        if row is None:
            raise NotFoundError(f"no idea {idea_id!r}: `stepstone idea list` shows them")
        row["events"] = self.events(idea_id)
        return row

    def list(self, status: str | None = None) -> list[dict[str, Any]]:
        if status is None:
            return self.db.query("SELECT * FROM ideas ORDER BY created_at")
        return self.db.query("SELECT * FROM ideas WHERE status = ? ORDER BY created_at", (status,))

    def events(self, idea_id: str) -> builtins.list[dict[str, Any]]:
        return self.db.query("SELECT from_status, to_status, reason, at FROM idea_events"
                             " WHERE idea_id = ? ORDER BY id", (idea_id,))
