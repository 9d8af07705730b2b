"""Held-out evaluation with a budget of looks per question.

A run may log held-out results under :data:`PREFIX` (``heldout/loss``): an evaluation on data
that the loop of tries and decisions must not tune against. The agent's view of a run (the
digest) leaves them out; a question asked with ``--holdout-looks N`` may read them N times
(:func:`look`), each look a notebook page with the numbers it showed. The notebook is the
ledger: the budget is the first budget page of the question, the looks are its look pages,
and neither can be edited or deleted, so a spent look stays spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stepstone.configs import flatten
from stepstone.errors import MethodError, UsageError
from stepstone.method import notebook
from stepstone.store.lab import Lab
from stepstone.store.notebook import Page
from stepstone.store.runs import numeric

PREFIX = "heldout/"


@dataclass(frozen=True)
class Look:
    """One spent look of a question (number ``look`` of its ``budget``, ``left`` to go): the
    held-out results it showed (run id → key → value) and the notebook page recording it."""

    question: str
    look: int
    budget: int
    left: int
    results: dict[str, dict[str, float]]
    page: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def is_heldout(key: str) -> bool:
    """Whether a metric or summary key holds a held-out result."""
    return key.startswith(PREFIX)


def budget(lab: Lab, question_id: str) -> int | None:
    """The question's budget of looks (None: it has none)."""
    for page in lab.notebook.pages(question_id=question_id):
        if "holdout_budget" in page.data:
            return int(page.data["holdout_budget"])
    return None


def looks(lab: Lab, question_id: str) -> list[Page]:
    """The looks the question has taken, oldest first."""
    return [p for p in lab.notebook.pages(question_id=question_id)
            if "holdout_look" in p.data]


def set_budget(lab: Lab, question_id: str, n: int) -> Page:
    """Give the question its budget of looks, once (a notebook page)."""
    if n < 1:
        raise UsageError(f"--holdout-looks is a number of looks, 1 or more, not {n}")
    if budget(lab, question_id) is not None:
        raise MethodError(f"question {question_id} has its held-out budget already")
    return notebook.write(lab, "note", f"Held-out budget of {question_id}: {n} looks",
                          f"The held-out results ({PREFIX}*) of {question_id}'s runs may be "
                          f"read {n} times; each look is a page of this notebook.",
                          question_id=question_id, data={"holdout_budget": n})


def look(lab: Lab, question_id: str) -> Look:
    """Spend one look: the held-out results of the question's finished runs, recorded as a
    notebook page; refused when the question has no budget or has spent it."""
    lab.questions.get(question_id)
    allowed = budget(lab, question_id)
    if allowed is None:
        raise MethodError(f"question {question_id} has no held-out budget: ask it with "
                          "--holdout-looks N to read held-out results")
    taken = len(looks(lab, question_id))
    if taken >= allowed:
        raise MethodError(f"question {question_id} has spent its {allowed} held-out looks: "
                          "decide on what you have, or ask a new question")
    results: dict[str, dict[str, float]] = {}
    for run in lab.runs.list(question_id=question_id, status="finished"):
        found = {k: n for k, v in flatten(run.summary, strict=False).items()
                 if is_heldout(k) and (n := numeric(v)) is not None}
        if found:
            results[run.id] = found
    number = taken + 1
    lines = [f"Held-out look {number} of {allowed} for {question_id}.", ""]
    lines += [f"- run `{run_id}`: " + ", ".join(f"{k} = {v:.6g}" for k, v in sorted(vals.items()))
              for run_id, vals in results.items()] or ["- no finished run has held-out results"]
    page = notebook.write(lab, "note", f"Held-out look {number} of {allowed} for {question_id}",
                          "\n".join(lines), question_id=question_id,
                          data={"holdout_look": number, "results": results})
    return Look(question_id, number, allowed, allowed - number, results, page.number)
