"""What the method says about runs: which need attention, what counts as finished, and
how a run is abandoned.

A run that crashed, failed or was killed stays on top of ``stepstone status``
until it is resumed to completion or abandoned with a written reason. A run that
stopped before its learning-rate schedule ended is not a finished result, even
when its process exited cleanly.
"""

from __future__ import annotations

import time

from stepstone.errors import MethodError, UsageError
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord, flatten

NEEDS_ATTENTION = ("crashed", "failed", "killed")
STEP_KEYS = ("total_steps", "max_steps", "steps", "num_steps", "train_steps")
LR_KEYS = ("lr", "learning_rate")
LR_DECAYED = 0.5
"""A logged lr that ends above this fraction of its peak after decaying had not finished."""


def planned_steps(run: RunRecord) -> int | None:
    """The schedule's length from config keys like ``steps``/``max_steps``/``total_steps``."""
    flat = flatten(run.config)
    for name in STEP_KEYS:
        for key, value in flat.items():
            if key.rsplit(".", 1)[-1] == name and isinstance(value, int) and value > 0:
                return int(value)
    return None


def schedule_incomplete(lab: Lab, run: RunRecord) -> str | None:
    """Why ``run`` stopped before its learning-rate schedule ended, or None."""
    if run.kind == "smoke" or run.config.get("smoke"):
        return None
    total = planned_steps(run)
    if total is not None and run.last_step is not None and run.last_step + 1 < total:
        return (f"it stopped at step {run.last_step} of {total}: its learning-rate schedule "
                "had not completed")
    if total is None:
        keys = [k for k in lab.metrics.keys(run.id) if k.rsplit("/", 1)[-1].rsplit(".", 1)[-1]
                in LR_KEYS]
        for key, series in lab.metrics.history(run.id, keys).items():
            if len(series.values) < 3:
                continue
            peak, last = max(series.values), series.values[-1]
            decaying = series.values[-1] < series.values[-2] or last < peak
            if decaying and peak > 0 and last > LR_DECAYED * peak:
                return (f"its logged {key} ended at {last:.3g}, not decayed from its peak "
                        f"{peak:.3g}: its learning-rate schedule had not completed")
    return None


def attention(lab: Lab) -> list[RunRecord]:
    """Runs that stopped without finishing and were not abandoned, oldest first; also runs
    of a question that finished before their learning-rate schedule did."""
    lab.runs.reap_crashed()
    runs = lab.runs.list(status=NEEDS_ATTENTION, details=False)
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
    from stepstone.method.notebook import record_run_result

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
