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
from _launch_helpers import (
    LINGERING_END,
    check_a_cancel_leaves_a_finished_rung_alone,
    gone,
    in_thread,
    wait_for,
)
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
""" + LINGERING_END


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
    check_a_cancel_leaves_a_finished_rung_alone(tmp_path, lab, TRAIN,
                                                ray_executor(cpus_per_run=1))
