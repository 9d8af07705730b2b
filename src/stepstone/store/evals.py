"""Per-example evaluation records, the input of stratified evaluation."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stepstone.errors import UsageError
from stepstone.store.db import Database

RESERVED = ("id", "score", "correct", "prediction")


Row = tuple[str, float | None, int | None, str | None, str]


@dataclass(frozen=True)
class EvalRecord:
    """One example's evaluation as stored: its ``id`` in the eval set ``name`` at ``step``,
    its ``score`` or pass/fail (``correct``), the model's ``prediction``, and the other
    ``fields`` it was logged with (the buckets stratified evaluation groups it by)."""

    id: str
    name: str
    step: int | None
    score: float | None
    correct: bool | None
    prediction: str | None
    fields: dict[str, Any]

    def value(self, key: str) -> Any:
        """The value of ``key`` as the record was logged: a field, or ``id``, ``name``,
        ``step``, ``score``, ``correct``, ``prediction`` (None when it has none)."""
        return self.to_dict().get(key)

    def to_dict(self) -> dict[str, Any]:
        """The record as it was logged, flat (what analysis and exports read): its fields,
        ``id``, ``name``, ``step``, and ``score``, ``correct``, ``prediction`` when set."""
        out = dict(self.fields)
        out.update(id=self.id, name=self.name, step=self.step)
        for key in ("score", "correct", "prediction"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


def normalize_record(record: Mapping[str, Any], index: int) -> Row:
    """Split one record into (id, score, correct, prediction, bucket fields as JSON).

    A pass/fail record keeps no score: it stays a proportion (its interval is Wilson's),
    not a score of 0.0 or 1.0 that analysis would take for a mean with a t interval."""
    if not isinstance(record, Mapping):
        raise UsageError(f"evaluation record {index} is a {type(record).__name__}, not a dict")
    example_id = record.get("id", index)
    score = record.get("score")
    correct = record.get("correct")
    if score is None and correct is None:
        raise UsageError(
            f"evaluation record {index} has neither 'score' nor 'correct': give one of them"
        )
    try:
        score_f = None if score is None else float(score)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"evaluation record {index}: score {score!r} is not a number") from exc
    prediction = record.get("prediction")
    fields = {k: v for k, v in record.items() if k not in RESERVED}
    return (
        str(example_id),
        score_f,
        None if correct is None else int(bool(correct)),
        None if prediction is None else str(prediction),
        json.dumps(fields, default=str, sort_keys=True),
    )


class Evals:
    """Statements on ``eval_records``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def write(
        self, run_id: str, name: str, step: int | None, rows: Iterable[tuple[Any, ...]],
        created_at: float | None = None,
    ) -> None:
        """Insert normalized rows inside the caller's transaction (``created_at``: now, or the
        time the SDK gathered them, the same on every try of a flush)."""
        now = time.time() if created_at is None else created_at
        self.db.executemany(
            "INSERT INTO eval_records (run_id, name, step, example_id, score, correct, prediction,"
            " fields, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, name, step, *r, now) for r in rows],
        )

    def records(self, run_id: str, name: str | None = None) -> list[EvalRecord]:
        """The records of a run (of the eval set ``name``, if given), in the order written."""
        sql = (
            "SELECT name, step, example_id, score, correct, prediction, fields FROM eval_records"
            " WHERE run_id = ?"
        )
        params: list[Any] = [run_id]
        if name is not None:
            sql += " AND name = ?"
            params.append(name)
        return [EvalRecord(id=row["example_id"], name=row["name"], step=row["step"],
                           score=row["score"],
                           correct=None if row["correct"] is None else bool(row["correct"]),
                           prediction=row["prediction"], fields=json.loads(row["fields"]))
                for row in self.db.query(sql + " ORDER BY id", params)]

    def names(self, run_id: str) -> list[str]:
        rows = self.db.query(
            "SELECT DISTINCT name FROM eval_records WHERE run_id = ? ORDER BY name", (run_id,)
        )
        return [r["name"] for r in rows]

    def counts_by_run(self) -> dict[str, int]:
        """How many evaluation records each run has (a run with none is left out)."""
        return {str(r["run_id"]): int(r["n"]) for r in self.db.query(
            "SELECT run_id, COUNT(*) AS n FROM eval_records GROUP BY run_id")}
