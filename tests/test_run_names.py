"""Run names under ``stepstone run``: the script's own name wins over the launcher's generated
one (not over ``--name``), a task names its run after the config it really runs with, and a
smoke run is named and its id printed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from _cli import cli
from stepstone.store import open_lab

SCRIPT = """
import stepstone
run = stepstone.init(project="t", name="mine")
run.log({"loss": 1.0})
run.finish()
"""


@pytest.fixture
def script(lab: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(lab.parent)
    path = lab.parent / "train.py"
    path.write_text(SCRIPT)
    return path


def _names(lab: Path) -> dict[str, str]:
    with open_lab(lab) as opened:
        return {r.kind: r.name for r in opened.runs.list()}


def test_the_scripts_name_wins_over_a_generated_one(lab: Path, script: Path) -> None:
    code, _, err = cli(lab, "run", "--", sys.executable, str(script))
    assert code == 0, err
    assert _names(lab) == {"adhoc": "mine"}


def test_a_name_given_on_the_command_line_wins(lab: Path, script: Path) -> None:
    code, _, err = cli(lab, "run", "--name", "given", "--", sys.executable, str(script))
    assert code == 0, err
    assert _names(lab) == {"adhoc": "given"}


def test_a_smoke_run_is_named_and_its_id_printed(lab: Path, script: Path) -> None:
    code, _, err = cli(lab, "run", "--smoke", "--", sys.executable, str(script))
    assert code == 0, err
    with open_lab(lab) as opened:
        smoke = opened.runs.list(kind="smoke")[0]
    assert f"smoke run {smoke.id} (mine) finished" in err
    assert _names(lab) == {"smoke": "mine", "adhoc": "mine"}


def test_a_task_is_named_after_the_config_it_runs(lab: Path, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    monkeypatch.chdir(lab.parent)
    config = lab.parent / "tiny.yaml"
    config.write_text("d_model: 16\nn_layers: 1\nseq_len: 16\nsteps: 2\nbatch_size: 2\n"
                      "eval_windows: 2\neval_every: 0\n")
    code, _, err = cli(lab, "run", "--json", "--config", str(config), "--",
                       sys.executable, "-m", "stepstone.tasks.bytelm")
    assert code == 0, err
    assert _names(lab) == {"adhoc": "bytelm-full-d16-s0"}

