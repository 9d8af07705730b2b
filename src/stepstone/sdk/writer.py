"""The background writer: the only thread of a run that touches the database.

``Run.log`` appends ``(step, time, values)`` tuples to a deque (append and
popleft are atomic, so the training thread takes no lock). Every
``interval`` seconds (sooner when a burst fills the queue) this thread drains the
deque, packs each key's points into one columnar chunk and writes everything, with
the summary, config updates, evaluation records and the heartbeat, in one
transaction. The drain is columnar too: calls that logged the same keys are grouped,
each key's values become one float64 array, and finiteness is checked once per
column (a sum), so the writer holds the GIL as little as possible. A failed write (a
read-only or full disk) keeps the data in memory, warns once, and retries.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from array import array
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
EARLY_FLUSH_CALLS = 50_000  # a queue this long is written at once, not at the next interval
_POLL = 0.05


@dataclass
class Op:
    """A non-metric write queued behind the metrics, so order is kept."""

    kind: str  # "config" | "summary" | "evals" | "fields" | "object" | "system"
    payload: Any


_Column = tuple[list[int], "array[float]", list[float], bool]  # steps, values, times, nonfinite


@dataclass
class _Batch:
    chunks: dict[str, list[_Column]] = field(default_factory=dict)
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
        deadline = time.monotonic() + timeout
        with self._flushed:
            target = self._generation + 2  # a write under way may have drained before the call
            while self._generation < target:
                step = self._generation + 1
                self._flush_request.set()  # again for the second write: no interval's wait
                left = deadline - time.monotonic()
                if left <= 0 or not self._flushed.wait_for(
                        lambda step=step: self._generation >= step, timeout=left):  # type: ignore[misc]
                    return

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
            self._wait()
            self._flush_request.clear()
            self._drain_and_write()
        self._drain_and_write()
        if self._db is not None:
            self._db.close()
            self._db = None

    def _wait(self) -> None:
        """Until the interval is over, a flush is asked for, or a burst fills the queue."""
        deadline = time.monotonic() + self.interval
        while (remaining := deadline - time.monotonic()) > 0:
            if self._flush_request.wait(min(remaining, _POLL)):
                return
            if len(self.queue) >= EARLY_FLUSH_CALLS:
                return

    def _drain_and_write(self) -> None:
        batch = self._retry or _Batch()
        self._retry = None
        self._drain(batch)
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

    def _drain(self, batch: _Batch) -> None:
        """Move the queue into ``batch``: metric calls grouped by key set, ops in order."""
        queue = self.queue
        groups: dict[tuple[str, ...], tuple[list[int], list[int], list[float],
                                            list[dict[str, Any]]]] = {}
        summary_update = batch.summary.update
        for index in range(len(queue)):
            item = queue.popleft()
            if type(item) is tuple:
                step, ts, values = item
                keys = tuple(values)
                group = groups.get(keys)
                if group is None:
                    group = groups[keys] = ([], [], [], [])
                group[0].append(index)
                group[1].append(step)
                group[2].append(ts)
                group[3].append(values)
                summary_update(values)  # the last value of each key, in logging order
            else:
                self._apply(batch, item)
        columns: dict[str, list[tuple[list[int], list[int], list[float], list[Any]]]] = {}
        for keys, (order, steps, times, rows) in groups.items():
            top = max(steps)
            batch.last_step = top if batch.last_step is None else max(batch.last_step, top)
            for key in keys:
                columns.setdefault(key, []).append((order, steps, times,
                                                    [row[key] for row in rows]))
        for key, parts in columns.items():
            if len(parts) == 1:
                _, steps, times, column = parts[0]
            else:  # the key was logged beside different keys: back into logging order
                merged = sorted(p for part in parts for p in zip(*part, strict=True))
                _, steps, times, column = (list(c) for c in zip(*merged, strict=True))
            self._add_column(batch, key, steps, times, column)
        dict.update(self.summary_view, batch.summary)  # not Summary.update, which queues

    def _add_column(self, batch: _Batch, key: str, steps: list[int], times: list[float],
                    column: list[Any]) -> None:
        try:
            values = array("d", column)
        except TypeError:  # text among the values: keep it apart, row by row
            numeric: tuple[list[int], list[float], list[float]] = ([], [], [])
            for step, ts, value in zip(steps, times, column, strict=True):
                if type(value) is str:
                    batch.texts.append((key, step, ts, value))
                else:
                    numeric[0].append(step)
                    numeric[1].append(value)
                    numeric[2].append(ts)
            if not numeric[0]:
                return
            steps, times, values = numeric[0], numeric[2], array("d", numeric[1])
        nonfinite = not math.isfinite(sum(values)) and not all(map(math.isfinite, values))
        if nonfinite:
            batch.nonfinite = True
            if key not in self._warned_nonfinite:
                self._warned_nonfinite.add(key)
                at = next(i for i, v in enumerate(values) if not math.isfinite(v))
                print(f"stepstone: metric {key!r} is {values[at]} at step {steps[at]} "
                      "(stored and flagged)", file=sys.stderr)
        batch.chunks.setdefault(key, []).append((steps, values, times, nonfinite))

    def _apply(self, batch: _Batch, op: Op) -> None:
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
        elif op.kind == "system":  # a system sample: its own numbering, not the run's step
            number, ts, values = op.payload
            for key, value in values.items():
                self._add_column(batch, key, [number], [ts], [value])

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
        written = metrics.write_chunks(self.run_id, (
            Chunk(key, steps, values, times, nonfinite)
            for key, parts in batch.chunks.items()
            for steps, values, times, nonfinite in parts
        ))
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

