"""After `stepstone cancel`: runs that never started read cancelled (not queued), a queued state
is not mistaken for a run's status, and a run cancelled on purpose does not need attention."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from _cli import cli
from stepstone.launch.plan import plan_ladder
from stepstone.launch.runner import cancel_plan, plan_state, save_plan
from stepstone.method.runs import attention
from stepstone.store import open_lab


def test_unstarted_runs_of_a_cancelled_plan_read_cancelled(lab: Path) -> None:
    plan = plan_ladder({"width": 1}, [sys.executable, "t.py"],
                       rungs=[["width=2"], ["width=3"], ["width=4"]], name="p", project="t")
    with open_lab(lab) as opened:
        save_plan(opened, plan)
        opened.plans.add_attempt(plan.id, 0, "queued01", "local")  # submitted, not started
        assert [s.status for s in plan_state(opened, plan.id)] == ["queued", "pending",
                                                                    "pending"]
        assert cancel_plan(opened, plan.id, "wrong lr") == []
        assert [s.status for s in plan_state(opened, plan.id)] == ["cancelled"] * 3


def test_a_plan_records_when_it_was_cancelled_and_a_second_cancel_keeps_that(lab: Path) -> None:
    """The time decides which runs the cancel stopped (a run that ended before keeps its own
    end): cancelling again changes the reason, not when the plan was cancelled."""
    plan = plan_ladder({"width": 1}, [sys.executable, "t.py"], rungs=[["width=2"]], name="p",
                       project="t")
    with open_lab(lab) as opened:
        save_plan(opened, plan)
        assert opened.plans.get(plan.id).cancelled_at is None
        before = time.time()
        cancel_plan(opened, plan.id, "wrong lr")
        first = opened.plans.get(plan.id)
        assert first.cancelled_at is not None and first.cancelled_at >= before
        cancel_plan(opened, plan.id, "wrong lr, and the data")
        again = opened.plans.get(plan.id)
        assert (again.cancelled_at, again.reason) == (first.cancelled_at, "wrong lr, and the data")


def test_a_planned_runs_state_is_not_a_run_status(lab: Path) -> None:
    code, _, err = cli(lab, "runs", "--status", "queued")
    assert code == 2 and "queued is the state of a planned run" in err
    assert "stepstone plans PLAN" in err
    code, _, err = cli(lab, "runs", "--status", "bogus")
    assert code == 2 and "--status is one of" in err
    assert cli(lab, "runs", "--status", "killed")[0] == 0


def test_a_run_cancelled_on_purpose_does_not_need_attention(lab: Path) -> None:
    now = time.time()
    with open_lab(lab) as opened:
        for run_id, reason in (("cancel01", "cancelled: wrong lr"),
                               ("killed01", "killed by signal 9")):
            opened.runs.create({"id": run_id, "name": run_id, "project": "t",
                                "status": "killed", "reason": reason, "created_at": now,
                                "ended_at": now + 1})
        assert [r.id for r in attention(opened)] == ["killed01"]
    code, out, _ = cli(lab, "status")
    assert code == 0 and "killed01" in out and "cancel01" not in out
