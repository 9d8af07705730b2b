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
import hashlib, random, stepstone
run = stepstone.init()
cfg = stepstone.config
# the evaluator: its code version and its data, fingerprinted as the byte-LM task does
evaluator = f"eval-v{cfg['eval_version']}"
run.summary["data/eval_fingerprint"] = hashlib.sha256(evaluator.encode()).hexdigest()
noise = random.Random(cfg["seed"]).uniform(-0.005, 0.005)
loss = 1.0 - 0.1 * cfg["model"]["norm"] + 0.6 * (cfg["eval_version"] - 1) + noise
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
        assert q.eval_pinned_by == first and len(q.eval_fingerprint) == 64
    same = [_run(lab, f"seed={seed}") for seed in (1, 2)]
    with open_lab(lab) as opened:
        proposal = decide.gather(opened, "q1")
    assert proposal.answer == "yes", proposal.verdict.reasons
    assert not [f for f in proposal.flags if "evaluator" in f]

    other = _run(lab, "seed=3", "eval_version=2")  # a harsher evaluator: loss 1.5
    with open_lab(lab) as opened:
        run = opened.runs.get(other)
        why = evaluator.differs(opened, run)
        assert why is not None and f"the one question q1 pinned from run {first})" in why
        assert all(evaluator.differs(opened, opened.runs.get(r)) is None for r in same)
        assert [f["run_id"] for f in evaluator.flagged(opened, "q1")] == [other]
        proposal = decide.gather(opened, "q1")
        page = opened.notebook.pages(run_id=other, kind="result")[-1]
    assert f"run {other}: {why}: left out" in proposal.flags
    assert proposal.answer == "yes", proposal.verdict.reasons  # the 1.5 was not counted
    assert "decide` leaves this run out" in page.body

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
        assert opened.questions.get("q1").eval_pinned_by == only
        assert evaluator.flagged(opened, "q1") == []


def test_a_run_without_a_fingerprint_is_neither_pinned_nor_flagged(lab):
    with open_lab(lab) as opened:
        questions.create(opened, "q?", rule="val_loss <= 1")
        assert evaluator.pinned(opened, opened.questions.get("q1")) is None
        assert evaluator.flagged(opened, "q1") == []


def test_the_dashboard_flags_the_run_on_its_page_and_its_question(project, lab):
    from fastapi.testclient import TestClient

    from stepstone.web.app import create_app

    _run(lab, "seed=0")
    other = _run(lab, "seed=2", "eval_version=2")
    client = TestClient(create_app(lab))
    body = client.get(f"/runs/{other}").text
    assert "measured with another evaluator" in body and "decide leaves this run out" in body
    body = client.get("/questions").text
    assert f"{other}</a> measured with another evaluator" in body


def test_the_report_names_the_run_in_its_caveats(project, lab, tmp_path):
    _run(lab, "seed=0")
    other = _run(lab, "seed=2", "eval_version=2")
    code, _, err = cli(lab, "report", "q1", "--out", str(tmp_path / "r"), "--bootstrap", "0")
    assert code == 0, err
    text = "".join(p.read_text() for p in (tmp_path / "r").rglob("*.md"))
    assert f"run {other}" in text and "measured with another evaluator" in text
