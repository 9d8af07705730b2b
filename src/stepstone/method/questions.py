"""Research questions: a rule parsed at creation, a time box, and their statuses."""

from __future__ import annotations

import time
from typing import Any

from stepstone.errors import MethodError, UsageError
from stepstone.method import baselines as baseline_rules
from stepstone.method import evaluator, holdout, memory
from stepstone.method import ideas as idea_rules
from stepstone.method.rules import metrics_used, parse_rule, uses_gain
from stepstone.store.lab import Lab

STATUSES = ("open", "running", "answered", "abandoned")
ANSWERS = ("yes", "no", "inconclusive")


def create(lab: Lab, text: str, *, rule: str, metrics: list[str] | None = None,
           idea: str | None = None, timebox: str | None = None,
           baseline: str | None = None, confirm: bool = False,
           budget: str | None = None, holdout_looks: int | None = None) -> dict[str, Any]:
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
    row = lab.questions.get(qid)
    row["similar"] = [r.to_dict() for r in memory.similar(lab, text,
                                                          exclude=("question", qid))]
    return row


def get(lab: Lab, qid: str) -> dict[str, Any]:
    return lab.questions.get(qid)


def describe(lab: Lab, qid: str) -> dict[str, Any]:
    """A question with its runs, its notebook pages and the runs measured with another
    evaluator than the one it pinned (what ``question show`` prints)."""
    q = lab.questions.get(qid)
    q["runs"] = [{"id": r.id, "name": r.name, "status": r.status, "kind": r.kind}
                 for r in lab.runs.list(question_id=qid, details=False)]
    q["pages"] = [p["number"] for p in lab.notebook.pages(question_id=qid)]
    q["evaluator_differs"] = evaluator.flagged(lab, qid)
    return q


def start(lab: Lab, qid: str) -> None:
    """The first launch of a question's run: open → running."""
    question = lab.questions.get(qid)
    if question["status"] == "open":
        lab.questions.update(qid, status="running", started_at=time.time())
    elif question["status"] in ("answered", "abandoned"):
        raise MethodError(f"question {qid} is {question['status']}: ask a new question "
                          "for new runs")


def abandon(lab: Lab, qid: str, reason: str) -> dict[str, Any]:
    if not reason.strip():
        raise UsageError("abandoning a question needs a reason: --reason '...'")
    question = lab.questions.get(qid)
    if question["status"] in ("answered", "abandoned"):
        raise MethodError(f"question {qid} is already {question['status']}")
    lab.questions.update(qid, status="abandoned", reason=reason.strip(), answered_at=time.time())
    return lab.questions.get(qid)


def deadline(question: dict[str, Any]) -> float | None:
    hours = question.get("timebox_hours")
    if hours is None:
        return None
    return float(question.get("started_at") or question["created_at"]) + float(hours) * 3600


def hours_left(question: dict[str, Any], now: float | None = None) -> float | None:
    """Hours left in an open or running question's time box, negative once it has run out;
    None when it has no time box or is answered or abandoned (its box no longer runs)."""
    end = deadline(question)
    if end is None or question["status"] not in ("open", "running"):
        return None
    return (end - (time.time() if now is None else now)) / 3600


def hours_over(question: dict[str, Any], now: float | None = None) -> float | None:
    """How many hours a question is past its running time box (see :func:`hours_left`);
    None when it is not overdue. The one rule of "overdue" that ``status``, the dashboard
    and reports show."""
    left = hours_left(question, now)
    return -left if left is not None and left < 0 else None


def overdue(lab: Lab, now: float | None = None) -> list[dict[str, Any]]:
    """Open or running questions whose time box has run out, with ``over_hours``."""
    now = time.time() if now is None else now
    out = []
    for question in lab.questions.list():
        over = hours_over(question, now)
        if over is not None:
            question["over_hours"] = over
            out.append(question)
    return out
