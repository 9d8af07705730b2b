"""The alerts the health monitors raised on runs (table ``run_alerts``, schema v8)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from stepstone.store.db import Database


@dataclass(frozen=True)
class Alert:
    """One firing of a monitor on a run, and what was done about it."""

    run_id: str
    detector: str  # "nonfinite" | "divergence" | "stall" | "throughput"
    metric: str | None
    step: int | None
    message: str
    action: str | None  # what was done: "stopped", "command exited 0", ...
    at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Alerts:
    """Statements on ``run_alerts``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, run_id: str, detector: str, message: str, *, metric: str | None = None,
            step: int | None = None, action: str | None = None) -> Alert:
        alert = Alert(run_id, detector, metric, step, message, action, time.time())
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO run_alerts (run_id, detector, metric, step, message, action, at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_id, detector, metric, step, message, action, alert.at))
        return alert

    def of_runs(self, run_ids: Sequence[str]) -> list[Alert]:
        """The alerts of these runs, oldest first."""
        if not run_ids:
            return []
        rows = self.db.query(
            "SELECT run_id, detector, metric, step, message, action, at FROM run_alerts"
            f" WHERE run_id IN ({', '.join('?' for _ in run_ids)}) ORDER BY id", list(run_ids))
        return [Alert(**row) for row in rows]

    def since(self, at: float) -> list[Alert]:
        """Every alert raised at or after ``at``, oldest first."""
        rows = self.db.query(
            "SELECT run_id, detector, metric, step, message, action, at FROM run_alerts"
            " WHERE at >= ? ORDER BY id", (at,))
        return [Alert(**row) for row in rows]
