"""What the method says about runs: which need attention, how a run is abandoned, and
which planned runs are a baseline's own (what counts as finished:
:mod:`stepstone.method.schedule`).

A run that crashed, failed or was killed stays on top of ``stepstone status``
until it is resumed to completion or abandoned with a written reason.
"""

from __future__ import annotations

import time

from stepstone.errors import MethodError, UsageError
from stepstone.method.result_page import record_run_result
from stepstone.method.schedule import schedule_incomplete
from stepstone.store.lab import Lab
from stepstone.store.plans import PlanRecord
from stepstone.store.runs import RunRecord

NEEDS_ATTENTION = ("crashed", "failed", "killed")
CANCELLED = "cancelled: "
"""How the reason of a run stopped by ``stepstone cancel`` starts: the user stopped it on
purpose, so it does not need their attention."""


def planned_kind(plan: PlanRecord) -> str:
    """The kind of a planned run: a ladder against a baseline that answers no question and
    tests no feature is that baseline's own reference ladder, so its runs are the version's
    reference runs (kind ``baseline``, found by ``baseline noise``, ``gain`` and ``decide``);
    other ladder runs are ``rung``s, and sweep runs ``adhoc``."""
    if plan.kind != "ladder":
        return "adhoc"
    own = plan.baseline and not plan.question_id and not (plan.options or {}).get("feature_keys")
    return "baseline" if own else "rung"


def attention(lab: Lab) -> list[RunRecord]:
    """Runs that stopped without finishing and were not abandoned (nor cancelled on purpose),
    oldest first; also runs of a question that finished before their learning-rate schedule
    did."""
    lab.runs.reap_crashed()
    runs = [r for r in lab.runs.list(status=NEEDS_ATTENTION, details=False)
            if not (r.status == "killed" and (r.reason or "").startswith(CANCELLED))]
    for run in lab.runs.list(status="finished"):
        if run.question_id and run.kind != "smoke":
            why = schedule_incomplete(lab, run)
            if why:
                run.reason = f"not a finished result: {why}"
                runs.append(run)
    return sorted(runs, key=lambda r: r.created_at)


def abandon(lab: Lab, ref: str, reason: str) -> RunRecord:
    """Close an unfinished run with a reason; a finished run cannot be abandoned (unless its
    schedule was cut short). The notebook gets a result page."""
    if not reason or not reason.strip():
        raise UsageError("abandoning a run needs a reason: --reason 'why it stops here'")
    lab.runs.reap_crashed()
    record = lab.runs.get(ref)
    if record.status == "finished" and not schedule_incomplete(lab, record):
        raise MethodError(f"run {record.id} finished: there is nothing to abandon")
    if record.status == "abandoned":
        raise MethodError(f"run {record.id} is already abandoned ({record.reason})")
    if record.status == "running":
        raise MethodError(
            f"run {record.id} is still running (pid {record.pid} on {record.host}): "
            "stop it first, then abandon it"
        )
    lab.runs.update(
        record.id,
        status="abandoned",
        reason=reason.strip(),
        ended_at=record.ended_at or time.time(),
    )
    record_run_result(lab, record.id)
    return lab.runs.get(record.id)
