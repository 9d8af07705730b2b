"""Dated baselines (``small@2026-11-21``): frozen configs, parents, merged features, and the
noise floor measured on each version (every measurement kept; the newest is the one in use)."""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stepstone.errors import NotFoundError
from stepstone.store.db import Database
from stepstone.store.versions import dated_version


@dataclass(frozen=True)
class NoiseRecord:
    """A noise floor as stored: the seed-to-seed SD ``sd`` of ``metric`` over ``n`` seeds of
    ``version`` (at ``rung``), the runs it was measured on, and when (see
    :class:`stepstone.analysis.noise.NoiseFloor`, which :mod:`stepstone.method.noise` makes
    of it)."""

    version: str
    metric: str
    sd: float
    n: int
    rung: str | None
    runs: tuple[str, ...]
    measured_at: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "runs": list(self.runs)}


@dataclass(frozen=True)
class BaselineVersion:
    """One dated, frozen version of a tier (``small@2026-11-21``): its config, its parent
    version and the metric later versions must not regress on."""

    version: str
    tier: str
    day: str
    seq: int
    parent: str | None
    config: dict[str, Any]
    reference_metric: str | None
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "config": dict(self.config)}


@dataclass(frozen=True)
class BaselineFeature:
    """A config change merged into ``version``, and the question that proved it."""

    version: str
    question_id: str
    delta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"question_id": self.question_id, "delta": dict(self.delta)}


def _version(row: dict[str, Any]) -> BaselineVersion:
    return BaselineVersion(version=row["version"], tier=row["tier"], day=row["day"],
                           seq=int(row["seq"]), parent=row["parent"],
                           config=json.loads(row["config"]),
                           reference_metric=row["reference_metric"],
                           created_at=float(row["created_at"]))


def _noise(row: dict[str, Any]) -> NoiseRecord:
    return NoiseRecord(version=row["version"], metric=row["metric"], sd=float(row["sd"]),
                       n=int(row["n"]), rung=row["rung"], runs=tuple(json.loads(row["runs"])),
                       measured_at=float(row["measured_at"]))


class Baselines:
    """Statements on ``baselines`` and ``baseline_features``. A config is never updated."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, *, tier: str, day: str, parent: str | None, config: dict[str, Any],
               reference_metric: str | None,
               features: Sequence[tuple[str, dict[str, Any]]] = ()) -> str:
        """Insert a new version of ``tier`` dated ``day``; a second one that day gets ``.2``."""
        with self.db.transaction():
            last = int(self.db.scalar("SELECT COALESCE(MAX(seq), 0) FROM baselines"
                                      " WHERE tier = ? AND day = ?", (tier, day)) or 0)
            version = dated_version(tier, day, self.db.insert_numbered(
                "INSERT INTO baselines (version, tier, day, seq, parent, config, reference_metric,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (version) DO NOTHING",
                lambda seq: (dated_version(tier, day, seq), tier, day, seq, parent,
                             json.dumps(config, sort_keys=True), reference_metric, time.time()),
                last + 1))
            for question_id, delta in features:
                self.db.execute("INSERT INTO baseline_features (version, question_id, delta)"
                                " VALUES (?, ?, ?)", (version, question_id, json.dumps(delta)))
        return version

    def get(self, version: str) -> BaselineVersion:
        row = self.db.query_one("SELECT * FROM baselines WHERE version = ?", (version,))
        if row is None:
            raise NotFoundError(f"no baseline {version!r}: `stepstone baseline list` shows them")
        return _version(row)

    def current(self, tier: str) -> BaselineVersion | None:
        row = self.db.query_one("SELECT * FROM baselines WHERE tier = ?"
                                " ORDER BY day DESC, seq DESC LIMIT 1", (tier,))
        return None if row is None else _version(row)

    def list(self, tier: str | None = None) -> builtins.list[BaselineVersion]:
        sql = "SELECT * FROM baselines"
        params: tuple[Any, ...] = ()
        if tier is not None:
            sql += " WHERE tier = ?"
            params = (tier,)
        rows = self.db.query(sql + " ORDER BY tier, day, seq", params)
        return [_version(r) for r in rows]

    def features(self, version: str) -> builtins.list[BaselineFeature]:
        rows = self.db.query("SELECT question_id, delta FROM baseline_features WHERE version = ?"
                             " ORDER BY question_id", (version,))
        return [BaselineFeature(version=version, question_id=r["question_id"],
                                delta=json.loads(r["delta"])) for r in rows]

    def record_noise(self, version: str, *, metric: str, sd: float, n: int, rung: str | None,
                     runs: Sequence[str]) -> NoiseRecord:
        """Add a measurement of ``version``'s noise floor (an earlier one is kept, not replaced)."""
        self.get(version)
        record = NoiseRecord(version=version, metric=metric, sd=float(sd), n=int(n), rung=rung,
                             runs=tuple(runs), measured_at=time.time())
        self.db.execute(
            "INSERT INTO baseline_noise (version, metric, sd, n, rung, runs, measured_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (version, metric, record.sd, record.n, rung, json.dumps(list(record.runs)),
             record.measured_at),
        )
        return record

    def noise(self, version: str, metric: str | None = None) -> builtins.list[NoiseRecord]:
        """The newest noise floor of each metric of ``version`` (only ``metric``'s, if given)."""
        sql = "SELECT * FROM baseline_noise WHERE version = ?"
        params: tuple[Any, ...] = (version,)
        if metric is not None:
            sql += " AND metric = ?"
            params += (metric,)
        newest: dict[str, NoiseRecord] = {}
        for row in self.db.query(sql + " ORDER BY id", params):
            newest[row["metric"]] = _noise(row)
        return [newest[m] for m in sorted(newest)]
