"""What makes a run's writes safe to repeat, and what a spool needs to hold a run.

Each SDK writer numbers its flushes (``seq`` 1, 2, ...) and writes them in order. A flush
first *claims* its number in ``run_writers``; the claim succeeds only when the number is
past the writer's mark, so a flush written again (the COMMIT reached the server but its
reply was lost, and the writer could not know) changes nothing the second time.

A run whose lab cannot be reached at its end (or for so long during the run that the flushes
kept for a retry pass the SDK's bound) is written to a spool lab instead: the spool first gets
a copy of the run's row and config (:func:`copy_of_run`, :func:`seed_run`), so that its rows
have their parent and ``stepstone sync`` copies a complete run back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stepstone.store.db import Database


def claim_batch(db: Database, run_id: str, writer: str, seq: int) -> bool:
    """Inside the caller's transaction: True when flush ``seq`` of ``writer`` is new (its
    rows are to be written), False when it was committed before (write nothing)."""
    cur = db.execute(
        "INSERT INTO run_writers (run_id, writer, seq) VALUES (?, ?, ?) "
        "ON CONFLICT (run_id, writer) DO UPDATE SET seq = excluded.seq "
        "WHERE run_writers.seq < excluded.seq",
        (run_id, writer, seq),
    )
    return bool(cur.rowcount)


@dataclass(frozen=True)
class RunCopy:
    """A run's row and config rows, as read at its start."""

    row: dict[str, Any]
    config: tuple[tuple[str, str], ...]


def copy_of_run(db: Database, run_id: str) -> RunCopy:
    row = db.query_one("SELECT * FROM runs WHERE id = ?", (run_id,)) or {"id": run_id}
    config = tuple((str(r["key"]), str(r["value"])) for r in db.query(
        "SELECT key, value FROM run_configs WHERE run_id = ? ORDER BY key", (run_id,)))
    return RunCopy(row, config)


def seed_run(db: Database, copy: RunCopy) -> None:
    """Inside the caller's transaction: the run's row and config, unless ``db`` has the run."""
    columns = list(copy.row)
    db.execute(
        f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
        "ON CONFLICT (id) DO NOTHING",
        [copy.row[c] for c in columns],
    )
    db.executemany(
        "INSERT INTO run_configs (run_id, key, value) VALUES (?, ?, ?) "
        "ON CONFLICT (run_id, key) DO NOTHING",
        [(copy.row["id"], key, value) for key, value in copy.config],
    )
