"""Ladders against a team store: a ladder on the local pool whose runs and metrics reach
PostgreSQL from the workers, and a plan that two launchers racing for it cannot both take
(the hold changes hands only through a conditional update, on either backend)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stepstone.method import baselines, questions
from stepstone.store import init_lab, open_lab
from stepstone.store.target import StoreTarget

TRAIN = """\
import stepstone

stepstone.init()
width = stepstone.config["model"]["width"]
for step in range(4):
    stepstone.log({"loss": 1.0 / (width * (step + 1))}, step=step)
stepstone.summary["final_loss"] = 1.0 / (width * 4)
stepstone.finish()
"""


@pytest.mark.postgres
def test_a_ladder_on_the_local_pool_records_into_the_team_store(tmp_path: Path,
                                                                pg_url: str) -> None:
    root = init_lab(tmp_path / "lab", store=pg_url, objects=str(tmp_path / "shared-objects"))
    (tmp_path / "train.py").write_text(TRAIN)
    with open_lab(root) as opened:
        assert opened.db.dialect.name == "postgresql"
        version = baselines.create(opened, "small", {"model": {"width": 1, "norm": False}})
        qid = questions.create(opened, "norm?", rule="final_loss <= 1",
                               baseline="small").question.id
    done = subprocess.run(
        [sys.executable, "-m", "stepstone", "ladder", "--lab", str(root), "--question", qid,
         "--set", "model.norm=true", "--rungs", "model.width=2; model.width=3; model.width=5",
         "--workers", "3", "--json", "--", sys.executable, "train.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    result = json.loads(done.stdout)
    assert result["status"] == "done" and result["launched"] == [0, 1, 2]
    with open_lab(root) as opened:  # a fresh connection: what the workers wrote is stored
        for state, width in zip(result["runs"], (2, 3, 5), strict=True):
            run = opened.runs.get(state["run_id"])
            assert (run.status, run.kind) == ("finished", "rung")
            assert (run.baseline, run.question_id) == (version.version, qid)
            assert run.config["model"] == {"width": width, "norm": True}
            assert run.code_snapshot
            loss = opened.metrics.history(run.id)["loss"].values
            assert loss == pytest.approx([1 / (width * (s + 1)) for s in range(4)])
            assert run.summary["final_loss"] == pytest.approx(1 / (width * 4))
        q = opened.questions.get(qid)
        assert (q.status, q.feature_delta) == ("running", {"model.norm": True})
        assert opened.plans.get(result["plan_id"]).owner_pid is None


def _save_plan(root: Path) -> str:
    from stepstone.launch.plan import plan_sweep
    from stepstone.launch.runner import save_plan

    plan = plan_sweep({"seed": 0}, ["python", "t.py"], grid={"seed": [0, 1]})
    with open_lab(root) as opened:
        save_plan(opened, plan)
    return plan.id


def test_two_launchers_racing_for_a_plan_cannot_both_take_it(
        store_target: StoreTarget, monkeypatch: pytest.MonkeyPatch) -> None:
    """Launcher A reads the plan free; before it writes, launcher B takes the plan; A must
    then find B holding it instead of taking it too (what a read-then-write lets happen)."""
    assert store_target.root is not None
    plan_id = _save_plan(store_target.root)
    with open_lab(store_target.root) as a, open_lab(store_target.root) as b:
        results: dict[str, tuple[int | None, str | None]] = {}
        read = a.db.query_one

        def read_then_lose_the_race(statement: str, params: tuple = ()) -> object:
            row = read(statement, params)
            if "owner_pid" in statement and "b" not in results:
                results["b"] = b.plans.take_ownership(plan_id, 222, "host-b",
                                                      lambda pid, host: True)
            return row

        monkeypatch.setattr(a.db, "query_one", read_then_lose_the_race)
        results["a"] = a.plans.take_ownership(plan_id, 111, "host-a", lambda pid, host: True)
        assert results == {"b": (None, None), "a": (222, "host-b")}
        held = b.plans.get(plan_id)
        assert (held.owner_pid, held.owner_host, held.status) == (222, "host-b", "running")


def test_a_dead_launchers_hold_is_taken_over_once(store_target: StoreTarget) -> None:
    assert store_target.root is not None
    plan_id = _save_plan(store_target.root)
    with open_lab(store_target.root) as a, open_lab(store_target.root) as b:
        assert a.plans.take_ownership(plan_id, 111, "host-a", lambda p, h: True) == (None, None)
        # 111 died: B takes over; C, which also saw 111 dead, then finds B alive
        assert b.plans.take_ownership(plan_id, 222, "host-b",
                                      lambda p, h: p != 111) == (None, None)
        assert a.plans.take_ownership(plan_id, 333, "host-c",
                                      lambda p, h: p != 111) == (222, "host-b")
