"""Full-text recall of ideas and questions: SQLite FTS5, PostgreSQL full-text search.

The index is made by migration 8 (:mod:`stepstone.store.schema_method`): an FTS5 table kept
by triggers on SQLite (Porter stemming), GIN indexes over the same text on PostgreSQL
(English stemming). A query is the words of a text, any of which may match (common English
words left out); the best matches come first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stepstone.store.db import SQLITE, Database
from stepstone.store.schema_method import IDEA_TEXT, QUESTION_TEXT

_WORD = re.compile(r"[^\W_]+")
_STOP_TEXT = """
a about after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has
have having he her here hers him his how i if in into is it its itself just me more most my no
nor not now of off on once only or other our out over own same she should so some such than
that the their them then there these they this those through to too under until up very was
we were what when where which while who whom why will with would you your help helps better
worse improve improves work works try use using
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
"""Words that say nothing about what an idea is (a question's "does ... help?")."""


@dataclass(frozen=True)
class Hit:
    """One idea or question that matches, and how well (higher is better)."""

    kind: str  # "idea" | "question"
    ref: str
    score: float


def words(text: str) -> list[str]:
    """The searchable words of ``text``: lower case, no common English words, each once."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.lower()):
        if len(word) > 1 and word not in STOP_WORDS:
            seen.setdefault(word)
    return list(seen)


class Recall:
    """Statements on the full-text index of ideas and questions."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def search(self, text: str, limit: int = 5) -> list[Hit]:
        """The ideas and questions whose text shares words with ``text``, best first."""
        found = words(text)
        if not found or limit <= 0:
            return []
        if self.db.dialect is SQLITE:
            rows = self.db.query(
                "SELECT kind, ref, -bm25(recall_fts) AS score FROM recall_fts"
                " WHERE recall_fts MATCH ? ORDER BY bm25(recall_fts) LIMIT ?",
                (" OR ".join(f'"{w}"' for w in found), limit),
            )
        else:
            query = " | ".join(found)
            rows = self.db.query(
                "SELECT kind, ref, score FROM ("
                f" SELECT 'idea' AS kind, id AS ref, ts_rank(to_tsvector('english', {IDEA_TEXT}),"
                " to_tsquery('english', ?)) AS score FROM ideas"
                f" WHERE to_tsvector('english', {IDEA_TEXT}) @@ to_tsquery('english', ?)"
                " UNION ALL"
                " SELECT 'question', id, ts_rank(to_tsvector('english',"
                f" {QUESTION_TEXT}), to_tsquery('english', ?)) FROM questions"
                f" WHERE to_tsvector('english', {QUESTION_TEXT}) @@ to_tsquery('english', ?)"
                ") AS hits ORDER BY score DESC, ref LIMIT ?",
                (query, query, query, query, limit),
            )
        return [Hit(str(r["kind"]), str(r["ref"]), float(r["score"])) for r in rows]
