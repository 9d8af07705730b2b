"""The method's part of ``stepstone status``: time boxes run out, baselines that regressed,
the day's plan waiting for its review, runs measured with another evaluator than their
question's, the health monitors' alerts of the last day, runs that fail their tier's
suites."""

from __future__ import annotations

import time
from typing import Any

from stepstone.display import span
from stepstone.method import baselines as baseline_rules
from stepstone.method import evaluator
from stepstone.method import notebook as notebook_rules
from stepstone.method import questions as question_rules
from stepstone.method import suites as suite_rules
from stepstone.store.lab import Lab

ALERTS_SHOWN_HOURS = 24.0
"""``status`` shows the health alerts of this many hours."""


def method_status(lab: Lab, now: float | None = None) -> dict[str, Any]:
    """What the method asks of you now."""
    now = time.time() if now is None else now
    return {
        "overdue_questions": [
            {"id": o.question.id, "text": o.question.text, "status": o.question.status,
             "timebox_hours": o.question.timebox_hours, "over_hours": o.over_hours}
            for o in question_rules.overdue(lab)
        ],
        "regressed_baselines": baseline_rules.flagged(lab),
        "pending_review": notebook_rules.pending_review(lab),
        "evaluator_differs": [flag for q in lab.questions.list() if q.status in ("open",
                                                                                "running")
                              for flag in evaluator.flagged(lab, q.id)],
        "alerts": [a.to_dict() for a in lab.alerts.since(now - ALERTS_SHOWN_HOURS * 3600)],
        "failing_suites": suite_rules.failing(lab),
    }


def status_lines(status: dict[str, Any]) -> list[str]:
    """What the method asks now, as the lines ``stepstone status`` prints (the CLI prints
    them, user text in them shown safely)."""
    lines = [f"time box run out: {q['id']} ({q['status']}, {span(q['timebox_hours'])} box, "
             f"{span(q['over_hours'])} over): {q['text']}  — decide it or abandon it"
             for q in status["overdue_questions"]]
    lines += [f"baseline {b.version} regressed: {b.check.text}"
              for b in status["regressed_baselines"]]
    lines += [f"alert on run {alert['run_id']} ({alert['detector']}): {alert['message']}"
              + (f" — {alert['action']}" if alert["action"] else "")
              for alert in status["alerts"]]
    lines += [f"run {flag['run_id']} of {flag['question_id']}: {flag['reason']}: "
              "decide leaves it out" for flag in status["evaluator_differs"]]
    if status["pending_review"]:
        lines.append(status["pending_review"].prompt)
    lines += [f"run {fail.run_id} fails suite {fail.suite}: " + "; ".join(fail.failed)
              for fail in status["failing_suites"]]
    return lines
