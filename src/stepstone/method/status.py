"""The method's part of ``stepstone status``: time boxes run out, baselines that regressed,
the day's plan waiting for its review, runs measured with another evaluator than their
question's, the health monitors' alerts of the last day."""

from __future__ import annotations

import time
from typing import Any

import click

from stepstone.display import span, terminal_safe
from stepstone.method import baselines as baseline_rules
from stepstone.method import evaluator
from stepstone.method import notebook as notebook_rules
from stepstone.method import questions as question_rules
from stepstone.store.lab import Lab

ALERTS_SHOWN_HOURS = 24.0
"""``status`` shows the health alerts of this many hours."""


def method_status(lab: Lab, now: float | None = None) -> dict[str, Any]:
    """What the method asks of you now."""
    now = time.time() if now is None else now
    return {
        "overdue_questions": [
            {"id": q["id"], "text": q["text"], "status": q["status"],
             "timebox_hours": q["timebox_hours"], "over_hours": q["over_hours"]}
            for q in question_rules.overdue(lab)
        ],
        "regressed_baselines": baseline_rules.flagged(lab),
        "pending_review": notebook_rules.pending_review(lab),
        "evaluator_differs": [flag for q in lab.questions.list() if q["status"] in ("open",
                                                                                  "running")
                              for flag in evaluator.flagged(lab, q["id"])],
        "alerts": [a.to_dict() for a in lab.alerts.since(now - ALERTS_SHOWN_HOURS * 3600)],
    }


def print_method_status(status: dict[str, Any]) -> None:
    """Print what the method asks now; user text in it (a question, a reason) is shown
    safely (:func:`stepstone.display.terminal_safe`)."""
    for q in status["overdue_questions"]:
        _echo(f"time box run out: {q['id']} ({q['status']}, {span(q['timebox_hours'])} box, "
              f"{span(q['over_hours'])} over): {q['text']}  — decide it or abandon it")
    for b in status["regressed_baselines"]:
        _echo(f"baseline {b['version']} regressed: {b['text']}")
    for alert in status["alerts"]:
        _echo(f"alert on run {alert['run_id']} ({alert['detector']}): {alert['message']}"
                   + (f" — {alert['action']}" if alert["action"] else ""))
    for flag in status["evaluator_differs"]:
        _echo(f"run {flag['run_id']} of {flag['question_id']}: {flag['reason']}: "
                   "decide leaves it out")
    if status["pending_review"]:
        _echo(status["pending_review"]["prompt"])


def _echo(text: str) -> None:
    click.echo(terminal_safe(text))
