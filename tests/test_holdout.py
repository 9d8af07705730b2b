"""Held-out evaluation with a budget of looks: a run's heldout/* results stay out of its
digest; a question asked with --holdout-looks N reads them N times, each look a notebook
page, and is refused after."""

from __future__ import annotations

import json
import sys

from _cli import cli
from stepstone.mcp.tools import LabTools
from stepstone.store import open_lab

SCRIPT = ("import stepstone; run = stepstone.init(); "
          "run.log({'val_loss': 0.9, 'heldout/loss': 1.1}, step=0); "
          "run.summary.update({'val_loss': 0.9, 'heldout/loss': 1.1}); run.finish()")


def test_a_question_reads_its_held_out_results_within_its_budget(lab):
    code, _, err = cli(lab, "question", "new", "Does it generalize?", "--rule",
                       "val_loss <= 1", "--holdout-looks", "2")
    assert code == 0, err
    code, out, err = cli(lab, "run", "--question", "q1", "--json", "--",
                         sys.executable, "-c", SCRIPT)
    assert code == 0, err
    run_id = json.loads(out)["id"]
    code, out, _ = cli(lab, "digest", run_id, "--json")
    digest = json.loads(out)
    assert "heldout/loss" not in digest["summary"]
    assert [m["key"] for m in digest["metrics"]] == ["val_loss"]

    code, out, err = cli(lab, "question", "look", "q1", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert (first["look"], first["left"]) == (1, 1)
    assert first["results"] == {run_id: {"heldout/loss": 1.1}}
    result = LabTools(str(lab)).heldout_look("q1")  # the agent's tool: the same ledger
    assert not result.is_error and result.structured_content["look"] == 2
    code, _, err = cli(lab, "question", "look", "q1")
    assert code == 1
    assert err.strip() == ("error: question q1 has spent its 2 held-out looks: decide on what "
                           "you have, or ask a new question")
    with open_lab(lab) as opened:
        pages = [p.title for p in opened.notebook.pages(question_id="q1")]
    assert pages[0] == "Held-out budget of q1: 2 looks"
    assert "Held-out look 1 of 2 for q1" in pages and "Held-out look 2 of 2 for q1" in pages


def test_without_a_budget_there_is_no_look(lab):
    cli(lab, "question", "new", "q?", "--rule", "val_loss <= 1")
    code, _, err = cli(lab, "question", "look", "q1")
    assert code == 1 and "has no held-out budget: ask it with --holdout-looks N" in err
    code, _, err = cli(lab, "question", "new", "q?", "--rule", "val_loss <= 1",
                       "--holdout-looks", "0")
    assert code == 2 and "--holdout-looks is a number of looks, 1 or more" in err
    with open_lab(lab) as opened:
        assert len(opened.questions.list()) == 1
