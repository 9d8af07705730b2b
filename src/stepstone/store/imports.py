"""Runs brought in from other trackers (wandb, MLflow, TensorBoard), written in one transaction.

An imported run keeps its original id, config, metric series, summary and times, and
``runs.imported_from`` says where it came from (``wandb:/path/to/run``). Writing is
all or nothing: the run row, its config, every metric chunk, text metric, summary key
and attached file land in one transaction, so a failed import leaves no half run behind.
Importing twice duplicates nothing: a run already imported from the same place is skipped
when the source has nothing new, and replaced whole (in one transaction, keeping its id and
whatever points at it: notebook pages, evaluations) when the source has grown since, e.g. a
run that was still going at the first import. A native run, or one imported from
elsewhere, is never touched.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stepstone.errors import UsageError
from stepstone.store.db import Database
from stepstone.store.metrics import Chunk, Metrics
from stepstone.store.objects import ObjectIndex, ObjectStore
from stepstone.store.runs import _JSON_COLUMNS, _RUN_COLUMNS, Runs, encode

# points per stored chunk: big enough to be cheap, small enough to keep rows modest
CHUNK_POINTS = 50_000


@dataclass
class ImportedRun:
    """One run read from another tracker, ready to be written.

    ``row`` holds ``runs`` columns (``id``, ``name``, ``project``, ``status``,
    ``created_at`` are required; ``imported_from`` is set by the importer);
    ``series`` maps a metric key to parallel lists of steps, values and wall times;
    ``texts`` holds text metrics as ``(key, step, time, text)``.
    """

    row: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    series: dict[str, tuple[list[int], list[float], list[float]]] = field(default_factory=dict)
    texts: list[tuple[str, int, float, str]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    # blobs to attach to the run, as (role, name, data): the output log, for one
    objects: list[tuple[str, str, bytes]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.row["id"])

    @property
    def points(self) -> int:
        return sum(len(steps) for steps, _, _ in self.series.values())


class Imports:
    """Statements that write imported runs (and find the ones already imported)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.runs = Runs(db)
        self.metrics = Metrics(db)

    def origin(self, run_id: str) -> str | None:
        """Where a run of the lab was imported from ('' for a native run), or None if absent."""
        row = self.db.query_one("SELECT imported_from FROM runs WHERE id = ?", (run_id,))
        if row is None:
            return None
        return str(row["imported_from"] or "")

    def unchanged(self, run: ImportedRun) -> bool:
        """Whether the lab's copy of ``run`` already holds what the source has now."""
        row = self.db.query_one(
            "SELECT status, last_step, ended_at FROM runs WHERE id = ?", (run.id,))
        if row is None:
            return False
        points = self.db.scalar(
            "SELECT COALESCE(SUM(n), 0) FROM metric_chunks WHERE run_id = ?", (run.id,))
        texts = self.db.scalar("SELECT COUNT(*) FROM metric_texts WHERE run_id = ?", (run.id,))
        stored = {r["key"]: r["value"] for r in self.db.query(
            "SELECT key, value FROM run_summaries WHERE run_id = ?", (run.id,))}
        summary = {k: encode(v) for k, v in run.summary.items()}
        return bool(
            row["status"] == run.row.get("status") and row["ended_at"] == run.row.get("ended_at")
            and int(points) == run.points and int(texts) == len(run.texts)
            and row["last_step"] == _last_step(run) and stored == summary
            and self._attached(run.id, {role for role, _, _ in run.objects}) == _to_attach(run))

    def _attached(self, run_id: str, roles: set[str]) -> dict[tuple[str, str], str]:
        """The hashes of the run's attached objects of ``roles``, by role and name."""
        if not roles:
            return {}
        marks = ", ".join("?" for _ in roles)
        return {(r["role"], r["name"]): r["hash"] for r in self.db.query(
            f"SELECT role, name, hash FROM run_objects WHERE run_id = ? AND role IN ({marks})",
            (run_id, *sorted(roles)))}

    def write(self, run: ImportedRun, objects: ObjectStore | None = None, *,
              replace: bool = False) -> bool:
        """Write ``run`` in one transaction; False (and nothing written) if its id exists,
        unless ``replace``: then the run's row is updated and its config, summary, series,
        texts and attached objects are replaced by the source's.

        ``run.objects`` are put in ``objects`` (content-addressed, so a failed import
        leaves at most an unreferenced blob) and attached to the run in the transaction.
        """
        stored = []
        if objects is not None:
            for role, name, data in run.objects:
                stored.append((role, name, objects.put(data), len(data)))
        row = dict(run.row)
        unknown = set(row) - set(_RUN_COLUMNS)
        if unknown:
            raise UsageError(f"unknown run fields: {', '.join(sorted(unknown))}")
        for required in ("id", "name", "project", "status", "created_at"):
            if row.get(required) is None:
                raise UsageError(f"an imported run needs {required!r}")
        row["last_step"] = _last_step(run)
        nonfinite = any(
            not math.isfinite(v) for _, values, _ in run.series.values() for v in values
        )
        row["has_nonfinite"] = int(nonfinite)
        values = {
            k: (encode(v) if k in _JSON_COLUMNS and v is not None else v) for k, v in row.items()
        }
        with self.db.transaction():
            if self.db.scalar("SELECT COUNT(*) FROM runs WHERE id = ?", (run.id,)):
                if not replace:
                    return False
                for table in _REPLACED:
                    self.db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run.id,))
                update = {**dict.fromkeys(_OUTCOME), **values}  # an old reason goes too
                update.pop("id")
                sets = ", ".join(f"{col} = ?" for col in update)
                self.db.execute(f"UPDATE runs SET {sets} WHERE id = ?",
                                [*update.values(), run.id])
            else:
                cols = ", ".join(values)
                marks = ", ".join("?" for _ in values)
                self.db.execute(f"INSERT INTO runs ({cols}) VALUES ({marks})",
                                list(values.values()))
            if run.config:
                self.runs.write_config(run.id, run.config)
            self.metrics.write_chunks(run.id, _chunks(run.series))
            if run.texts:
                self.metrics.write_texts(run.id, run.texts)
            if run.summary:
                self.runs.write_summary(run.id, run.summary)
            ObjectIndex(self.db).add(run.id, stored)
        return True


# what an import writes for a run, and so what a newer import of it replaces
_REPLACED = ("run_configs", "run_summaries", "metric_chunks", "metric_texts", "run_objects")
# how a run ended: cleared before a newer import of it says again
_OUTCOME = ("reason", "exit_code", "ended_at", "heartbeat_at", "last_step")


def _to_attach(run: ImportedRun) -> dict[tuple[str, str], str]:
    """The hashes of what an import attaches to ``run``, by role and name (a later file of
    the same name replaces an earlier one, as attaching it does)."""
    return {(role, name): hashlib.sha256(data).hexdigest() for role, name, data in run.objects}


def _last_step(run: ImportedRun) -> int | None:
    """The run's own last step, else the last step of its series and texts."""
    if run.row.get("last_step") is not None:
        return int(run.row["last_step"])
    steps_seen = [max(steps) for steps, _, _ in run.series.values() if steps]
    steps_seen += [t[1] for t in run.texts]
    return max(steps_seen) if steps_seen else None


def _chunks(series: Mapping[str, tuple[list[int], list[float], list[float]]]) -> list[Chunk]:
    out = []
    for key, (steps, values, times) in series.items():
        for start in range(0, len(steps), CHUNK_POINTS):
            end = start + CHUNK_POINTS
            out.append(Chunk(key, steps[start:end], values[start:end], times[start:end]))
    return out


__all__ = ["CHUNK_POINTS", "ImportedRun", "Imports"]
