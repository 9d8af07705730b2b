"""Ideas (the parking lot) and the events that moved them; nothing is ever deleted."""

from __future__ import annotations

import builtins
import time
from dataclasses import asdict, dataclass
from typing import Any

from stepstone.errors import NotFoundError
from stepstone.store.db import Database


@dataclass(frozen=True)
class Idea:
    """One idea as stored: where it stands and the reason of its last move."""

    id: str
    title: str
    source: str | None
    cost_hours: float | None
    signal: str
    status: str
    reason: str | None
    created_at: float
    updated_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IdeaEvent:
    """One move of an idea, with its reason (the first has no ``from_status``)."""

    from_status: str | None
    to_status: str
    reason: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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

    def get(self, idea_id: str) -> Idea:
        row = self.db.query_one("SELECT * FROM ideas WHERE id = ?", (idea_id,))
        if row is None:
            raise NotFoundError(f"no idea {idea_id!r}: `stepstone idea list` shows them")
        return Idea(**row)

    def list(self, status: str | None = None) -> list[Idea]:
        if status is None:
            rows = self.db.query("SELECT * FROM ideas ORDER BY created_at")
        else:
            rows = self.db.query("SELECT * FROM ideas WHERE status = ? ORDER BY created_at",
                                 (status,))
        return [Idea(**r) for r in rows]

    def events(self, idea_id: str) -> builtins.list[IdeaEvent]:
        return [IdeaEvent(**r) for r in self.db.query(
            "SELECT from_status, to_status, reason, at FROM idea_events"
            " WHERE idea_id = ? ORDER BY id", (idea_id,))]
