"""A real ladder as a job array through submitit's local executor (the Slurm code path),
every rung recorded with config, code snapshot and metrics; a failed rung relaunched;
cancelling the plan stops its running job and leaves no training process behind, and leaves
alone a rung that finished while its process is still exiting (not signalled: it keeps its
end, its whole output log and its result page)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from _cli import cli
from _launch_helpers import CancelPasses, gone, in_thread, wait_for
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
stepstone.summary["final_loss"] = 1.0 / (width * 3)
linger = stepstone.config.get("linger")
stepstone.finish()
if linger and width == linger["width"]:  # finished, slow to exit: signals are noted
    import signal

    def note(signum, frame):
        with open(linger["file"] + ".signals", "a") as fh:
            print(signum, file=fh)

    signal.signal(signal.SIGINT, note)
    signal.signal(signal.SIGTERM, note)
    with open(linger["file"] + ".pid", "w") as fh:
        fh.write(str(os.getpid()))
    while os.path.exists(linger["file"]):
        time.sleep(0.1)
    for signum in signal.sigpending():  # blocked where it runs (a Ray worker blocks SIGINT)
        note(signum, None)
    print("exited in its own time")
"""


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
    """The finished rung's command is still exiting (it lingers after ``stepstone.finish()``)
    when the plan is cancelled: its job is not signalled, and once the test lets it exit the
    run is finished with its result, its whole output log and its result page."""
    (tmp_path / "train.py").write_text(TRAIN)
    hang, linger = tmp_path / "hang", tmp_path / "linger"
    hang.write_text("")
    linger.write_text("")
    plan = plan_ladder({"model": {"width": 1}, "hang": {"file": str(hang), "width": 5},
                        "linger": {"file": str(linger), "width": 2}},
                       [sys.executable, "train.py"],
                       rungs=[["model.width=2"], ["model.width=5"]], cwd=str(tmp_path))
    executor = CancelPasses(slurm_executor(tmp_path / "submitit", time_limit="5",
                                           cluster="local"))
    try:
        with open_lab(lab) as opened:
            thread, out = in_thread(launch_plan, opened, plan, executor)
            pid = wait_for(tmp_path / "hang.pid")
            wait_for(tmp_path / "linger.pid")
            assert plan_state(opened, plan.id)[0].status == "finished"  # only one is left
            code, text, err = cli(lab, "cancel", plan.id, "--reason", "wrong lr", "--json")
            assert code == 0, err
            executor.wait(3)  # the executor's cancel went out while the rung lingered
            linger.unlink()
            thread.join(120)
            assert not thread.is_alive() and "error" not in out, out
            assert out["result"].status == "cancelled"
            other, hung = plan_state(opened, plan.id)
            assert (hung.status, hung.reason) == ("killed", "cancelled: wrong lr")
            assert json.loads(text)["stopped"] == [hung.run_id]
            assert gone(pid), "the training command outlived the cancel"
            assert not (tmp_path / "linger.signals").exists(), "the finished rung was signalled"
            assert (other.status, other.reason) == ("finished", None)
            assert opened.runs.summary(str(other.run_id))["final_loss"] == pytest.approx(1 / 6)
            assert b"exited in its own time" in opened.run_object(str(other.run_id), "log",
                                                                  "output.log")
            (page,) = opened.notebook.pages(kind="result", run_id=str(other.run_id))
            assert "finished" in page.title, page.title
    finally:
        hang.unlink(missing_ok=True)  # a command a broken cancel left behind ends
        linger.unlink(missing_ok=True)


def test_slurm_time_limits():
    times = ("90", "1:30:00", "10:30", "2-3", None)
    assert [parse_time(t) for t in times] == [90, 90, 11, 3060, 60]
