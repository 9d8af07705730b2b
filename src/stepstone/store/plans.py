"""Plans (sweeps and ladders), their planned runs and every attempt at each.

A plan's id is a hash of what it runs, so saving the same plan twice finds the
first one. Each launch of a planned run is an attempt (``plan_attempts``) that
names the run it made; attempts are only ever added, so a relaunch keeps the old
run and its history, and the latest attempt says where a planned run stands.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from stepstone.errors import NotFoundError, UsageError
from stepstone.store.db import Database

PLAN_STATUSES = ("planned", "running", "done", "incomplete", "cancelled")


@dataclass(frozen=True)
class PlanRecord:
    """One plan as stored."""

    id: str
    kind: str
    name: str
    project: str
    created_at: float
    updated_at: float
    status: str
    base_config: dict[str, Any]
    command: list[str]
    reason: str | None = None
    cwd: str | None = None
    baseline: str | None = None
    question_id: str | None = None
    executor: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    owner_pid: int | None = None
    owner_host: str | None = None
    cancelled_at: float | None = None  # when it was last cancelled

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PlanAttempt:
    """One launch of a planned run: the run it made, where and as which job."""

    plan_id: str
    idx: int
    attempt: int
    run_id: str
    created_at: float
    executor: str | None = None
    job_id: str | None = None


@dataclass(frozen=True)
class PlannedRun:
    """One planned run (a rung of a ladder, a point of a sweep) and its attempts."""

    plan_id: str
    idx: int
    label: str
    overrides: list[str]
    config: dict[str, Any]
    config_delta: dict[str, Any]
    attempts: tuple[PlanAttempt, ...] = ()

    @property
    def latest_run_id(self) -> str | None:
        return self.attempts[-1].run_id if self.attempts else None


def _plan(row: Mapping[str, Any]) -> PlanRecord:
    data = dict(row)
    for key in ("base_config", "command", "options"):
        data[key] = json.loads(data[key]) if data[key] is not None else None
    return PlanRecord(**data)


class Plans:
    """Statements on ``plans``, ``plan_runs`` and ``plan_attempts``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writes -----------------------------------------------------------------------
    def save(self, plan: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> bool:
        """Store a plan and its planned runs unless a plan with that id exists; True if new."""
        with self.db.transaction():
            if self.db.scalar("SELECT COUNT(*) FROM plans WHERE id = ?", (plan["id"],)):
                return False
            now = time.time()
            self.db.execute(
                "INSERT INTO plans (id, kind, name, project, created_at, updated_at, status, "
                "base_config, command, cwd, baseline, question_id, executor, options) "
                "VALUES (?, ?, ?, ?, ?, ?, 'planned', ?, ?, ?, ?, ?, ?, ?)",
                (plan["id"], plan["kind"], plan["name"], plan["project"], now, now,
                 json.dumps(plan["base_config"], sort_keys=True), json.dumps(plan["command"]),
                 plan.get("cwd"), plan.get("baseline"), plan.get("question_id"),
                 plan.get("executor"), json.dumps(plan.get("options") or {}, sort_keys=True)),
            )
            self.db.executemany(
                "INSERT INTO plan_runs (plan_id, idx, label, overrides, config, config_delta) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(plan["id"], r["idx"], r["label"], json.dumps(list(r["overrides"])),
                  json.dumps(r["config"], sort_keys=True),
                  json.dumps(r["config_delta"], sort_keys=True, default=str)) for r in runs],
            )
        return True

    def update(self, plan_id: str, **fields: Any) -> None:
        allowed = {"status", "reason", "executor", "options", "owner_pid", "owner_host",
                   "cancelled_at"}
        unknown = set(fields) - allowed
        if unknown:
            raise UsageError(f"unknown plan fields: {', '.join(sorted(unknown))}")
        values = [json.dumps(v, sort_keys=True) if k == "options" else v for k, v in fields.items()]
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.db.transaction():
            self.db.execute(f"UPDATE plans SET {sets}, updated_at = ? WHERE id = ?",
                            [*values, time.time(), plan_id])

    def take_ownership(self, plan_id: str, pid: int, host: str,
                       owner_alive: Any) -> tuple[int | None, str | None]:
        """Make (pid, host) the plan's launcher unless a live one holds it.

        ``owner_alive(pid, host)`` says whether the recorded launcher still runs.
        Returns the live owner that kept it, or ``(None, None)`` when taken.

        The hold changes hands only through an update conditional on the holder just
        read (checked by its row count), so of two launchers racing for a plan, on
        SQLite or PostgreSQL, one takes it and the other sees the winner.
        """
        while True:
            row = self.db.query_one("SELECT owner_pid, owner_host FROM plans WHERE id = ?",
                                    (plan_id,))
            if row is None:
                raise NotFoundError(f"no plan {plan_id!r} in this lab")
            held = row["owner_pid"], row["owner_host"]
            if held[0] is not None and (held[0], held[1]) != (pid, host) and owner_alive(*held):
                return int(held[0]), str(held[1])
            params: tuple[Any, ...] = (plan_id,)
            where = "owner_pid IS NULL"
            if held[0] is not None:
                where, params = "owner_pid = ? AND owner_host = ?", (plan_id, *held)
            with self.db.transaction():
                taken = self.db.execute(
                    "UPDATE plans SET owner_pid = ?, owner_host = ?, status = 'running', "
                    f"reason = NULL, updated_at = ? WHERE id = ? AND {where}",
                    (pid, host, time.time(), *params)).rowcount
            if taken == 1:
                return None, None

    def release(self, plan_id: str, status: str, reason: str | None = None) -> None:
        """Drop the launcher; a cancelled plan stays cancelled with its reason."""
        with self.db.transaction():
            self.db.execute(
                "UPDATE plans SET owner_pid = NULL, owner_host = NULL, updated_at = ?, "
                "status = CASE WHEN status = 'cancelled' THEN status ELSE ? END, "
                "reason = CASE WHEN status = 'cancelled' THEN reason ELSE ? END WHERE id = ?",
                (time.time(), status, reason, plan_id))

    def add_attempt(self, plan_id: str, idx: int, run_id: str, executor: str) -> int:
        """Record a new attempt at planned run ``idx``; return its number (1, 2, ...)."""
        with self.db.transaction():
            last = self.db.scalar(
                "SELECT COALESCE(MAX(attempt), 0) FROM plan_attempts WHERE plan_id = ? AND idx = ?",
                (plan_id, idx))
            attempt = self.db.insert_numbered(
                "INSERT INTO plan_attempts (plan_id, idx, attempt, run_id, created_at, executor) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (plan_id, idx, attempt) DO NOTHING",
                lambda n: (plan_id, idx, n, run_id, time.time(), executor), int(last or 0) + 1)
        return attempt

    def set_job_id(self, run_id: str, job_id: str) -> None:
        with self.db.transaction():
            self.db.execute("UPDATE plan_attempts SET job_id = ? WHERE run_id = ?",
                            (job_id, run_id))

    # -- reads ------------------------------------------------------------------------
    def resolve_id(self, ref: str) -> str:
        """A plan id from an id, a unique id prefix or a unique name."""
        if self.db.scalar("SELECT COUNT(*) FROM plans WHERE id = ?", (ref,)):
            return ref
        rows = self.db.query("SELECT id FROM plans WHERE name = ? ORDER BY created_at DESC",
                             (ref,))
        if not rows and len(ref) >= 4:
            rows = self.db.query("SELECT id FROM plans WHERE id LIKE ?", (ref + "%",))
        if len(rows) == 1:
            return str(rows[0]["id"])
        if len(rows) > 1:
            ids = ", ".join(r["id"] for r in rows[:5])
            raise UsageError(f"{len(rows)} plans match {ref!r} ({ids}): use the plan id")
        raise NotFoundError(f"no plan {ref!r} in this lab: `stepstone plans` lists them")

    def get(self, ref: str) -> PlanRecord:
        plan_id = self.resolve_id(ref)
        row = self.db.query_one("SELECT * FROM plans WHERE id = ?", (plan_id,))
        assert row is not None
        return _plan(row)

    def recent(self, limit: int | None = None) -> list[PlanRecord]:
        sql = "SELECT * FROM plans ORDER BY created_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_plan(r) for r in self.db.query(sql)]

    def runs(self, plan_id: str) -> list[PlannedRun]:
        """The planned runs of a plan in order, each with its attempts (oldest first)."""
        attempts: dict[int, list[PlanAttempt]] = {}
        for row in self.db.query(
            "SELECT plan_id, idx, attempt, run_id, created_at, executor, job_id "
            "FROM plan_attempts WHERE plan_id = ? ORDER BY idx, attempt", (plan_id,)
        ):
            attempts.setdefault(int(row["idx"]), []).append(PlanAttempt(**row))
        out = []
        for row in self.db.query("SELECT * FROM plan_runs WHERE plan_id = ? ORDER BY idx",
                                 (plan_id,)):
            out.append(PlannedRun(
                plan_id=row["plan_id"], idx=int(row["idx"]), label=row["label"],
                overrides=json.loads(row["overrides"]), config=json.loads(row["config"]),
                config_delta=json.loads(row["config_delta"]),
                attempts=tuple(attempts.get(int(row["idx"]), []))))
        return out
