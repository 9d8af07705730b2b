"""Metric series, stored as columnar chunks.

Each flush of the SDK writes one row per metric key holding that key's points
as packed little-endian arrays (int64 steps, float64 values and times). That
is what makes ingest cheap (one row per key per flush, not per point) and a
million-point series quick to read. NaN and ±inf survive as IEEE values; a
chunk that holds any is flagged. Text values logged as metrics live one row per
point in ``metric_texts``.
"""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stepstone.store.db import Database

_SWAP = sys.byteorder != "little"
SYSTEM_PREFIX = "system/"


def is_system_key(key: str) -> bool:
    """Whether a series is a system metric (``system/*``: CPU, memory, disk, network, GPUs,
    sampled beside the run): its steps number the samples, they are not training steps."""
    return key.startswith(SYSTEM_PREFIX)


def pack(kind: str, values: Sequence[float] | Sequence[int]) -> bytes:
    """Little-endian bytes of ``values`` (an ``array`` of the right kind is not copied)."""
    if isinstance(values, array) and values.typecode == kind and not _SWAP:
        return values.tobytes()
    arr = array(kind, values)
    if _SWAP:  # pragma: no cover - big-endian hosts
        arr.byteswap()
    return arr.tobytes()


def unpack(kind: str, blob: bytes) -> array:  # type: ignore[type-arg]
    arr = array(kind)
    arr.frombytes(bytes(blob))
    if _SWAP:  # pragma: no cover
        arr.byteswap()
    return arr


@dataclass
class Series:
    """One metric of one run: parallel lists of steps, values and wall times."""

    key: str
    steps: list[int]
    values: list[float]
    times: list[float]

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def last(self) -> float | None:
        return self.values[-1] if self.values else None


@dataclass(frozen=True)
class Chunk:
    """The points of one key gathered in one flush (``nonfinite``: None = check the values)."""

    key: str
    steps: Sequence[int]
    values: Sequence[float]
    times: Sequence[float]
    nonfinite: bool | None = None


class Metrics:
    """Statements on ``metric_chunks`` and ``metric_texts``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def write_chunks(self, run_id: str, chunks: Iterable[Chunk]) -> int:
        """Insert chunks inside the caller's transaction; return the number of points.

        Chunks that share one steps or times sequence (the keys logged by the same calls)
        share its packing and its bounds: each is computed once."""
        rows = []
        total = 0
        shared: dict[tuple[str, int], tuple[Sequence[Any], tuple[Any, ...]]] = {}

        def packed(kind: str, values: Sequence[Any]) -> tuple[Any, ...]:
            # the sequence is kept beside what it gave, so its id is not reused meanwhile
            found = shared.get((kind, id(values)))
            if found is None:
                got = (pack(kind, values),) if kind == "d" else (
                    pack(kind, values), min(values), max(values))
                found = shared[(kind, id(values))] = (values, got)
            return found[1]

        for c in chunks:
            if not c.steps:
                continue
            nonfinite = int(c.nonfinite if c.nonfinite is not None
                            else not all(map(math.isfinite, c.values)))
            steps, first, last = packed("q", c.steps)
            rows.append((run_id, c.key, len(c.steps), first, last, steps, pack("d", c.values),
                         packed("d", c.times)[0], nonfinite))
            total += len(c.steps)
        if rows:
            self.db.executemany(
                "INSERT INTO metric_chunks (run_id, key, n, step_min, step_max, steps, vals, times,"
                " nonfinite) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return total

    def write_texts(self, run_id: str, rows: Iterable[tuple[str, int, float, str]]) -> None:
        """Insert (key, step, time, text) rows inside the caller's transaction."""
        self.db.executemany(
            "INSERT INTO metric_texts (run_id, key, step, ts, value) VALUES (?, ?, ?, ?, ?)",
            [(run_id, *r) for r in rows],
        )

    def keys(self, run_id: str) -> list[str]:
        rows = self.db.query(
            "SELECT DISTINCT key FROM metric_chunks WHERE run_id = ? ORDER BY key", (run_id,)
        )
        return [r["key"] for r in rows]

    def extents(self, run_id: str) -> dict[str, tuple[int, int, int]]:
        """Per key: how many points, the first and the last step, from the chunks' headers
        (no point is read)."""
        rows = self.db.query(
            "SELECT key, SUM(n) AS n, MIN(step_min) AS first, MAX(step_max) AS last "
            "FROM metric_chunks WHERE run_id = ? GROUP BY key ORDER BY key", (run_id,))
        return {r["key"]: (int(r["n"]), int(r["first"]), int(r["last"])) for r in rows}

    def count(self, run_id: str) -> int:
        return int(
            self.db.scalar(
                "SELECT COALESCE(SUM(n), 0) FROM metric_chunks WHERE run_id = ?", (run_id,)
            )
        )

    def history(self, run_id: str, keys: Sequence[str] | None = None,
                after_step: int | Mapping[str, int] | None = None) -> dict[str, Series]:
        """Every numeric series of a run (or just ``keys``), in logging order.

        With ``after_step``, only the points past it, reading only the chunks that hold some
        (so polling a live run for its new points stays cheap however long the run is): one
        step for every key, or a step per key, where a key not in the mapping is read whole.
        A poller that follows a run should pass each key's own last step: a key logged later
        at a step already seen (an evaluation after the training point of its step) is past
        its own last step, not past the run's."""
        sql = "SELECT key, steps, vals, times FROM metric_chunks WHERE run_id = ?"
        params: list[Any] = [run_id]
        if keys is not None:
            if not keys:
                return {}
            sql += f" AND key IN ({', '.join('?' for _ in keys)})"
            params += list(keys)
        cut: dict[str, int] | None = None
        everywhere: int | None = None
        if isinstance(after_step, Mapping):
            cut = {key: int(step) for key, step in after_step.items()}
            if cut:
                sql += (f" AND (step_max > ? OR key NOT IN "
                        f"({', '.join('?' for _ in cut)}))")
                params += [min(cut.values()), *cut]
        elif after_step is not None:
            everywhere = int(after_step)
            sql += " AND step_max > ?"
            params.append(everywhere)
        out: dict[str, Series] = {}
        for row in self.db.query(sql + " ORDER BY id", params):
            key = row["key"]
            after = cut.get(key) if cut is not None else everywhere
            series = out.get(key)
            if series is None:
                series = out[key] = Series(key, [], [], [])
            steps = unpack("q", row["steps"])
            vals = unpack("d", row["vals"])
            times = unpack("d", row["times"])
            if after is None:
                series.steps.extend(steps)
                series.values.extend(vals)
                series.times.extend(times)
                continue
            for step, value, ts in zip(steps, vals, times, strict=True):
                if step > after:
                    series.steps.append(step)
                    series.values.append(value)
                    series.times.append(ts)
        return {key: series for key, series in out.items() if series.steps}

    def texts(self, run_id: str) -> dict[str, list[tuple[int, str]]]:
        out: dict[str, list[tuple[int, str]]] = {}
        for row in self.db.query(
            "SELECT key, step, value FROM metric_texts WHERE run_id = ? ORDER BY id", (run_id,)
        ):
            out.setdefault(row["key"], []).append((row["step"], row["value"]))
        return out

    def text_points(self, run_id: str, keys: Sequence[str] | None = None
                    ) -> list[tuple[str, int, float, str]]:
        """Every text point of a run (or of ``keys``) as (key, step, time, text), in logging
        order."""
        sql = "SELECT key, step, ts, value FROM metric_texts WHERE run_id = ?"
        params: list[Any] = [run_id]
        if keys is not None:
            if not keys:
                return []
            sql += f" AND key IN ({', '.join('?' for _ in keys)})"
            params += list(keys)
        return [(r["key"], int(r["step"]), float(r["ts"]), r["value"])
                for r in self.db.query(sql + " ORDER BY id", params)]

    def text_counts(self, run_id: str) -> dict[str, int]:
        """Per text key, how many points."""
        rows = self.db.query("SELECT key, COUNT(*) AS n FROM metric_texts WHERE run_id = ? "
                             "GROUP BY key ORDER BY key", (run_id,))
        return {r["key"]: int(r["n"]) for r in rows}
