"""Research questions: a rule parsed at creation, a time box, and their statuses."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from stepstone.errors import MethodError, UsageError
from stepstone.method import baselines as baseline_rules
from stepstone.method import evaluator, holdout, memory
from stepstone.method import ideas as idea_rules
from stepstone.method.rules import metrics_used, parse_rule, uses_gain
from stepstone.store.lab import Lab
from stepstone.store.questions import Question
from stepstone.store.runs import RunRecord

STATUSES = ("open", "running", "answered", "abandoned")
ANSWERS = ("yes", "no", "inconclusive")


@dataclass(frozen=True)
class Asked:
    """A question just asked, and the earlier ideas and questions most like it."""

    question: Question
    similar: tuple[memory.Recalled, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.question.to_dict(), "similar": [r.to_dict() for r in self.similar]}


@dataclass(frozen=True)
class QuestionDetail:
    """A question with its runs, the numbers of its notebook pages and the runs measured
    with another evaluator than the one it pinned (what ``question show`` prints)."""

    question: Question
    runs: tuple[RunRecord, ...]
    pages: tuple[int, ...]
    evaluator_differs: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {**self.question.to_dict(),
                "runs": [{"id": r.id, "name": r.name, "status": r.status, "kind": r.kind}
                         for r in self.runs],
                "pages": list(self.pages), "evaluator_differs": self.evaluator_differs}


@dataclass(frozen=True)
class Overdue:
    """An open or running question whose time box (hours) has run out, and by how many hours."""

    question: Question
    timebox_hours: float
    over_hours: float


def create(lab: Lab, text: str, *, rule: str, metrics: list[str] | None = None,
           idea: str | None = None, timebox: str | None = None,
           baseline: str | None = None, confirm: bool = False,
           budget: str | None = None, holdout_looks: int | None = None) -> Asked:
    """A new open question; the rule must parse (RuleError carries the position). With
    ``confirm``, a yes must hold on fresh seeds before promotion (:mod:`.confirm`).

    ``budget``: the compute its runs may spend in all, in FLOPs (``"1e15"``); a launch
    beyond it is refused (:func:`stepstone.method.budget.check_launch`). ``similar`` holds
    the earlier ideas and questions most like it, with what became of them.
    ``holdout_looks``: how many times its held-out results may be read
    (:mod:`stepstone.method.holdout`)."""
    if not text.strip():
        raise UsageError("a question needs its text")
    tree = parse_rule(rule)
    hours = idea_rules.parse_hours(timebox, "--timebox")
    if idea is not None:
        lab.ideas.get(idea)
    if baseline is not None:
        baseline_rules.resolve(lab, baseline)
    named = list(metrics or []) or [m for m in metrics_used(tree)]
    if uses_gain(tree) and "gain" not in named:
        named.append("gain")
    flops = idea_rules.parse_flops(budget)
    if holdout_looks is not None and holdout_looks < 1:
        raise UsageError(f"--holdout-looks is a number of looks, 1 or more, not {holdout_looks}")
    qid = lab.questions.create(text=text.strip(), idea_id=idea, metrics=named, rule=str(tree),
                               timebox_hours=hours, baseline=baseline, confirm=confirm,
                               budget_flops=flops)
    idea_rules.follow(lab, idea, "picked", f"question {qid} asks it")
    if holdout_looks is not None:
        holdout.set_budget(lab, qid, holdout_looks)
    return Asked(lab.questions.get(qid),
                 tuple(memory.similar(lab, text, exclude=("question", qid))))


def describe(lab: Lab, qid: str) -> QuestionDetail:
    """A question with its runs, its notebook pages and the runs measured with another
    evaluator than the one it pinned (what ``question show`` prints)."""
    return QuestionDetail(lab.questions.get(qid),
                          tuple(lab.runs.list(question_id=qid, details=False)),
                          tuple(p.number for p in lab.notebook.pages(question_id=qid)),
                          evaluator.flagged(lab, qid))


def start(lab: Lab, qid: str) -> None:
    """The first launch of a question's run: open → running."""
    question = lab.questions.get(qid)
    if question.status == "open":
        lab.questions.update(qid, status="running", started_at=time.time())
    elif question.status in ("answered", "abandoned"):
        raise MethodError(f"question {qid} is {question.status}: ask a new question "
                          "for new runs")


def abandon(lab: Lab, qid: str, reason: str) -> Question:
    if not reason.strip():
        raise UsageError("abandoning a question needs a reason: --reason '...'")
    question = lab.questions.get(qid)
    if question.status in ("answered", "abandoned"):
        raise MethodError(f"question {qid} is already {question.status}")
    lab.questions.update(qid, status="abandoned", reason=reason.strip(), answered_at=time.time())
    return lab.questions.get(qid)


def deadline(question: Question) -> float | None:
    hours = question.timebox_hours
    if hours is None:
        return None
    return float(question.started_at or question.created_at) + float(hours) * 3600


def hours_left(question: Question, now: float | None = None) -> float | None:
    """Hours left in an open or running question's time box, negative once it has run out;
    None when it has no time box or is answered or abandoned (its box no longer runs)."""
    end = deadline(question)
    if end is None or question.status not in ("open", "running"):
        return None
    return (end - (time.time() if now is None else now)) / 3600


def hours_over(question: Question, now: float | None = None) -> float | None:
    """How many hours a question is past its running time box (see :func:`hours_left`);
    None when it is not overdue. The one rule of "overdue" that ``status``, the dashboard
    and reports show."""
    left = hours_left(question, now)
    return -left if left is not None and left < 0 else None


def overdue(lab: Lab, now: float | None = None) -> list[Overdue]:
    """Open or running questions whose time box has run out, with how many hours."""
    now = time.time() if now is None else now
    out = []
    for question in lab.questions.list():
        over = hours_over(question, now)
        if over is not None and question.timebox_hours is not None:
            out.append(Overdue(question, question.timebox_hours, over))
    return out
