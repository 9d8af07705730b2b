"""The notebook: numbered, append-only pages.

This class can add and read pages, never change or remove one; the database refuses
``UPDATE``, ``DELETE``, ``REPLACE`` and a page number given by hand on ``notebook_pages``
as well (see schema_method).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from stepstone.errors import NotFoundError
from stepstone.store.db import Database


@dataclass(frozen=True)
class Page:
    """One notebook page as stored (its data parsed)."""

    number: int
    kind: str
    title: str
    body: str
    question_id: str | None
    run_id: str | None
    corrects: int | None
    review_of: int | None
    data: dict[str, Any]
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _page(row: Mapping[str, Any]) -> Page:
    return Page(**{**row, "data": json.loads(row["data"])})


class Notebook:
    """Statements on ``notebook_pages``: insert and select only."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def append(self, *, kind: str, title: str, body: str, question_id: str | None = None,
               run_id: str | None = None, corrects: int | None = None,
               review_of: int | None = None, data: dict[str, Any] | None = None) -> int:
        """Add a page; return its number (this insert's own, whoever else writes at once)."""
        with self.db.transaction():
            number = self.db.scalar(
                "INSERT INTO notebook_pages (kind, title, body, question_id, run_id, corrects,"
                " review_of, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " RETURNING number",
                (kind, title, body, question_id, run_id, corrects, review_of,
                 json.dumps(data or {}, default=str, sort_keys=True), time.time()),
            )
        return int(number)

    def get(self, number: int) -> Page:
        row = self.db.query_one("SELECT * FROM notebook_pages WHERE number = ?", (number,))
        if row is None:
            raise NotFoundError(f"no notebook page {number}: `stepstone notebook` lists them")
        return _page(row)

    def pages(self, *, question_id: str | None = None, kind: str | None = None,
              run_id: str | None = None, mentioning: str | None = None) -> list[Page]:
        """Pages in order, filtered by exact columns; ``mentioning``: pages written for that run
        or whose title, body or data contain the text (the caller checks whole words)."""
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("question_id", question_id), ("kind", kind), ("run_id", run_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if mentioning is not None:
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", mentioning) + "%"
            where.append("(run_id = ? OR title LIKE ? ESCAPE '\\' OR body LIKE ? ESCAPE '\\' "
                         "OR data LIKE ? ESCAPE '\\')")
            params.extend([mentioning, pattern, pattern, pattern])
        sql = "SELECT * FROM notebook_pages"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_page(r) for r in self.db.query(sql + " ORDER BY number", params)]
