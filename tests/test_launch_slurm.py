"""A real ladder as a job array through submitit's local executor (the Slurm code path),
every rung recorded with config, code snapshot and metrics; a failed rung relaunched;
cancelling the plan stops its running job and leaves no training process behind, and leaves
alone a rung that finished while its process is still exiting (not signalled: it keeps its
end, its whole output log and its result page)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from _launch_helpers import (
    LINGERING_END,
    check_a_cancel_leaves_a_finished_rung_alone,
)
from stepstone.launch.executors import parse_time, slurm_executor
from stepstone.launch.plan import plan_ladder
from stepstone.launch.runner import launch_plan, plan_state
from stepstone.store import open_lab

pytest.importorskip("submitit")

TRAIN = """\
import os, time
import stepstone

stepstone.init()
width = stepstone.config["model"]["width"]
for step in range(3):
    stepstone.log({"loss": 1.0 / (width * (step + 1))}, step=step)
if width == 3 and os.path.exists("fail-once"):
    raise SystemExit(3)
hang = stepstone.config.get("hang")
if hang and width == hang["width"]:
    with open(hang["file"] + ".pid", "w") as fh:
        fh.write(str(os.getpid()))
    while os.path.exists(hang["file"]):
        time.sleep(0.1)
""" + LINGERING_END


def test_slurm_local_job_array_records_every_rung(tmp_path: Path, lab: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "fail-once").write_text("")
    plan = plan_ladder({"model": {"width": 1}}, [sys.executable, "train.py"],
                       rungs=[["model.width=2"], ["model.width=3"]], cwd=str(tmp_path))
    executor = slurm_executor(tmp_path / "submitit", time_limit="5", cluster="local")
    with open_lab(lab) as opened:
        first = launch_plan(opened, plan, executor, executor_name="slurm")
        assert first.status == "incomplete"
        states = plan_state(opened, plan.id)
        assert [s.status for s in states] == ["finished", "failed"]
        assert all(a.job_id for r in opened.plans.runs(plan.id) for a in r.attempts)

        (tmp_path / "fail-once").unlink()
        again = launch_plan(opened, plan, executor, executor_name="slurm")
        assert again.status == "done" and again.launched == [1] and again.skipped == [0]
        for state, width in zip(plan_state(opened, plan.id), [2, 3], strict=True):
            rec = opened.runs.get(str(state.run_id))
            assert rec.status == "finished" and rec.config["model"]["width"] == width
            assert rec.code_snapshot
            loss = opened.metrics.history(rec.id)["loss"].values
            assert loss == pytest.approx([1 / width, 1 / (2 * width), 1 / (3 * width)])
        assert len(opened.runs.list(tag=f"plan:{plan.id}")) == 3


def test_cancel_stops_the_running_job_and_its_command(tmp_path: Path, lab: Path) -> None:
    check_a_cancel_leaves_a_finished_rung_alone(
        tmp_path, lab, TRAIN, slurm_executor(tmp_path / "submitit", time_limit="5",
                                             cluster="local"))


def test_slurm_time_limits():
    times = ("90", "1:30:00", "10:30", "2-3", None)
    assert [parse_time(t) for t in times] == [90, 90, 11, 3060, 60]
