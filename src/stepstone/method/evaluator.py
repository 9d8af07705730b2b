"""Evaluation integrity: a question pins the fingerprint of its evaluator.

A run says what evaluated it with a fingerprint of the evaluation code and data (the
reference tasks log ``data/eval_fingerprint`` in the summary; any run may log one of
:data:`KEYS` in its summary or config). When a question's first run with a fingerprint
finishes, the question pins it (:func:`pin`, called from the run's result page). A later run
of the question whose evaluator differs was measured with another ruler: :func:`differs` says
so, ``show``, ``status``, the dashboard and the report flag it, and ``decide`` leaves it out
with that reason. A question with no pin yet reads the pin it would take (the first finished
run's fingerprint), so the rule holds on a read-only lab too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord

if TYPE_CHECKING:  # a run's result page loads this module; most runs have no question
    from stepstone.store.questions import Question

KEYS = ("eval_fingerprint", "data/eval_fingerprint", "evaluator/fingerprint")
"""Where a run records its evaluator's fingerprint, in order (summary first, then config)."""


@dataclass(frozen=True)
class Pin:
    """The evaluator a question is measured with, and the run that set it."""

    fingerprint: str
    run_id: str
    stored: bool  # False: not written yet (the first finished run's, read from the runs)


def fingerprint(run: RunRecord) -> str | None:
    """The run's evaluator fingerprint (None when it records none)."""
    for source in (run.summary, run.config):
        for key in KEYS:
            value = source.get(key)
            if value not in (None, ""):
                return str(value)
    return None


def pinned(lab: Lab, question: Question) -> Pin | None:
    """The question's pin: stored, else the fingerprint of its first finished run that has one."""
    if question.eval_fingerprint:
        return Pin(str(question.eval_fingerprint), str(question.eval_pinned_by or ""),
                   True)
    runs = [r for r in lab.runs.list(question_id=question.id, status="finished")
            if r.kind != "smoke" and fingerprint(r) is not None]
    if not runs:
        return None
    first = min(runs, key=lambda r: (r.ended_at or r.created_at, r.created_at))
    return Pin(str(fingerprint(first)), first.id, False)


def pin(lab: Lab, run: RunRecord) -> Pin | None:
    """At a run's end: its question pins its evaluator if it has no pin yet."""
    if run.question_id is None or run.status != "finished":
        return None
    question = lab.questions.get(run.question_id)
    found = pinned(lab, question)
    if found is not None and not found.stored:
        lab.questions.update(run.question_id, eval_fingerprint=found.fingerprint,
                             eval_pinned_by=found.run_id)
    return found


def _short(value: str) -> str:
    return value[:12]


def _against(run: RunRecord, found: Pin | None) -> str | None:
    mine = fingerprint(run)
    if mine is None or found is None or found.run_id == run.id or found.fingerprint == mine:
        return None
    return (f"measured with another evaluator ({_short(mine)}, not {_short(found.fingerprint)}: "
            f"the one question {run.question_id} pinned from run {found.run_id})")


def differs(lab: Lab, run: RunRecord) -> str | None:
    """Why the run's evaluator is not its question's (None when it is, or nothing says)."""
    if run.question_id is None or fingerprint(run) is None:
        return None
    return _against(run, pinned(lab, lab.questions.get(run.question_id)))


def flagged(lab: Lab, question_id: str) -> list[dict[str, str]]:
    """The question's runs measured with another evaluator, each with the reason."""
    found = pinned(lab, lab.questions.get(question_id))
    out = []
    for run in lab.runs.list(question_id=question_id):
        why = _against(run, found)
        if why is not None:
            out.append({"run_id": run.id, "question_id": question_id, "reason": why})
    return out
