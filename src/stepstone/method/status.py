"""The method's part of ``stepstone status``: time boxes run out, baselines that regressed,
the day's plan waiting for its review, runs measured with another evaluator than their
question's, the health monitors' alerts of the last day, runs that fail their tier's
suites."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from stepstone.display import jsonable, span
from stepstone.method import baselines as baseline_rules
from stepstone.method import evaluator
from stepstone.method import notebook as notebook_rules
from stepstone.method import questions as question_rules
from stepstone.method import suites as suite_rules
from stepstone.store.alerts import Alert
from stepstone.store.lab import Lab

ALERTS_SHOWN_HOURS = 24.0
"""``status`` shows the health alerts of this many hours."""


@dataclass(frozen=True)
class MethodStatus:
    """What the method asks of you now; ``to_dict`` is its ``--json`` and MCP form."""

    overdue_questions: tuple[question_rules.Overdue, ...]
    regressed_baselines: tuple[baseline_rules.FlaggedBaseline, ...]
    pending_review: notebook_rules.PendingReview | None
    evaluator_differs: tuple[dict[str, str], ...]
    alerts: tuple[Alert, ...]
    failing_suites: tuple[suite_rules.FailingRun, ...]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = jsonable({
            "overdue_questions": [
                {"id": o.question.id, "text": o.question.text, "status": o.question.status,
                 "timebox_hours": o.timebox_hours, "over_hours": o.over_hours}
                for o in self.overdue_questions],
            "regressed_baselines": self.regressed_baselines,
            "pending_review": self.pending_review,
            "evaluator_differs": self.evaluator_differs,
            "alerts": self.alerts,
            "failing_suites": self.failing_suites,
        })
        return out


def method_status(lab: Lab, now: float | None = None) -> MethodStatus:
    """What the method asks of you now."""
    now = time.time() if now is None else now
    return MethodStatus(
        overdue_questions=tuple(question_rules.overdue(lab)),
        regressed_baselines=tuple(baseline_rules.flagged(lab)),
        pending_review=notebook_rules.pending_review(lab),
        evaluator_differs=tuple(flag for q in lab.questions.list()
                                if q.status in ("open", "running")
                                for flag in evaluator.flagged(lab, q.id)),
        alerts=tuple(lab.alerts.since(now - ALERTS_SHOWN_HOURS * 3600)),
        failing_suites=tuple(suite_rules.failing(lab)),
    )


def status_lines(status: MethodStatus) -> list[str]:
    """What the method asks now, as the lines ``stepstone status`` prints (the CLI prints
    them, user text in them shown safely)."""
    lines = [f"time box run out: {o.question.id} ({o.question.status}, "
             f"{span(o.timebox_hours)} box, {span(o.over_hours)} over): "
             f"{o.question.text}  — decide it or abandon it"
             for o in status.overdue_questions]
    lines += [f"baseline {b.version} regressed: {b.check.text}"
              for b in status.regressed_baselines]
    lines += [f"alert on run {alert.run_id} ({alert.detector}): {alert.message}"
              + (f" — {alert.action}" if alert.action else "")
              for alert in status.alerts]
    lines += [f"run {flag['run_id']} of {flag['question_id']}: {flag['reason']}: "
              "decide leaves it out" for flag in status.evaluator_differs]
    if status.pending_review is not None:
        lines.append(status.pending_review.prompt)
    lines += [f"run {fail.run_id} fails suite {fail.suite}: " + "; ".join(fail.failed)
              for fail in status.failing_suites]
    return lines
