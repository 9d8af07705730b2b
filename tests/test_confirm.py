"""Confirmation before promotion: a question asked with --confirm is promoted only once its yes
held on fresh seeds (a confirming question, answered yes by runs on seeds it did not use)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from _cli import cli
from stepstone.errors import MethodError
from stepstone.method import baselines as baseline_rules
from stepstone.method import confirm
from stepstone.method import decide as decide_rules
from stepstone.method.preflight import prepare_launch
from stepstone.method.promote import promote
from stepstone.store import open_lab
from stepstone.store.lab import Lab

RULE = "val_loss <= baseline - 0.1"


def make_run(lab: Lab, *, kind: str, version: str, seed: int, loss: float, rung: str,
             question: str | None = None) -> str:
    run_id = uuid.uuid4().hex[:8]
    now = time.time()
    lab.runs.create({"id": run_id, "name": f"{kind}-{run_id}", "project": "t", "kind": kind,
                     "status": "finished", "created_at": now, "ended_at": now + 1,
                     "baseline": version, "question_id": question, "seed": seed},
                    {"seed": seed, "rung": rung, "model": {"norm": kind != "baseline"}})
    lab.runs.set_summary(run_id, {"val_loss": loss})
    return run_id


@pytest.fixture
def asked(lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """Tier small with its own runs, and q1 (asked with --confirm) answered yes on seeds 0, 1
    at rungs r1 and r2; returns the lab and the baseline version."""
    monkeypatch.chdir(tmp_path)
    with open_lab(lab) as opened:
        version = baseline_rules.create(opened, "small", {"model": {"norm": False}, "seed": 0},
                                        reference_metric="val_loss").version
        for seed in (0, 1):
            for rung in ("r1", "r2"):
                make_run(opened, kind="baseline", version=version, seed=seed, loss=3.0,
                         rung=rung)
    code, out, err = cli(lab, "question", "new", "Does norm help?", "--rule", RULE,
                         "--metric", "val_loss", "--baseline", "small", "--confirm", "--json")
    assert code == 0 and json.loads(out)["confirm"] == 1, err
    with open_lab(lab) as opened:
        opened.questions.update("q1", feature_keys=["model.norm"],
                                feature_delta={"model.norm": True})
        for seed in (0, 1):
            for rung in ("r1", "r2"):
                make_run(opened, kind="rung", version=version, seed=seed, loss=2.5, rung=rung,
                         question="q1")
    return lab, version


def test_a_yes_is_promoted_only_once_it_held_on_fresh_seeds(asked):
    lab, version = asked
    code, out, err = cli(lab, "decide", "q1", "--conclusion", "norm helps")
    assert code == 0, err
    assert "q1 asks that its yes hold on fresh seeds before promotion: q2 asks it" in out
    with open_lab(lab) as opened:
        q2 = opened.questions.get("q2")
        assert (q2.confirms, q2.rule, q2.feature_delta, q2.baseline) == (
            "q1", RULE, {"model.norm": True}, "small")
        assert opened.notebook.pages(question_id="q2")[0].title == "Confirm q1 on fresh seeds"
    code, _out, err = cli(lab, "baseline", "promote", "small", "--from", "q1")
    assert code != 0
    assert ("question q1 asks that its yes hold on fresh seeds before promotion, and its "
            "confirmation q2 is open: run `stepstone ladder --set model.norm=true "
            "--question q2 --rungs RUNGS --seeds 2-3 -- COMMAND`") in err
    # the confirmation may not rerun a seed the first answer used
    code, _out, err = cli(lab, "ladder", "--question", "q2", "--set", "model.norm=true",
                          "--rungs", "+rung=r1; +rung=r2",
                          "--seeds", "1-2", "--dry-run", "--", "python", "t.py")
    assert code != 0 and "q1 already ran seed(s) 1: run seeds it did not use (--seeds 2-3)" in err
    with open_lab(lab) as opened:
        with pytest.raises(MethodError, match="already ran seed"):
            prepare_launch(opened, baseline="small", overrides=["model.norm=true", "seed=0"],
                           question="q2")
        assert [b.version for b in opened.baselines.list("small")] == [version]
        for seed in (2, 3):
            for rung in ("r1", "r2"):
                make_run(opened, kind="rung", version=version, seed=seed, loss=2.5, rung=rung,
                         question="q2")
        proposal, _page = decide_rules.decide(opened, "q2", conclusion="it held")
        assert proposal.answer == "yes"
        with pytest.raises(MethodError, match="q2 confirms q1: promote q1"):
            promote(opened, "small", "q2")
    code, out, err = cli(lab, "baseline", "promote", "small", "--from", "q1")
    assert code == 0, err
    code, out, _err = cli(lab, "baseline", "history", "small", "--json")
    versions = json.loads(out)
    assert len(versions) == 2 and versions[1]["features"][0]["question_id"] == "q1"


def test_a_yes_that_does_not_hold_is_not_promoted(asked):
    lab, version = asked
    with open_lab(lab) as opened:
        decide_rules.decide(opened, "q1", conclusion="norm helps")
        for seed in (2, 3):
            make_run(opened, kind="rung", version=version, seed=seed, loss=3.0, rung="r1",
                     question="q2")
        proposal, _page = decide_rules.decide(opened, "q2", conclusion="it did not hold")
        assert proposal.answer == "no"
        with pytest.raises(MethodError, match="q1's yes did not hold on fresh seeds: its "
                                              "confirmation q2 was answered no"):
            promote(opened, "small", "q1")
        assert len(opened.baselines.list("small")) == 1


def test_the_confirmation_command_repeats_the_first_ladder_on_fresh_seeds(asked):
    lab, _version = asked
    code, _out, err = cli(lab, "ladder", "--question", "q1", "--set", "model.norm=true",
                          "--rungs", "+rung=r1; +rung=r2",
                          "--seeds", "0-1", "--dry-run", "--", "python", "t.py")
    assert code == 0, err
    with open_lab(lab) as opened:
        from stepstone.launch.plan import plan_ladder
        from stepstone.launch.runner import save_plan
        from stepstone.method.preflight import prepare_plan

        basis = prepare_plan(opened, question="q1", overrides=["model.norm=true"])
        plan = plan_ladder(basis.base, ["python", "t.py"], rungs=[["+rung=r1"], ["+rung=r2"]],
                           seeds=[0, 1], baseline=basis.baseline_version, question_id="q1")
        save_plan(opened, plan)
        decide_rules.decide(opened, "q1", conclusion="norm helps")
        command = confirm.confirmation_command(opened, "q1", "q2")
    assert command == ("stepstone ladder --set model.norm=true --question q2 --rungs "
                       "'+rung=r1; +rung=r2' --seeds 2-3 -- python t.py")


def test_a_question_without_confirm_is_promoted_on_its_first_yes(asked):
    lab, _version = asked
    with open_lab(lab) as opened:
        opened.db.execute("UPDATE questions SET confirm = 0 WHERE id = 'q1'")
        decide_rules.decide(opened, "q1", conclusion="norm helps")
        assert opened.questions.confirming("q1") is None
        assert promote(opened, "small", "q1").parent is not None
