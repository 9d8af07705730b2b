"""The background writer: the only thread of a run that touches the database.

``Run.log`` appends ``(step, time, values)`` tuples to a deque (append and
popleft are atomic, so the training thread takes no lock). Every
``interval`` seconds this thread drains the deque, packs each key's points into
one columnar chunk and writes everything, with the summary, config updates,
evaluation records and the heartbeat, in one transaction. A failed write (a
read-only or full disk) keeps the data in memory, warns once, and retries.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepstone.store.db import (
    SQLITE,
    Database,
    describe_write_error,
    is_postgres_url,
    mask_url,
)
from stepstone.store.evals import Evals
from stepstone.store.metrics import Chunk, Metrics
from stepstone.store.objects import ObjectIndex
from stepstone.store.runs import Runs, flatten

DEFAULT_INTERVAL = 0.5
HEARTBEAT_EVERY = 5.0


@dataclass
class Op:
    """A non-metric write queued behind the metrics, so order is kept."""

    kind: str  # "config" | "summary" | "evals" | "fields" | "object"
    payload: Any


@dataclass
class _Batch:
    chunks: dict[str, tuple[list[int], list[float], list[float]]] = field(default_factory=dict)
    texts: list[tuple[str, int, float, str]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    evals: list[tuple[str, int | None, list[tuple[Any, ...]]]] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    objects: list[tuple[str | None, str, str, int]] = field(default_factory=list)
    last_step: int | None = None
    nonfinite: bool = False

    def empty(self) -> bool:
        return not (self.chunks or self.texts or self.config or self.summary or self.evals
                    or self.fields or self.objects)


class Writer(threading.Thread):
    """Drains a run's queue into the lab every ``interval`` seconds."""

    def __init__(self, target: str | Path, run_id: str, interval: float = DEFAULT_INTERVAL,
                 summary_view: dict[str, Any] | None = None) -> None:
        super().__init__(name=f"stepstone-writer-{run_id}", daemon=True)
        self.db_path = str(target)  # what Database() takes: a SQLite file or a store URL
        self.run_id = run_id
        self.interval = interval
        self.queue: deque[Any] = deque()
        self.summary_view = summary_view if summary_view is not None else {}
        self.points_written = 0
        self.error: str | None = None
        self._stop_event = threading.Event()
        self._flush_request = threading.Event()
        self._flushed = threading.Condition()
        self._generation = 0
        self._retry: _Batch | None = None
        self._warned_nonfinite: set[str] = set()
        self._last_beat = 0.0
        self._db: Database | None = None

    # -- called from the training thread -------------------------------------------------
    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything queued before this call is written (or the timeout)."""
        if not self.is_alive():
            self._drain_and_write()
            return
        with self._flushed:
            target = self._generation + 2
            self._flush_request.set()
            self._flushed.wait_for(lambda: self._generation >= target, timeout=timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Write what is left and stop the thread."""
        self._stop_event.set()
        self._flush_request.set()
        if self.is_alive():
            self.join(timeout)
        else:
            self._drain_and_write()

    # -- the thread ------------------------------------------------------------------------
    def run(self) -> None:
        while not self._stop_event.is_set():
            self._flush_request.wait(self.interval)
            self._flush_request.clear()
            self._drain_and_write()
        self._drain_and_write()
        if self._db is not None:
            self._db.close()
            self._db = None

    def _drain_and_write(self) -> None:
        batch = self._retry or _Batch()
        self._retry = None
        queue = self.queue
        for _ in range(len(queue)):
            self._add(batch, queue.popleft())
        now = time.time()
        if batch.empty() and now - self._last_beat < HEARTBEAT_EVERY:
            self._bump()
            return
        try:
            self._write(batch, now)
        except Exception as exc:  # keep the data, tell the user once, retry next interval
            self._retry = batch
            if self._db is not None and self._db.dialect is not SQLITE:
                self._db.close()  # the server may have gone: connect afresh next time
                self._db = None
            where = (mask_url(self.db_path) if is_postgres_url(self.db_path)
                     else str(Path(self.db_path).parent))
            message = describe_write_error(exc, where)
            if message != self.error:
                print(f"stepstone: {message}; training goes on and stepstone keeps "
                      "retrying (nothing logged so far is dropped)", file=sys.stderr)
            self.error = message
        else:
            if self.error is not None:
                print("stepstone: writing to the lab works again; the backlog is saved",
                      file=sys.stderr)
            self.error = None
        self._bump()

    def _bump(self) -> None:
        with self._flushed:
            self._generation += 1
            self._flushed.notify_all()

    def _add(self, batch: _Batch, item: Any) -> None:
        if type(item) is tuple:
            step, ts, values = item
            batch.last_step = step if batch.last_step is None else max(batch.last_step, step)
            view_set = dict.__setitem__  # bypass Summary.__setitem__, which would queue an op
            view = self.summary_view
            for key, value in values.items():
                if type(value) is str:
                    batch.texts.append((key, step, ts, value))
                    continue
                series = batch.chunks.get(key)
                if series is None:
                    series = batch.chunks[key] = ([], [], [])
                series[0].append(step)
                series[1].append(value)
                series[2].append(ts)
                if not math.isfinite(value):
                    batch.nonfinite = True
                    if key not in self._warned_nonfinite:
                        self._warned_nonfinite.add(key)
                        print(f"stepstone: metric {key!r} is {value} at step {step} "
                              "(stored and flagged)", file=sys.stderr)
                view_set(view, key, value)
                batch.summary[key] = value
            return
        op: Op = item
        if op.kind == "config":
            batch.config.update(flatten(op.payload))
        elif op.kind == "summary":
            batch.summary.update(op.payload)
        elif op.kind == "evals":
            batch.evals.append(op.payload)
        elif op.kind == "fields":
            batch.fields.update(op.payload)
        elif op.kind == "object":
            batch.objects.append(op.payload)

    def _connect(self) -> Database:
        if self._db is None:
            self._db = Database(self.db_path)
        return self._db

    def _write(self, batch: _Batch, now: float) -> None:
        db = self._connect()
        fields: dict[str, Any] = dict(batch.fields)
        fields["heartbeat_at"] = now
        if batch.last_step is not None:
            fields["last_step"] = batch.last_step
        if batch.nonfinite:
            fields["has_nonfinite"] = 1
        written = db.atomic(lambda: self._write_in(db, batch, fields))
        self.points_written += written
        self._last_beat = now

    def _write_in(self, db: Database, batch: _Batch, fields: dict[str, Any]) -> int:
        """One flush's transaction (run again whole after a deadlock on PostgreSQL)."""
        runs, metrics, evals = Runs(db), Metrics(db), Evals(db)
        written = metrics.write_chunks(
            self.run_id, (Chunk(k, s, v, t) for k, (s, v, t) in batch.chunks.items())
        )
        if batch.texts:
            metrics.write_texts(self.run_id, batch.texts)
        if batch.config:
            runs.write_config(self.run_id, batch.config)
        if batch.summary:
            runs.write_summary(self.run_id, batch.summary)
        for name, step, rows in batch.evals:
            evals.write(self.run_id, name, step, rows)
        index = ObjectIndex(db)
        # shared rows in one order for every writer, so concurrent runs never deadlock
        for digest, size in sorted({(o[2], o[3]) for o in batch.objects}):
            index.record(digest, size)
        for role, name, digest, _size in batch.objects:
            if role is not None:
                index.attach(self.run_id, role, name, digest)
        runs.write_fields(self.run_id, fields)
        return written

