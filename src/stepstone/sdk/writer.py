"""The background writer: the only thread of a run that touches the database.

``Run.log`` puts each call on a deque as four items, step, time, keys and values (see
:func:`queue_call`; extend and popleft are atomic, so the training thread takes no lock).
Every ``interval`` seconds (sooner, and again at once, while a burst keeps the queue past
``EARLY_FLUSH_CALLS``) this thread drains the deque, packs each key's points into one
columnar chunk and writes everything, with the summary, config updates, evaluation records
and the heartbeat, in one transaction. The drain is columnar too: calls that logged the
same keys are grouped (by slicing the queue and one comparison per call), each key's values
become one float64 array, and finiteness is checked once per column (a sum), so the writer
holds the GIL as little as possible.

Each flush is a numbered batch, claimed in the same transaction that writes it (see
:mod:`stepstone.store.batches`), so a batch written again after a lost COMMIT reply adds
nothing. A failed write (a read-only or full disk, a store that went away) keeps the
batches in memory, warns once, and retries; a batch the database refuses whatever happens
is dropped alone, with a warning, and the writer goes on. A value no column can hold (an
int past float64, a step past int64) is dropped at the flush with one warning naming its
key. What still cannot be written when the run finishes goes to a spool lab
(:func:`~stepstone.store.target.spool_targets`) that ``stepstone sync`` copies in; when
even that fails the batches are tried again for ``FINISH_RETRY_SECONDS``, then their
points are counted as lost and the count is reported.

A long outage does not grow memory without bound: once the batches kept for a retry hold
more than ``STEPSTONE_SPILL_POINTS`` points (:func:`spill_bound`), they go to the spool at
once, and the writer goes on retrying the lab with the batches that follow. The first spill
to a spool in a process warns once, naming the spool and the sync command; later spills there,
of this run or any other of the process (a resumed run, the next run of a sweep), say nothing
more until each run's last line. The spool claims the batches under a writer number of its own
(``<writer>:spool``), so ``stepstone status`` sees them waiting however far the lab's mark has
gone. Their points and evaluation records stay in the spool alone, but what they set on the
run (config, summary, fields, attached objects, the last step) stays pending for the lab in
a batch of no points, written with the first write that works: the lab's run is then the
newest and whole, and ``stepstone sync`` keeps it over the spool's older copy of the run
(the run's clock: see :mod:`stepstone.store.team`), whether the run then ended in the lab,
was killed or was resumed. When no spool takes the batches either, they stay in memory and
both are tried again.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from array import array
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, repeat, starmap
from pathlib import Path
from typing import Any

from stepstone.configs import flatten
from stepstone.sdk.checkpoints import Checkpoints
from stepstone.store.batches import RunCopy, claim_batch, seed_run
from stepstone.store.db import (
    SQLITE,
    Database,
    describe_write_error,
    first_line,
    is_postgres_url,
    mask_url,
    refuses_batch,
)
from stepstone.store.evals import Evals
from stepstone.store.lab import create_local_lab
from stepstone.store.metrics import Chunk, Metrics
from stepstone.store.objects import ObjectIndex
from stepstone.store.runs import Runs
from stepstone.store.target import StoreTarget, sync_command

DEFAULT_INTERVAL = 0.5
HEARTBEAT_EVERY = 5.0
EARLY_FLUSH_CALLS = 20_000  # a queue this long is written at once, not at the next interval
FINISH_RETRY_SECONDS = 10.0  # at the end, how long batches nothing would take are tried again
SPILL_POINTS = 1_000_000  # kept in memory past this (about 24 MB) while the lab fails: spooled
SPILL_ENV = "STEPSTONE_SPILL_POINTS"
_POLL = 0.05
_INT64 = (-(2**63), 2**63 - 1)  # what a step (and an integer column) can hold
_told: set[str] = set()  # what this process has said once (see :func:`_first_time`)
_told_lock = threading.Lock()


@dataclass
class Op:
    """A non-metric write queued behind the metrics, so order is kept."""

    kind: str  # "config" | "summary" | "evals" | "fields" | "object" | "system" | "mark"
    payload: Any


# steps, values, times, nonfinite
_Column = tuple[Sequence[int], "array[float]", Sequence[float], bool]
# order (the calls' places in the drain), steps, times, the calls' value tuples
_Group = tuple[Sequence[int], list[int], list[float], list[tuple[Any, ...]]]


@dataclass
class _Batch:
    seq: int
    made_at: float = field(default_factory=time.time)  # the same on every try of the batch
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

    def points(self) -> int:
        return sum(len(c[0]) for parts in self.chunks.values() for c in parts) + len(self.texts)

    def settle(self, later: _Batch) -> None:
        """Take what ``later`` sets on the run (not its points or evaluation records)."""
        self.config.update(later.config)
        self.summary.update(later.summary)
        self.fields.update(later.fields)
        self.objects += later.objects
        if later.last_step is not None:
            self.last_step = (later.last_step if self.last_step is None
                              else max(self.last_step, later.last_step))
        self.nonfinite = self.nonfinite or later.nonfinite


class Writer(threading.Thread):
    """Drains a run's queue into the lab every ``interval`` seconds."""

    def __init__(self, target: str | Path, run_id: str, interval: float = DEFAULT_INTERVAL,
                 summary_view: dict[str, Any] | None = None, *, run_copy: RunCopy | None = None,
                 spools: tuple[StoreTarget, ...] = (), lab: str | None = None,
                 db: Database | None = None) -> None:
        """``db``, when given, is a connection to ``target`` that the writer takes over (the
        one its run was started on: ``init()`` neither closes it nor waits for a new one)."""
        super().__init__(name=f"stepstone-writer-{run_id}", daemon=True)
        self.db_path = str(target)  # what Database() takes: a SQLite file or a store URL
        self.run_id = run_id
        self.interval = interval
        self.queue: deque[Any] = deque()
        self.summary_view = summary_view if summary_view is not None else {}
        self.points_written = 0
        self.points_dropped = 0  # values no column can hold, and batches the lab refused
        self.points_lost = 0  # what neither the lab nor a spool took at the end
        self.spooled_to: StoreTarget | None = None  # where the batches the lab refused went
        self.spill_points = spill_bound()
        self.error: str | None = None
        self.writer_id = os.urandom(16).hex()
        self._run_copy = run_copy or RunCopy({"id": run_id}, ())
        self._spools = spools
        self._lab = lab or self.db_path  # what `stepstone sync --to` takes
        self._seq = 0
        self._stop_event = threading.Event()
        self._flush_request = threading.Event()
        self._marks: list[threading.Event] = []  # flush() calls the write under way answers
        self._pending: list[_Batch] = []
        self._spill_refused = False  # warned that no spool takes the backlog either
        self._all_config: dict[str, Any] = {}  # every config and field update, for a spool
        self._all_fields: dict[str, Any] = {}
        self._warned_nonfinite: set[str] = set()
        self._warned_unstorable: set[str] = set()
        self._last_beat = 0.0
        self._db: Database | None = None
        self._checkpoints: Checkpoints | None = None
        if db is not None:
            self._adopt(db)

    # -- called from the training thread -------------------------------------------------
    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything queued before this call is written, or tried and kept for
        a retry (or the timeout): one write of the thread's, whatever phase it is in."""
        if not self.is_alive():
            self._drain_and_write()
            return
        written = threading.Event()
        self.queue.append(Op("mark", written))  # set once the write that drains it is done
        self._flush_request.set()
        written.wait(timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Write what is left and stop the thread; what the lab will not take goes to a spool
        (see the module's notes)."""
        self._stop_event.set()
        self._flush_request.set()
        if self.is_alive():
            self.join(timeout)
        else:
            self._drain_and_write()
        if self._pending and not self.is_alive():
            self._rescue()
        if not self.is_alive():  # what the calls above connected (the thread closes its own)
            self._disconnect()

    @property
    def backlog_points(self) -> int:
        """The points of the batches kept in memory for a retry (at most the spill bound and
        one batch while a spool takes them)."""
        return sum(b.points() for b in list(self._pending))

    # -- the thread ------------------------------------------------------------------------
    def run(self) -> None:
        try:  # now, not at the first write: a short run's end then waits for one write alone
            self._connect()
        except Exception:  # the first write says what is wrong, and retries
            pass
        while not self._stop_event.is_set():
            self._wait()
            self._flush_request.clear()
            self._drain_and_write()
        self._drain_and_write()
        self._disconnect()

    def _wait(self) -> None:
        """Until the interval is over, a flush is asked for, or a burst fills the queue."""
        deadline = time.monotonic() + self.interval
        while len(self.queue) < 4 * EARLY_FLUSH_CALLS and (
                remaining := deadline - time.monotonic()) > 0:
            if self._flush_request.wait(min(remaining, _POLL)):
                return

    def _drain_and_write(self) -> None:
        self._seq += 1
        batch = _Batch(self._seq)
        try:
            self._drain(batch)
        except Exception as exc:  # a bug must not stop the recording: keep what was drained
            print(f"stepstone: could not prepare some logged values of run {self.run_id}: "
                  f"{type(exc).__name__}: {first_line(exc)}", file=sys.stderr)
        if not batch.empty():
            self._pending.append(batch)
        now = time.time()
        if not self._pending and now - self._last_beat < HEARTBEAT_EVERY:
            self._answer_flushes()
            return
        try:
            self._write(now)
        except Exception as exc:
            if refuses_batch(exc):  # one batch the database refuses must not block the others
                self._write_one_by_one(now)
            else:  # keep the data, tell the user once, retry next interval
                self._failed(exc)
        else:
            if self.error is not None:
                print("stepstone: writing to the lab works again; the backlog is saved",
                      file=sys.stderr)
            self.error = None
        self._answer_flushes()

    def _failed(self, exc: Exception) -> None:
        if self._db is not None and self._db.dialect is not SQLITE:
            self._disconnect()  # the server may have gone: connect afresh next time
        message = describe_write_error(exc, self._where())
        if message != self.error:
            print(f"stepstone: {message}; training goes on and stepstone keeps "
                  "retrying (nothing logged so far is dropped)", file=sys.stderr)
        self.error = message
        if self.backlog_points > self.spill_points:
            self._spill()

    def _spill(self) -> None:
        """Move the batches kept in memory to the first spool that takes them, keeping what
        they set on the run for the lab (see the module's notes), and warning once per spool
        in this process; when none takes them they stay, and the next failure tries again."""
        points = self.backlog_points
        reason = ""
        for spool in self._spool_order():
            try:
                self._spool(spool)
            except Exception as exc:  # a full disk there too: keep them, try again next time
                reason = describe_write_error(exc, str(spool.root))
                continue
            self._seq += 1
            state = _Batch(self._seq)
            for batch in self._pending:
                state.settle(batch)
            self._pending = [state]
            self._spill_refused = False
            command = sync_command(spool, self._lab)
            if _first_time(command):  # once per spool (and lab) in this process
                print(f"stepstone: the lab has not taken {points} logged points of run "
                      f"{self.run_id}; they are moved from memory to the spool {spool.root}, "
                      "and so are those of any run of this process the lab keeps refusing; "
                      f"copy them in with `{command}` once the lab works again (stepstone "
                      "keeps retrying it with the points that follow)", file=sys.stderr)
            self.spooled_to = spool
            return
        if reason and not self._spill_refused:
            self._spill_refused = True
            print(f"stepstone: no spool takes the {points} logged points of run "
                  f"{self.run_id} either ({reason}); they stay in memory, which grows until "
                  "the lab or a spool takes them (both are retried)", file=sys.stderr)

    def _spool_order(self) -> list[StoreTarget]:
        """The spools in the order tried: the one that holds part of the run first."""
        return sorted(self._spools, key=lambda spool: spool != self.spooled_to)

    def _where(self) -> str:
        return (mask_url(self.db_path) if is_postgres_url(self.db_path)
                else str(Path(self.db_path).parent))

    def _write_one_by_one(self, now: float) -> None:
        """Each pending batch in its own transaction: a batch refused again is dropped (with a
        warning and its count); a transient failure keeps it and the rest for the next try."""
        while self._pending:
            batch = self._pending[0]
            try:
                self._commit([batch], now)
            except Exception as exc:
                if not refuses_batch(exc):
                    self._failed(exc)
                    return
                self.points_dropped += batch.points()
                print(f"stepstone: the lab refused {batch.points()} logged points of run "
                      f"{self.run_id} ({type(exc).__name__}: {first_line(exc)}); they are "
                      "dropped and recording goes on", file=sys.stderr)
            self._pending.pop(0)
        self._last_beat = now

    def _answer_flushes(self) -> None:
        for written in self._marks:
            written.set()
        self._marks.clear()

    def _drain(self, batch: _Batch) -> None:
        """Move the queue into ``batch``: metric calls grouped by key set, ops in order.

        The calls' steps, times, key tuples and value tuples come out of the queue (see
        :func:`queue_call`) by slicing; the calls that logged one key tuple make a group (one
        comparison per call when they all did, the usual burst), and each of its keys' columns
        is a slice of the group's values laid end to end. The summary gets each key's last
        value, in logging order with the summary ops (see :func:`_summary_events`)."""
        queue = self.queue
        items = list(starmap(queue.popleft, repeat((), len(queue))))
        ops = [i for i, kind in enumerate(map(type, items)) if kind is Op] if (
            Op in set(map(type, items))) else []
        steps: list[int] = []
        times: list[float] = []
        keysets: list[tuple[Any, ...]] = []
        rows: list[tuple[Any, ...]] = []
        summary_ops: list[tuple[int, dict[str, Any]]] = []
        start = 0
        for at in [*ops, len(items)]:
            steps += items[start:at:4]
            times += items[start + 1:at:4]
            keysets += items[start + 2:at:4]
            rows += items[start + 3:at:4]
            if at < len(items):
                op = items[at]
                if op.kind == "summary":
                    summary_ops.append((len(rows), op.payload))
                else:
                    self._apply(batch, op)
                start = at + 1
        groups: dict[tuple[Any, ...], list[int] | None] = {}
        if rows and keysets.count(keysets[0]) == len(keysets):
            groups[keysets[0]] = None  # every call logged the same keys
        else:
            for index, keys in enumerate(keysets):
                members = groups.get(keys)
                if members is None:
                    groups[keys] = [index]
                else:
                    members.append(index)
        for values in _summary_events(groups, rows, summary_ops):
            batch.summary.update(values)
        columns: dict[str, list[tuple[Any, Any, Any, list[Any]]]] = {}
        for keys, members in groups.items():
            if members is None:
                group: _Group = (range(len(rows)), steps, times, rows)
            else:
                group = (members, [steps[i] for i in members], [times[i] for i in members],
                         [rows[i] for i in members])
            if not _storable_group(keys, group[1]):
                part = self._storable_part(batch, keys, group)
                if part is None:
                    continue
                keys, group = part
            order, group_steps, group_times, group_rows = group
            top = max(group_steps)
            batch.last_step = top if batch.last_step is None else max(batch.last_step, top)
            step_array, time_array = array("q", group_steps), array("d", group_times)
            flat = list(chain.from_iterable(group_rows))
            width = len(keys)
            for at, key in enumerate(keys):
                columns.setdefault(key, []).append((order, step_array, time_array,
                                                    flat[at::width]))
        for key, parts in columns.items():
            if len(parts) == 1:
                _, column_steps, column_times, column = parts[0]
            else:  # the key was logged beside different keys: back into logging order
                merged = sorted(p for part in parts for p in zip(*part, strict=True))
                _, column_steps, column_times, column = (list(c)
                                                         for c in zip(*merged, strict=True))
            self._add_column(batch, key, column_steps, column_times, column)
        dict.update(self.summary_view, batch.summary)  # not Summary.update, which queues
        self._all_config.update(batch.config)
        self._all_fields.update(batch.fields)
        if batch.nonfinite:
            self._all_fields["has_nonfinite"] = 1

    def _storable_part(self, batch: _Batch, keys: tuple[Any, ...], group: _Group,
                       ) -> tuple[tuple[str, ...], _Group] | None:
        """The calls of ``group`` at steps an int64 holds, with only their text keys (and
        those keys); the rest dropped with one warning per key."""
        order, steps, times, rows = group
        bad_keys = [k for k in keys if type(k) is not str]
        for key in bad_keys:
            self._unstorable(batch, key, f"metric names must be text, not {key!r}", len(rows))
            batch.summary.pop(key, None)
        kept = [i for i, step in enumerate(steps) if _INT64[0] <= step <= _INT64[1]]
        if len(kept) < len(steps):
            at = next(s for s in steps if not _INT64[0] <= s <= _INT64[1])
            self._unstorable(batch, "step", f"step {at} is past what a 64-bit integer holds",
                             len(steps) - len(kept))
        good = [j for j, k in enumerate(keys) if type(k) is str]
        if not kept or not good:
            return None
        return tuple(keys[j] for j in good), (
            [order[i] for i in kept], [steps[i] for i in kept], [times[i] for i in kept],
            [tuple(rows[i][j] for j in good) for i in kept])

    def _unstorable(self, batch: _Batch, key: Any, why: str, count: int) -> None:
        self.points_dropped += count
        if key not in self._warned_unstorable:
            self._warned_unstorable.add(key)
            print(f"stepstone: cannot store {key!r} of run {self.run_id}: {why}; such points "
                  "are dropped and recording goes on", file=sys.stderr)

    def _add_column(self, batch: _Batch, key: str, steps: list[int], times: list[float],
                    column: list[Any]) -> None:
        try:
            values = array("d", column)
        except (TypeError, OverflowError):  # text, or an int past float64: one by one
            numeric: tuple[list[int], list[float], list[float]] = ([], [], [])
            last: Any = None  # the last value kept: the summary's, if a later one is dropped
            for step, ts, value in zip(steps, times, column, strict=True):
                if type(value) is str:
                    batch.texts.append((key, step, ts, value))
                    last = value
                    continue
                try:
                    number = float(value)
                except (TypeError, OverflowError, ValueError):
                    self._unstorable(batch, key, f"{_short(value)} at step {step} is not a "
                                     "number a float64 holds", 1)
                    continue
                numeric[0].append(step)
                numeric[1].append(number)
                numeric[2].append(ts)
                last = value
            if batch.summary.get(key) is column[-1] and last is not column[-1]:
                if last is None:
                    del batch.summary[key]
                else:
                    batch.summary[key] = last
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
            batch.config.update(flatten(op.payload, strict=False))
        elif op.kind == "summary":
            batch.summary.update(op.payload)
        elif op.kind == "evals":
            batch.evals.append(op.payload)
        elif op.kind == "fields":
            batch.fields.update(op.payload)
        elif op.kind == "object":
            batch.objects.append(op.payload)
        elif op.kind == "mark":
            self._marks.append(op.payload)
        elif op.kind == "system":  # a system sample: its own numbering, not the run's step
            number, ts, values = op.payload
            for key, value in values.items():
                self._add_column(batch, key, [number], [ts], [value])

    def _connect(self) -> Database:
        if self._db is None:
            self._adopt(Database(self.db_path))
        assert self._db is not None
        return self._db

    def _adopt(self, db: Database) -> None:
        """Write with ``db`` from now on."""
        if db.dialect is SQLITE:  # its checkpoints on their own thread (sdk/checkpoints.py)
            db.leave_checkpoints()
            self._checkpoints = Checkpoints(db.target, f"stepstone-checkpoints-{self.run_id}")
        self._db = db

    def _disconnect(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.finish()
            self._checkpoints = None
        if self._db is not None:
            try:
                self._db.close()
            except Exception:  # a connection that broke has nothing left to close
                pass
            self._db = None

    def _write(self, now: float) -> None:
        batches = list(self._pending)
        self._commit(batches, now)
        del self._pending[:len(batches)]
        self._last_beat = now

    def _commit(self, batches: list[_Batch], now: float) -> None:
        db = self._connect()
        written = db.atomic(partial(self._write_in, db, batches, now))
        self.points_written += written
        if self._checkpoints is not None:
            self._checkpoints.committed(written)

    def _write_in(self, db: Database, batches: list[_Batch], now: float,
                  writer: str | None = None) -> int:
        """One flush's transaction (run again whole after a deadlock on PostgreSQL): each
        batch not written before (claimed as ``writer``'s, by default this writer's), then
        the heartbeat."""
        written = 0
        beat: dict[str, Any] | None = {"heartbeat_at": now}
        for index, batch in enumerate(batches):
            if claim_batch(db, self.run_id, writer or self.writer_id, batch.seq):
                last = index == len(batches) - 1
                written += self._write_batch(db, batch, (beat or {}) if last else {})
                beat = None if last else beat
        if beat is not None:
            Runs(db).write_fields(self.run_id, beat)
        return written

    def _rescue(self) -> None:
        """At the end: the batches the lab would not take go to a spool; if none takes them
        either, the lab and the spools are tried again for a while, then the loss is counted."""
        self._disconnect()
        deadline = time.monotonic() + FINISH_RETRY_SECONDS
        reasons: list[str] = []
        while True:
            for spool in self._spool_order():
                try:
                    self._spool(spool)
                except Exception as exc:
                    reasons.append(f"the spool {spool.root}: "
                                   f"{describe_write_error(exc, str(spool.root))}")
                else:
                    self.spooled_to = spool
                    self._pending = []
                    return
            if time.monotonic() > deadline:
                break
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
            try:
                self._write(time.time())
            except Exception as exc:
                self._disconnect()
                self.error = describe_write_error(exc, self._where())
            else:
                self.error = None
                return
        self.points_lost = sum(b.points() for b in self._pending)
        if reasons:
            self.error = f"{self.error}; nor could it be kept in {reasons[-1]}"

    def _spool(self, spool: StoreTarget) -> None:
        """Write the run (its row as at its start, every update since) and the pending
        batches into the local lab ``spool``, claimed under the spool's writer number."""
        assert spool.root is not None
        create_local_lab(spool.root)
        db = Database(spool.database)
        batches = list(self._pending)

        def work() -> int:
            seed_run(db, self._run_copy)
            runs = Runs(db)
            runs.write_config(self.run_id, self._all_config)
            runs.write_summary(self.run_id, self.summary_view)
            if self._all_fields:
                runs.write_fields(self.run_id, self._all_fields)
            return self._write_in(db, batches, time.time(), f"{self.writer_id}:spool")

        try:
            db.atomic(work)
        finally:
            db.close()

    def _write_batch(self, db: Database, batch: _Batch, extra: dict[str, Any]) -> int:
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
            evals.write(self.run_id, name, step, rows, created_at=batch.made_at)
        ObjectIndex(db).add(self.run_id, batch.objects)
        fields: dict[str, Any] = {**batch.fields, **extra}
        if batch.last_step is not None:
            fields["last_step"] = batch.last_step
        if batch.nonfinite:
            fields["has_nonfinite"] = 1
        if fields:
            runs.write_fields(self.run_id, fields)
        return written


def saving_report(writer: Writer, target: StoreTarget | None) -> str:
    """The line a run's end prints when the lab did not take all of it (an error at the end,
    or batches spilled to a spool during an outage): where the rest is kept and the command
    that copies it in, or how many points are lost."""
    head = f"run {writer.run_id} could not be fully saved"
    if writer.error is not None:
        head += f": {writer.error}"
    spool = writer.spooled_to
    if spool is not None:
        command = sync_command(spool, target.location if target is not None else writer._lab)
        when = " when the lab works again" if writer.error is not None else ""
        return (f"{head}; the rest of it is kept in the spool {spool.root}: copy it in with "
                f"`{command}`{when}")
    if writer.points_lost:
        return f"{head}; {writer.points_lost} logged points are lost"
    return head


def spill_bound() -> int:
    """How many points the batches kept in memory for a retry may hold before they go to a
    spool: ``STEPSTONE_SPILL_POINTS`` or :data:`SPILL_POINTS` (a value that is not a number
    is reported and the default used)."""
    value = os.environ.get(SPILL_ENV)
    if value is None:
        return SPILL_POINTS
    try:
        return max(int(value), 0)
    except ValueError:
        if _first_time(f"{SPILL_ENV}={value}"):  # each run reads it: said once a process
            print(f"stepstone: {SPILL_ENV}={value!r} is not a number of points; using "
                  f"{SPILL_POINTS}", file=sys.stderr)
        return SPILL_POINTS


def _first_time(what: str) -> bool:
    """True the first time this process asks about ``what``: a warning every run of the
    process would give (a spool it spills to, a bad setting) is given once."""
    with _told_lock:
        first = what not in _told
        _told.add(what)
    return first


def queue_call(queue: deque[Any], step: int, ts: float, values: Mapping[str, Any]) -> None:
    """Queue one logged call for the writer as four items in a row: step, time, the keys and
    the values (tuples of one snapshot of ``values``), put by one ``extend``, which no other
    thread can split. ``Run.log`` does the same inline, and passes one tuple object for
    calls that log the same keys as the call before, which the drain compares at once. No
    dict and no tuple holding one: those stay tracked by the garbage collector, and a long
    queue of them made each of its full collections walk every queued call."""
    row = dict(values)
    queue.extend((step, ts, tuple(row), tuple(row.values())))


def _summary_events(groups: dict[tuple[Any, ...], list[int] | None],
                    rows: list[tuple[Any, ...]], summary_ops: list[tuple[int, dict[str, Any]]],
                    ) -> list[dict[str, Any]]:
    """What one drain's summary takes, in the order to apply it: the first and the last call
    of each key-set group (``None``: every call) and the summary ops (``(calls queued before
    it, values)``). Applied in turn they leave the summary that applying every call would:
    each key's last value, the keys in the order they first came."""
    events: list[tuple[tuple[int, int, int], dict[str, Any]]] = []
    for keys, members in groups.items():
        first, last = (0, len(rows) - 1) if members is None else (members[0], members[-1])
        events.append(((first, 0, 0), dict(zip(keys, rows[first], strict=True))))
        events.append(((last, 0, 0), dict(zip(keys, rows[last], strict=True))))
    for seq, (before, values) in enumerate(summary_ops):
        events.append(((before - 1, 1, seq), values))
    events.sort(key=lambda event: event[0])
    return [values for _, values in events]


def _storable_group(keys: tuple[Any, ...], steps: list[int]) -> bool:
    """Every key is text and every step fits an int64 (the check is two comparisons)."""
    return (_INT64[0] <= min(steps) and max(steps) <= _INT64[1]
            and all(type(k) is str for k in keys))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."

