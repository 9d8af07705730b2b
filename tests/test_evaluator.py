"""Evaluation integrity: a question pins its evaluator's fingerprint when its first run
finishes; a later run measured with another evaluator is flagged in show, status and the
question, and decide leaves it out with the reason."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from _cli import cli
from stepstone.method import baselines, decide, evaluator, questions
from stepstone.store import open_lab

TRAIN = """\
import hashlib, stepstone
run = stepstone.init()
cfg = stepstone.config
# the evaluator: its code version and its data, fingerprinted as the byte-LM task does
evaluator = f"eval-v{cfg['eval_version']}"
run.summary["data/eval_fingerprint"] = hashlib.sha256(evaluator.encode()).hexdigest()
loss = 1.0 - 0.1 * cfg["model"]["norm"] - 0.3 * (cfg["eval_version"] - 1)
run.log({"val_loss": loss}, step=0)
run.summary["val_loss"] = loss
run.finish()
"""


@pytest.fixture
def project(tmp_path: Path, lab: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "train.py").write_text(TRAIN)
    monkeypatch.chdir(tmp_path)
    with open_lab(lab) as opened:
        baselines.create(opened, "small", {"model": {"norm": 0}, "eval_version": 1, "seed": 0})
        questions.create(opened, "Does norm lower the loss?", rule="val_loss <= 0.95",
                         baseline="small")
    return tmp_path


def _run(lab: Path, *sets: str) -> str:
    code, out, err = cli(lab, "run", "--question", "q1", "--set", "model.norm=1",
                         "--feature", "model.norm", "--allow", "eval_version", "--allow", "seed",
                         *(a for s in sets for a in ("--set", s)), "--yes", "--json",
                         "--", sys.executable, "train.py")
    assert code == 0, err
    return str(json.loads(out)["id"])


def test_a_changed_evaluator_is_flagged_and_left_out_of_decide(project, lab):
    first = _run(lab, "seed=0")
    with open_lab(lab) as opened:
        q = opened.questions.get("q1")
        assert q["eval_pinned_by"] == first and len(q["eval_fingerprint"]) == 64
        proposal = decide.gather(opened, "q1")
    assert proposal.answer == "yes" and not [f for f in proposal.flags if "evaluator" in f]

    same = _run(lab, "seed=1")
    other = _run(lab, "seed=2", "eval_version=2")  # a kinder evaluator: loss 0.6
    with open_lab(lab) as opened:
        run = opened.runs.get(other)
        why = evaluator.differs(opened, run)
        assert why is not None and f"the one question q1 pinned from run {first})" in why
        assert evaluator.differs(opened, opened.runs.get(same)) is None
        assert [f["run_id"] for f in evaluator.flagged(opened, "q1")] == [other]
        proposal = decide.gather(opened, "q1")
        page = opened.notebook.pages(run_id=other, kind="result")[-1]
    assert f"run {other}: {why}: left out" in proposal.flags
    assert proposal.answer == "yes"
    assert "decide` leaves this run out" in page["body"]

    code, out, _ = cli(lab, "show", other)
    assert code == 0 and "EVALUATOR: measured with another evaluator" in out
    code, out, _ = cli(lab, "show", other, "--json")
    assert json.loads(out)["evaluator_differs"] == why
    code, out, _ = cli(lab, "status")
    assert f"run {other} of q1: {why}: decide leaves it out" in out
    code, out, _ = cli(lab, "status", "--json")
    assert json.loads(out)["method"]["evaluator_differs"][0]["run_id"] == other
    code, out, _ = cli(lab, "question", "show", "q1")
    assert f"! run {other}: {why}: left out of decide" in out


def test_the_first_finished_run_pins_whatever_evaluator_it_has(project, lab):
    only = _run(lab, "seed=0", "eval_version=2")
    with open_lab(lab) as opened:
        assert opened.questions.get("q1")["eval_pinned_by"] == only
        assert evaluator.flagged(opened, "q1") == []


def test_a_run_without_a_fingerprint_is_neither_pinned_nor_flagged(lab):
    with open_lab(lab) as opened:
        questions.create(opened, "q?", rule="val_loss <= 1")
        assert evaluator.pinned(opened, opened.questions.get("q1")) is None
        assert evaluator.flagged(opened, "q1") == []
