"""Research questions: text, metrics, decision rule, time box, status and answer."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from stepstone.errors import NotFoundError, UsageError
from stepstone.store.db import Database

_FIELDS = ("status", "answer", "proposed", "overridden", "conclusion", "reason", "feature_keys",
           "feature_delta", "started_at", "answered_at", "eval_fingerprint", "eval_pinned_by")
_JSON = ("metrics", "feature_keys", "feature_delta")


@dataclass(frozen=True)
class Question:
    """One question as stored (its metrics and recorded feature change parsed)."""

    id: str
    text: str
    idea_id: str | None
    metrics: list[str]
    rule: str
    timebox_hours: float | None
    baseline: str | None
    status: str
    answer: str | None
    proposed: str | None
    overridden: int
    conclusion: str | None
    reason: str | None
    feature_keys: list[str] | None
    feature_delta: dict[str, Any] | None
    created_at: float
    started_at: float | None
    answered_at: float | None
    confirm: int
    confirms: str | None
    eval_fingerprint: str | None
    eval_pinned_by: str | None
    budget_flops: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _question(row: Mapping[str, Any]) -> Question:
    data = dict(row)
    for key in _JSON:
        if data[key] is not None:
            data[key] = json.loads(data[key])
    return Question(**data)


class Questions:
    """Statements on ``questions``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, *, text: str, idea_id: str | None, metrics: list[str], rule: str,
               timebox_hours: float | None, baseline: str | None, confirm: bool = False,
               confirms: str | None = None, budget_flops: float | None = None) -> str:
        with self.db.transaction():
            count = int(self.db.scalar("SELECT COUNT(*) FROM questions") or 0)
            number = self.db.insert_numbered(
                "INSERT INTO questions (id, text, idea_id, metrics, rule, timebox_hours, baseline,"
                " status, confirm, confirms, budget_flops, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                lambda n: (f"q{n}", text, idea_id, json.dumps(metrics), rule, timebox_hours,
                           baseline, int(confirm), confirms, budget_flops, time.time()),
                count + 1)
        return f"q{number}"

    def update(self, qid: str, **fields: Any) -> None:
        unknown = set(fields) - set(_FIELDS)
        if unknown:
            raise UsageError(f"unknown question fields: {', '.join(sorted(unknown))}")
        values = [json.dumps(v) if k in _JSON and v is not None else v for k, v in fields.items()]
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.db.transaction():
            self.db.execute(f"UPDATE questions SET {sets} WHERE id = ?", [*values, qid])

    def get(self, qid: str) -> Question:
        row = self.db.query_one("SELECT * FROM questions WHERE id = ?", (qid,))
        if row is None:
            raise NotFoundError(f"no question {qid!r}: `stepstone question list` shows them")
        return _question(row)

    def confirming(self, qid: str) -> Question | None:
        """The newest question that confirms ``qid`` on fresh seeds (None: none asked)."""
        row = self.db.query_one("SELECT * FROM questions WHERE confirms = ?"
                                " ORDER BY created_at DESC LIMIT 1", (qid,))
        return None if row is None else _question(row)

    def list(self, status: str | None = None) -> list[Question]:
        sql = "SELECT * FROM questions"
        params: tuple[Any, ...] = ()
        if status is not None:
            sql += " WHERE status = ?"
            params = (status,)
        return [_question(r) for r in self.db.query(sql + " ORDER BY created_at", params)]
