"""Evaluation suites (``recall@2026-11-21``): frozen specs by version, and run checks."""

from __future__ import annotations

import builtins
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stepstone.errors import NotFoundError
from stepstone.store.db import Database
from stepstone.store.versions import dated_version


@dataclass(frozen=True)
class Check:
    """One check of a suite: ``metric op value`` on a run, of kind ``threshold``,
    ``constraint`` or ``bucket`` (a bucket check also names its ``eval`` set, ``field``,
    ``bucket`` and ``stat``); ``basis`` says where its value came from."""

    kind: str
    metric: str
    op: str
    value: float
    basis: str | None = None
    eval: str | None = None
    field: str | None = None
    bucket: str | None = None
    stat: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def _check_of(data: Mapping[str, Any]) -> Check:
    """A check from its stored mapping (the keys of :meth:`Check.to_dict`)."""
    return Check(**{k: data[k] for k in Check.__dataclass_fields__ if k in data})


@dataclass(frozen=True)
class SuiteSpec:
    """What a suite version holds: its checks, and the scale it holds (``rung``, of the
    ladder's ``rungs``) when it holds one. ``buckets`` and ``reference`` are what a
    distilled suite was made from (shown, never checked)."""

    checks: tuple[Check, ...]
    name: str | None = None
    tier: str | None = None
    question: str | None = None
    description: str | None = None
    source: str | None = None
    metrics: tuple[str, ...] | None = None
    buckets: tuple[dict[str, Any], ...] | None = None
    reference: dict[str, Any] | None = None
    rung: str | int | float | None = None
    rungs: tuple[str | int | float, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The spec as stored: ``name`` and ``tier`` always, the other keys when set."""
        out: dict[str, Any] = {"name": self.name, "tier": self.tier}
        for key in ("question", "description", "source", "reference", "rung"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        for key in ("metrics", "buckets", "rungs"):
            if getattr(self, key) is not None:
                out[key] = list(getattr(self, key))
        out["checks"] = [c.to_dict() for c in self.checks]
        return out


def spec_of(data: Mapping[str, Any]) -> SuiteSpec:
    """A spec from its stored mapping (the keys of :meth:`SuiteSpec.to_dict`)."""
    def listed(key: str) -> tuple[Any, ...] | None:
        return None if data.get(key) is None else tuple(data[key])

    return SuiteSpec(checks=tuple(_check_of(c) for c in data["checks"]), name=data.get("name"),
                     tier=data.get("tier"), question=data.get("question"),
                     description=data.get("description"), source=data.get("source"),
                     metrics=listed("metrics"), buckets=listed("buckets"),
                     reference=data.get("reference"), rung=data.get("rung"),
                     rungs=listed("rungs"))


@dataclass(frozen=True)
class SuiteVersion:
    """One dated, frozen version of a suite (``recall@2026-11-21``), attached to a baseline
    ``tier`` (or none), distilled from ``question_id`` (or written by hand)."""

    version: str
    name: str
    day: str
    seq: int
    parent: str | None
    tier: str | None
    question_id: str | None
    spec: SuiteSpec
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "spec": self.spec.to_dict()}


@dataclass(frozen=True)
class CheckResult:
    """One check of a suite on a run: the run's ``value`` (None when it has no such number;
    ``why`` says so) against the check's ``threshold``."""

    check: str  # "metric op threshold"
    kind: str
    metric: str
    op: str
    threshold: float
    value: float | None
    passed: bool
    why: str = ""

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        if not self.why:
            del out["why"]
        return out


@dataclass(frozen=True)
class SuiteCheck:
    """A recorded check of a run against a suite version (the newest of a pair counts)."""

    id: int
    suite_version: str
    run_id: str
    passed: bool
    results: tuple[CheckResult, ...]
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "results": [r.to_dict() for r in self.results]}


def _suite(row: Mapping[str, Any]) -> SuiteVersion:
    return SuiteVersion(version=row["version"], name=row["name"], day=row["day"],
                        seq=int(row["seq"]), parent=row["parent"], tier=row["tier"],
                        question_id=row["question_id"], spec=spec_of(json.loads(row["spec"])),
                        created_at=float(row["created_at"]))


def _result(data: Mapping[str, Any]) -> CheckResult:
    """A recorded check result (one recorded before results named their check and kind gets
    them from its metric, op and threshold)."""
    threshold = float(data["threshold"])
    return CheckResult(
        check=str(data.get("check") or f"{data['metric']} {data['op']} {threshold:.6g}"),
        kind=str(data.get("kind") or ""), metric=str(data["metric"]), op=str(data["op"]),
        threshold=threshold, value=data.get("value"), passed=bool(data["passed"]),
        why=str(data.get("why") or ""))


def _check_record(row: Mapping[str, Any]) -> SuiteCheck:
    results = tuple(_result(r) for r in json.loads(row["results"]))
    return SuiteCheck(id=int(row["id"]), suite_version=row["suite_version"],
                      run_id=row["run_id"], passed=bool(row["passed"]), results=results,
                      created_at=float(row["created_at"]))


class Suites:
    """Statements on ``suites`` and ``suite_checks``. A spec is never updated."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, *, name: str, day: str, parent: str | None, tier: str | None,
               question_id: str | None, spec: SuiteSpec) -> str:
        """Insert a new version of suite ``name`` dated ``day`` (``.2`` for a second that day)."""
        with self.db.transaction():
            last = int(self.db.scalar("SELECT COALESCE(MAX(seq), 0) FROM suites"
                                      " WHERE name = ? AND day = ?", (name, day)) or 0)
            version = dated_version(name, day, self.db.insert_numbered(
                "INSERT INTO suites (version, name, day, seq, parent, tier, question_id, spec,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (version) DO NOTHING",
                lambda seq: (dated_version(name, day, seq), name, day, seq, parent, tier,
                             question_id, json.dumps(spec.to_dict(), sort_keys=True, default=str),
                             time.time()),
                last + 1))
        return version

    def get(self, version: str) -> SuiteVersion:
        row = self.db.query_one("SELECT * FROM suites WHERE version = ?", (version,))
        if row is None:
            raise NotFoundError(f"no suite {version!r}: `stepstone suite list` shows them")
        return _suite(row)

    def current(self, name: str) -> SuiteVersion | None:
        row = self.db.query_one("SELECT * FROM suites WHERE name = ?"
                                " ORDER BY day DESC, seq DESC LIMIT 1", (name,))
        return None if row is None else _suite(row)

    def list(self, name: str | None = None) -> builtins.list[SuiteVersion]:
        sql = "SELECT * FROM suites"
        params: tuple[Any, ...] = ()
        if name is not None:
            sql += " WHERE name = ?"
            params = (name,)
        return [_suite(r) for r in self.db.query(sql + " ORDER BY name, day, seq", params)]

    def names(self) -> builtins.list[str]:
        return [r["name"] for r in self.db.query("SELECT DISTINCT name FROM suites ORDER BY name")]

    def record_check(self, suite_version: str, run_id: str, passed: bool,
                     results: Sequence[CheckResult]) -> int:
        with self.db.transaction():
            number = self.db.scalar(
                "INSERT INTO suite_checks (suite_version, run_id, passed, results, created_at)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (suite_version, run_id, int(passed),
                 json.dumps([r.to_dict() for r in results], default=str), time.time()),
            )
        return int(number)

    def checks(self, *, run_id: str | None = None,
               suite_version: str | None = None) -> builtins.list[SuiteCheck]:
        """Checks, oldest first (the newest of a run and suite version is the one that counts)."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("run_id", run_id), ("suite_version", suite_version)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT * FROM suite_checks"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_check_record(r) for r in self.db.query(sql + " ORDER BY id", params)]
