"""A memory of what failed: earlier ideas and questions like a new one, and the dead ends.

When an idea or a question is added, :func:`similar` finds the earlier ones whose words it
shares (the store's full-text search, no model) with what became of them: an idea's status
and the reason of its last move, the answers of the questions that tested it; a question's
answer and conclusion. :func:`dead` lists the dropped ideas and the questions answered "no",
with their reasons, so that nobody retries a dead end without knowing it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from stepstone.errors import UsageError
from stepstone.store.lab import Lab
from stepstone.store.questions import Question

SIMILAR = 5
"""How many earlier ideas and questions an addition recalls."""


@dataclass(frozen=True)
class Recalled:
    """An earlier idea or question, and what became of it."""

    kind: str  # "idea" | "question"
    id: str
    text: str
    status: str
    verdict: str  # an idea's status, a question's answer (or its status while unanswered)
    reason: str | None  # an idea's last move, a question's conclusion or abandonment
    tested_by: tuple[str, ...] = ()  # for an idea: "q3 answered no: ..."

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tested_by"] = list(self.tested_by)
        return out


def line(entry: Recalled) -> str:
    """One line for a recalled idea or question."""
    why = f": {entry.reason}" if entry.reason else ""
    tested = "".join(f"; {t}" for t in entry.tested_by)
    return f"{entry.kind} {entry.id} ({entry.verdict}) {entry.text}{why}{tested}"


def _question_line(q: Question) -> str:
    said = q.conclusion or q.reason
    return f"{q.id} {q.answer or q.status}" + (f": {said}" if said else "")


def _idea(lab: Lab, idea_id: str, questions: list[Question]) -> Recalled:
    idea = lab.ideas.get(idea_id)
    tested = tuple(_question_line(q) for q in questions if q.idea_id == idea_id)
    return Recalled("idea", idea.id, idea.title, idea.status, idea.status, idea.reason, tested)


def _question(q: Question) -> Recalled:
    return Recalled("question", q.id, q.text, q.status, q.answer or q.status,
                    q.conclusion or q.reason)


def similar(lab: Lab, text: str, *, exclude: tuple[str, str] | None = None,
            limit: int = SIMILAR) -> list[Recalled]:
    """The earlier ideas and questions most like ``text``, best first (``exclude``: the
    ``(kind, id)`` just added)."""
    hits = [h for h in lab.recall.search(text, limit + 1) if (h.kind, h.ref) != exclude]
    questions = lab.questions.list()
    by_id = {q.id: q for q in questions}
    return [_idea(lab, h.ref, questions) if h.kind == "idea" else _question(by_id[h.ref])
            for h in hits[:limit]]


def dead(lab: Lab, *, status: str | None = None, include_closed: bool = False
         ) -> list[Recalled]:
    """Dropped ideas and questions answered "no", oldest first, each with its reason (the
    filters of the ranked list do not apply: given, they are refused)."""
    if status is not None or include_closed:
        raise UsageError("--dead lists the dead ends alone: leave out --status and --all")
    questions = lab.questions.list()
    out = [_idea(lab, idea.id, questions) for idea in lab.ideas.list("dropped")]
    out += [_question(q) for q in questions if q.answer == "no"]
    return out
