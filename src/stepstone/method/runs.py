"""What the method says about runs: which need attention, and how a run is abandoned.

A run that crashed, failed or was killed stays on top of ``stepstone status``
until it is resumed to completion or abandoned with a written reason.
"""

from __future__ import annotations

import time

from stepstone.errors import MethodError, UsageError
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord

NEEDS_ATTENTION = ("crashed", "failed", "killed")


def attention(lab: Lab) -> list[RunRecord]:
    """Runs that stopped without finishing and were not abandoned, oldest first."""
    lab.runs.reap_crashed()
    runs = lab.runs.list(status=NEEDS_ATTENTION, details=False)
    return sorted(runs, key=lambda r: r.created_at)


def abandon(lab: Lab, ref: str, reason: str) -> RunRecord:
    """Close an unfinished run with a reason; a finished run cannot be abandoned."""
    if not reason or not reason.strip():
        raise UsageError("abandoning a run needs a reason: --reason 'why it stops here'")
    lab.runs.reap_crashed()
    record = lab.runs.get(ref)
    if record.status == "finished":
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
    return lab.runs.get(record.id)
