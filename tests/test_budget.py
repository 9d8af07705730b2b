"""What a launch may spend: a question's compute budget and its time box refuse a launch
before anything starts, from `stepstone run` and `stepstone ladder` alike."""

from __future__ import annotations

import sys
import time

import pytest

from _cli import cli
from stepstone.method import budget, questions
from stepstone.store import open_lab

SCRIPT = ["--", sys.executable, "-c", "import stepstone; stepstone.init(); stepstone.finish()"]


def _runs(lab) -> int:
    with open_lab(lab) as opened:
        return len(opened.runs.list())


def test_runs_spend_the_budget_until_a_launch_would_overrun_it(lab):
    code, _, err = cli(lab, "question", "new", "q?", "--rule", "val_loss <= 1",
                       "--budget", "1e6")
    assert code == 0, err
    for _ in range(2):
        code, _, err = cli(lab, "run", "--question", "q1", "--set", "+flops=4e5", *SCRIPT)
        assert code == 0, err
    code, _, err = cli(lab, "run", "--question", "q1", "--set", "+flops=4e5", *SCRIPT)
    assert code == 1
    assert ("this launch would spend 4e+05 FLOPs and question q1 has 2e+05 of its 1e+06 "
            "budget left") in err
    code, _, err = cli(lab, "run", "--question", "q1", "--set", "+model.n_params=10",
                       "--set", "+train.tokens=1000", *SCRIPT)  # 6·N·D = 6e4
    assert code == 0, err
    code, _, err = cli(lab, "run", "--question", "q1", *SCRIPT)
    assert code == 1 and "says nothing of its cost" in err
    assert _runs(lab) == 3
    with open_lab(lab) as opened:
        assert budget.spent(opened, "q1") == pytest.approx(8.6e5)


def test_a_ladder_past_the_budget_launches_no_rung(lab, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli(lab, "question", "new", "q?", "--rule", "val_loss <= 1", "--budget", "1e6")
    code, _, err = cli(lab, "ladder", "--question", "q1", "--budgets", "3e5,9e5", *SCRIPT)
    assert code == 1 and "this launch would spend 1.2e+06 FLOPs" in err
    assert _runs(lab) == 0


def test_resuming_a_finished_ladder_spends_nothing_more(lab, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli(lab, "question", "new", "q?", "--rule", "val_loss <= 1", "--budget", "1e6")
    for _ in range(2):  # the second launch skips both rungs: nothing to refuse
        code, _, err = cli(lab, "ladder", "--question", "q1", "--budgets", "2e5,4e5", *SCRIPT)
        assert code == 0, err
    assert _runs(lab) == 2


def test_a_time_box_that_ran_out_refuses_every_launch(lab):
    with open_lab(lab) as opened:
        questions.create(opened, "q?", rule="val_loss <= 1", timebox="1s")
        assert budget.check_launch(opened, "q1", [{}]) is not None
    time.sleep(1.1)
    code, _, err = cli(lab, "run", "--question", "q1", *SCRIPT)
    assert code == 1 and "question q1's time box (0.000278h) ran out" in err
    assert "nothing was launched" in err and _runs(lab) == 0
