"""Runs: their rows, flattened configs and summaries, and crash detection."""

from __future__ import annotations

import builtins
import json
import math
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stepstone.configs import flatten, unflatten
from stepstone.errors import NotFoundError, UsageError
from stepstone.store.db import Database

STATUSES = ("running", "finished", "failed", "killed", "crashed", "abandoned")
# a run whose heartbeat is older than this (and whose process cannot be seen) is crashed
HEARTBEAT_STALE_SECONDS = 60.0

_RUN_COLUMNS = (
    "id", "name", "project", "group_name", "job_type", "kind", "tags", "notes", "status",
    "reason", "exit_code", "created_at", "ended_at", "heartbeat_at", "pid", "host", "command",
    "cwd", "question_id", "baseline", "config_delta", "seed", "last_step", "code_snapshot",
    "git_commit", "git_branch", "git_dirty", "env", "capture_notes", "has_nonfinite",
    "imported_from",
)
_JSON_COLUMNS = {"tags", "command", "config_delta", "env", "capture_notes"}


@dataclass
class RunRecord:
    """One run as stored (config and summary nested back from their tables)."""

    id: str
    name: str
    project: str
    status: str
    created_at: float
    kind: str = "adhoc"
    group_name: str | None = None
    job_type: str | None = None
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    reason: str | None = None
    exit_code: int | None = None
    ended_at: float | None = None
    heartbeat_at: float | None = None
    pid: int | None = None
    host: str | None = None
    command: list[str] | None = None
    cwd: str | None = None
    question_id: str | None = None
    baseline: str | None = None
    config_delta: dict[str, Any] | None = None
    seed: int | None = None
    last_step: int | None = None
    code_snapshot: str | None = None
    git_commit: str | None = None
    git_branch: str | None = None
    git_dirty: int | None = None
    env: dict[str, Any] | None = None
    capture_notes: list[str] | None = None
    has_nonfinite: int = 0
    imported_from: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        end = self.ended_at or (self.heartbeat_at if self.status != "running" else time.time())
        return None if end is None else max(0.0, end - self.created_at)

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in _RUN_COLUMNS}
        out["config"] = self.config
        out["summary"] = self.summary
        out["duration"] = self.duration
        return out


def encode(value: Any) -> str:
    """JSON text for a config or summary value (NaN and inf kept as such)."""
    return json.dumps(value, default=str, sort_keys=True)


def decode(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def numeric(value: Any) -> float | None:
    """The value as a float when it is a finite or infinite number, else None."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        f = float(value)
        return None if math.isnan(f) else f
    return None


class Runs:
    """Statements on ``runs``, ``run_configs`` and ``run_summaries``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- writes -----------------------------------------------------------------------
    def create(self, row: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> str:
        unknown = set(row) - set(_RUN_COLUMNS)
        if unknown:
            raise UsageError(f"unknown run fields: {', '.join(sorted(unknown))}")
        values = {k: (encode(v) if k in _JSON_COLUMNS and v is not None else v)
                  for k, v in row.items()}
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with self.db.transaction():
            self.db.execute(f"INSERT INTO runs ({cols}) VALUES ({marks})", list(values.values()))
            if config:
                self.write_config(str(row["id"]), config)
        return str(row["id"])

    def update(self, run_id: str, *, if_status: Sequence[str] = (), **fields: Any) -> bool:
        """Update run columns; with ``if_status``, only while the run's status is one of
        those (the UPDATE itself checks, so a status another process wrote since the caller
        read it stands). Returns whether the run was updated."""
        unknown = set(fields) - set(_RUN_COLUMNS)
        if unknown:
            raise UsageError(f"unknown run fields: {', '.join(sorted(unknown))}")
        if not fields:
            return False
        with self.db.transaction():
            return self.write_fields(run_id, fields, if_status=if_status)

    def write_fields(self, run_id: str, fields: Mapping[str, Any], *,
                     if_status: Sequence[str] = ()) -> bool:
        """Update run columns inside the caller's transaction (with ``if_status``, only
        while its status is one of those); ``last_step`` never goes back. Returns whether
        the run was updated."""
        sets: list[str] = []
        values: list[Any] = []
        for key, value in fields.items():
            if key == "last_step":
                sets.append("last_step = CASE WHEN last_step IS NULL OR last_step < ? "
                            "THEN ? ELSE last_step END")
                values += [value, value]
                continue
            sets.append(f"{key} = ?")
            values.append(encode(value) if key in _JSON_COLUMNS and value is not None else value)
        where = "id = ?"
        if if_status:
            where += f" AND status IN ({', '.join('?' for _ in if_status)})"
        cur = self.db.execute(f"UPDATE runs SET {', '.join(sets)} WHERE {where}",
                              [*values, run_id, *if_status])
        return bool(cur.rowcount)

    def write_config(self, run_id: str, config: Mapping[str, Any], *,
                     own_transaction: bool = False) -> None:
        """Upsert config keys (nested dicts are flattened with dots) inside the caller's
        transaction, or in one of their own with ``own_transaction``."""
        if own_transaction:
            with self.db.transaction():
                self.write_config(run_id, config)
            return
        rows = [(run_id, k, encode(v)) for k, v in flatten(config, strict=False).items()]
        self.db.executemany(
            "INSERT INTO run_configs (run_id, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
            rows,
        )

    def write_summary(self, run_id: str, items: Mapping[str, Any]) -> None:
        """Upsert summary keys, inside the caller's transaction."""
        self.db.executemany(
            "INSERT INTO run_summaries (run_id, key, value, num) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value, num = excluded.num",
            [(run_id, k, encode(v), numeric(v)) for k, v in items.items()],
        )

    def set_summary(self, run_id: str, items: Mapping[str, Any],
                    removed: Sequence[str] = ()) -> None:
        """Upsert summary keys and delete the ``removed`` ones, in one transaction."""
        with self.db.transaction():
            self.write_summary(run_id, items)
            if removed:
                self.db.executemany("DELETE FROM run_summaries WHERE run_id = ? AND key = ?",
                                    [(run_id, k) for k in removed])

    # -- reads ------------------------------------------------------------------------
    def _record(self, row: Mapping[str, Any]) -> RunRecord:
        data = {k: (decode(v) if k in _JSON_COLUMNS else v) for k, v in row.items()}
        if data.get("tags") is None:
            data["tags"] = []
        record = RunRecord(**data)
        if self.db.readonly and record.status == "running":
            # a reader cannot record a crash: it shows one by the same rule (reap_crashed)
            reason = dead_reason(record.host, record.pid, record.heartbeat_at,
                                 record.created_at, time.time())
            if reason is not None:
                record.status, record.reason = "crashed", reason
                record.ended_at = record.heartbeat_at
        return record

    def resolve_id(self, ref: str) -> str:
        """A run id from an id, a unique id prefix or a unique name."""
        row = self.db.query_one("SELECT id FROM runs WHERE id = ?", (ref,))
        if row:
            return str(row["id"])
        rows = self.db.query(
            "SELECT id FROM runs WHERE name = ? ORDER BY created_at DESC", (ref,)
        )
        if len(rows) == 1:
            return str(rows[0]["id"])
        if len(rows) > 1:
            ids = ", ".join(r["id"] for r in rows[:5])
            raise UsageError(f"{len(rows)} runs are named {ref!r} ({ids}): use the run id")
        rows = []
        if len(ref) >= 4:  # a unique id prefix
            rows = self.db.query("SELECT id FROM runs WHERE id LIKE ?", (ref + "%",))
        if len(rows) == 1:
            return str(rows[0]["id"])
        raise NotFoundError(f"no run {ref!r} in this lab: `stepstone runs` lists them")

    def get(self, ref: str) -> RunRecord:
        run_id = self.resolve_id(ref)
        row = self.db.query_one("SELECT * FROM runs WHERE id = ?", (run_id,))
        assert row is not None
        record = self._record(row)
        record.config = self.config(run_id)
        record.summary = self.summary(run_id)
        return record

    def exists(self, run_id: str) -> bool:
        return bool(self.db.scalar("SELECT COUNT(*) FROM runs WHERE id = ?", (run_id,)))

    def config(self, run_id: str) -> dict[str, Any]:
        rows = self.db.query("SELECT key, value FROM run_configs WHERE run_id = ?", (run_id,))
        return unflatten({r["key"]: decode(r["value"]) for r in rows}, strict=False)

    def summary(self, run_id: str) -> dict[str, Any]:
        rows = self.db.query("SELECT key, value FROM run_summaries WHERE run_id = ?", (run_id,))
        return {r["key"]: decode(r["value"]) for r in sorted(rows, key=lambda r: r["key"])}

    def counts_by_question(self) -> dict[str, int]:
        """How many runs each question has (a question with none is left out)."""
        return {str(r["question_id"]): int(r["n"]) for r in self.db.query(
            "SELECT question_id, COUNT(*) AS n FROM runs WHERE question_id IS NOT NULL"
            " GROUP BY question_id")}

    def own_counts_by_baseline(self) -> dict[str, int]:
        """How many finished runs of kind ``baseline`` each baseline version has (its own
        runs; a version with none is left out)."""
        return {str(r["baseline"]): int(r["n"]) for r in self.db.query(
            "SELECT baseline, COUNT(*) AS n FROM runs WHERE kind = 'baseline'"
            " AND status = 'finished' AND baseline IS NOT NULL GROUP BY baseline")}

    def list(
        self,
        *,
        status: str | Iterable[str] | None = None,
        project: str | None = None,
        tag: str | None = None,
        name: str | None = None,
        question_id: str | None = None,
        baseline: str | None = None,
        kind: str | None = None,
        ids: Iterable[str] | None = None,
        limit: int | None = None,
        details: bool = True,
    ) -> list[RunRecord]:
        """Runs matching every filter, newest first; ``details`` loads configs and summaries."""
        where: list[str] = []
        params: list[Any] = []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            bad = set(statuses) - set(STATUSES)
            if bad:
                raise UsageError(
                    f"unknown status {', '.join(sorted(bad))}: use one of {', '.join(STATUSES)}"
                )
            # a reader shows a dead running run as crashed (``_record``): it filters so too
            dead = self.dead_condition() if self.db.readonly and shows_dead(statuses) else None
            condition, args = status_condition(statuses, dead)
            where.append(condition)
            params += args
        for column, value in (
            ("project", project), ("question_id", question_id), ("baseline", baseline),
            ("kind", kind),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if name is not None:
            where.append("name LIKE ?")
            params.append(f"%{name}%")
        if tag is not None:
            where.append("tags LIKE ?")
            params.append(f'%{json.dumps(tag)}%')
        if ids is not None:
            id_list = list(ids)
            if not id_list:
                return []
            where.append(f"id IN ({', '.join('?' for _ in id_list)})")
            params += id_list
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created_at DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        records = [self._record(r) for r in self.db.query(sql, params)]
        if details and records:
            self._attach_details(records)
        return records

    def _attach_details(self, records: builtins.list[RunRecord]) -> None:
        by_id = {r.id: r for r in records}
        flat_configs: dict[str, dict[str, Any]] = {r.id: {} for r in records}
        ids = list(by_id)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            for row in self.db.query(
                f"SELECT run_id, key, value FROM run_configs WHERE run_id IN ({marks})", chunk
            ):
                flat_configs[row["run_id"]][row["key"]] = decode(row["value"])
            for row in self.db.query(
                f"SELECT run_id, key, value FROM run_summaries WHERE run_id IN ({marks})", chunk
            ):
                by_id[row["run_id"]].summary[row["key"]] = decode(row["value"])
        for run_id, flat in flat_configs.items():
            by_id[run_id].config = unflatten(flat, strict=False)

    # -- liveness ---------------------------------------------------------------------
    def dead_running(self, now: float | None = None) -> dict[str, str]:
        """The runs recorded as running that are dead by :func:`dead_reason` (id -> reason);
        nothing is recorded."""
        now = time.time() if now is None else now
        dead: dict[str, str] = {}
        for row in self.db.query(
            "SELECT id, pid, host, heartbeat_at, created_at FROM runs WHERE status = 'running'"
        ):
            reason = dead_reason(row["host"], row["pid"], row["heartbeat_at"],
                                 row["created_at"], now)
            if reason is not None:
                dead[row["id"]] = reason
        return dead

    def dead_condition(self, now: float | None = None) -> tuple[str, builtins.list[Any]]:
        """The SQL condition (and its parameters) for the runs recorded as running that are
        dead by :func:`dead_reason`, for a reader that cannot record it: elsewhere (another
        host, or no pid) a heartbeat older than ``HEARTBEAT_STALE_SECONDS``, in SQL; on this
        host the process decides, checked here for those few runs alone."""
        now = time.time() if now is None else now
        here = this_host()
        gone = [row["id"] for row in self.db.query(
            "SELECT id, pid, host, heartbeat_at, created_at FROM runs"
            " WHERE status = 'running' AND host = ? AND pid IS NOT NULL AND pid != 0", (here,))
            if dead_reason(row["host"], row["pid"], row["heartbeat_at"], row["created_at"],
                           now) is not None]
        stale = ("(host IS NULL OR host != ? OR pid IS NULL OR pid = 0)"
                 " AND COALESCE(NULLIF(heartbeat_at, 0), created_at) < ?")
        params: builtins.list[Any] = [here, now - HEARTBEAT_STALE_SECONDS]
        if gone:
            stale = f"({stale}) OR id IN ({', '.join('?' for _ in gone)})"
            params += gone
        return f"(status = 'running' AND ({stale}))", params

    def reap_crashed(self, now: float | None = None) -> builtins.list[str]:
        """Mark running runs whose process is gone as crashed (by :func:`dead_reason`); return
        their ids. A read-only connection records nothing: its reads show those runs as
        crashed by the same rule."""
        dead = self.dead_running(now)
        if self.db.readonly:
            return list(dead)
        for run_id, reason in dead.items():
            with self.db.transaction():
                self.db.execute(
                    "UPDATE runs SET status = 'crashed', reason = ?, ended_at = heartbeat_at "
                    "WHERE id = ? AND status = 'running'",
                    (reason, run_id),
                )
        return list(dead)


def status_condition(statuses: Sequence[str], dead: tuple[str, list[Any]] | None = None,
                     ) -> tuple[str, list[Any]]:
    """The SQL condition (and its parameters) for runs whose status, as a reader shows it, is
    one of ``statuses``: with ``dead`` (:meth:`Runs.dead_condition`), a run recorded as running
    but dead is crashed, not running."""
    sql, params = f"status IN ({', '.join('?' for _ in statuses)})", list(statuses)
    if dead is None or not shows_dead(statuses):
        return sql, params
    if "crashed" in statuses:
        return f"({sql} OR {dead[0]})", [*params, *dead[1]]
    return f"({sql} AND NOT {dead[0]})", [*params, *dead[1]]


def shows_dead(statuses: Sequence[str]) -> bool:
    """Whether a reader's filter on ``statuses`` depends on which running runs are dead."""
    return ("crashed" in statuses) != ("running" in statuses)


def this_host() -> str:
    """This machine's name, as a run records it (``host``) and as :func:`dead_reason` compares
    it: the kernel's node name, which ``socket.gethostname()`` returns too (read here without
    loading ``socket``, which a run's start does not otherwise need)."""
    return os.uname().nodename


def dead_reason(host: str | None, pid: int | None, heartbeat_at: float | None,
                created_at: float, now: float) -> str | None:
    """Why a running run is dead, or None while it may live: the one liveness rule of the
    CLI and the dashboard.

    On this host the process decides: a run whose pid is gone is dead at once, and so is
    one whose pid now belongs to a process started after the run was made (the pid was
    reused); the run's own live process keeps it running even when its heartbeat is late
    (a writer waiting on a lock, a suspended laptop). Elsewhere a heartbeat older than
    ``HEARTBEAT_STALE_SECONDS`` means dead.
    """
    if host == this_host() and pid:
        if not _pid_alive(int(pid)):
            return f"the process died without finishing (pid {pid} is gone)"
        if (_started_at(int(pid)) or 0.0) > created_at + _START_SLACK:
            return f"the process died without finishing (pid {pid} now belongs to a later process)"
        return None
    silent = now - (heartbeat_at or created_at)
    if silent > HEARTBEAT_STALE_SECONDS:
        return f"the process died without finishing (no heartbeat for {silent:.0f} s)"
    return None


_START_SLACK = 5.0
"""Seconds a process may seem to start after its run was made (the clock-tick rounding of
``/proc``): a run's own process always started before it made the run."""


def _started_at(pid: int) -> float | None:
    """When process ``pid`` started, from ``/proc`` (None where there is no ``/proc``)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime
        with open("/proc/stat") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is dead for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
