"""A real ladder on a local Ray cluster started by the test: every rung runs as a Ray
task through run_attached, and its config, code snapshot and metrics reach the lab;
cancelling the plan stops its running task and leaves no training process behind, and leaves
alone a task whose run finished while its process is still exiting."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from _cli import cli
from _launch_helpers import CancelPasses, gone, in_thread, wait_for
from stepstone.launch.executors import ray_executor
from stepstone.launch.plan import plan_ladder
from stepstone.launch.runner import launch_plan, plan_state
from stepstone.store import open_lab

ray = pytest.importorskip("ray")

TRAIN = """\
import os, time
import stepstone

stepstone.init()
width = stepstone.config["model"]["width"]
for step in range(3):
    stepstone.log({"loss": 1.0 / (width * (step + 1))}, step=step)
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


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """One local Ray cluster for the module's tests (two CPUs): the tests' to stop."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_ladder_records_every_rung(tmp_path: Path, lab: Path, cluster: None) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    plan = plan_ladder({"model": {"width": 1}}, [sys.executable, "train.py"],
                       rungs=[["model.width=2"], ["model.width=5"]], cwd=str(tmp_path))
    with open_lab(lab) as opened:
        result = launch_plan(opened, plan, ray_executor(cpus_per_run=1), executor_name="ray")
        assert result.status == "done" and result.launched == [0, 1]
        assert ray.is_initialized()  # the test's cluster is the test's to stop
        for state, width in zip(plan_state(opened, plan.id), [2, 5], strict=True):
            rec = opened.runs.get(str(state.run_id))
            assert rec.status == "finished" and rec.config["model"]["width"] == width
            assert rec.code_snapshot and rec.kind == "rung"
            loss = opened.metrics.history(rec.id)["loss"].values
            assert loss == pytest.approx([1 / width, 1 / (2 * width), 1 / (3 * width)])
            assert rec.summary["final_loss"] == pytest.approx(1 / (3 * width))
        again = launch_plan(opened, plan, ray_executor(), executor_name="ray")
        assert again.launched == [] and again.status == "done"
        assert opened.plans.runs(plan.id)[0].attempts[0].executor == "ray"


def test_cancel_stops_the_running_ray_task_and_its_command(tmp_path: Path, lab: Path,
                                                           cluster: None) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    hang = tmp_path / "hang"
    hang.write_text("")
    plan = plan_ladder({"model": {"width": 1}, "hang": {"file": str(hang), "width": 5}},
                       [sys.executable, "train.py"],
                       rungs=[["model.width=5"], ["model.width=2"]], cwd=str(tmp_path))
    try:
        with open_lab(lab) as opened:
            # two CPUs a run: one rung at a time, the other waits its turn
            thread, out = in_thread(launch_plan, opened, plan, ray_executor(cpus_per_run=2))
            pid = wait_for(tmp_path / "hang.pid")
            code, text, err = cli(lab, "cancel", plan.id, "--reason", "wrong lr", "--json")
            assert code == 0, err
            thread.join(120)
            assert not thread.is_alive() and "error" not in out, out
            assert out["result"].status == "cancelled"
            hung, other = plan_state(opened, plan.id)
            assert (hung.status, hung.reason) == ("killed", "cancelled: wrong lr")
            assert json.loads(text)["stopped"] == [hung.run_id]
            assert gone(pid), "the training command outlived the cancel"
            assert other.status in ("finished", "cancelled")  # ran first, or never started
    finally:
        hang.unlink(missing_ok=True)  # a command a broken cancel left behind ends


def test_cancel_leaves_alone_a_task_whose_run_finished(tmp_path: Path, lab: Path,
                                                      cluster: None) -> None:
    """A rung finished and its command is still exiting (it lingers after
    ``stepstone.finish()``) when the plan is cancelled: its task is not cancelled, and once
    the test lets it exit the run is finished, with its whole output log and its result page;
    the running rung is stopped."""
    (tmp_path / "train.py").write_text(TRAIN)
    hang, linger = tmp_path / "hang", tmp_path / "linger"
    hang.write_text("")
    linger.write_text("")
    plan = plan_ladder({"model": {"width": 1}, "hang": {"file": str(hang), "width": 5},
                        "linger": {"file": str(linger), "width": 2}},
                       [sys.executable, "train.py"],
                       rungs=[["model.width=2"], ["model.width=5"]], cwd=str(tmp_path))
    executor = CancelPasses(ray_executor(cpus_per_run=1))
    try:
        with open_lab(lab) as opened:
            thread, out = in_thread(launch_plan, opened, plan, executor)
            pid = wait_for(tmp_path / "hang.pid")
            wait_for(tmp_path / "linger.pid")
            code, text, err = cli(lab, "cancel", plan.id, "--reason", "wrong lr", "--json")
            assert code == 0, err
            executor.wait(3)  # the executor's cancel went out while the rung lingered
            linger.unlink()
            thread.join(120)
            assert not thread.is_alive() and "error" not in out, out
            other, hung = plan_state(opened, plan.id)
            assert (hung.status, hung.reason) == ("killed", "cancelled: wrong lr")
            assert json.loads(text)["stopped"] == [hung.run_id]
            assert gone(pid), "the training command outlived the cancel"
            assert not (tmp_path / "linger.signals").exists(), "the finished rung was signalled"
            assert (other.status, other.reason) == ("finished", None)
            assert b"exited in its own time" in opened.run_object(str(other.run_id), "log",
                                                                  "output.log")
            (page,) = opened.notebook.pages(kind="result", run_id=str(other.run_id))
            assert "finished" in page.title, page.title
    finally:
        hang.unlink(missing_ok=True)  # a command a broken cancel left behind ends
        linger.unlink(missing_ok=True)
