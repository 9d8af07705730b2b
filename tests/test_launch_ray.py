"""A real ladder on a local Ray cluster started by the test: every rung runs as a Ray
task through run_attached, and its config, code snapshot and metrics reach the lab."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stepstone.launch.executors import ray_executor
from stepstone.launch.plan import plan_ladder
from stepstone.launch.runner import launch_plan, plan_state
from stepstone.store import open_lab

ray = pytest.importorskip("ray")

TRAIN = """\
import stepstone

stepstone.init()
width = stepstone.config["model"]["width"]
for step in range(3):
    stepstone.log({"loss": 1.0 / (width * (step + 1))}, step=step)
stepstone.summary["final_loss"] = 1.0 / (width * 3)
stepstone.finish()
"""


def test_ray_ladder_records_every_rung(tmp_path: Path, lab: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    plan = plan_ladder({"model": {"width": 1}}, [sys.executable, "train.py"],
                       rungs=[["model.width=2"], ["model.width=5"]], cwd=str(tmp_path))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with open_lab(lab) as opened:
            result = launch_plan(opened, plan, ray_executor(cpus_per_run=1),
                                 executor_name="ray")
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
            assert opened.plans.runs(plan.id)[0].attempts[0]["executor"] == "ray"
    finally:
        ray.shutdown()
