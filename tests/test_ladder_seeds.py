"""``stepstone ladder --seeds N --only RUNGS``: each rung once per seed, a filter on rungs."""

from __future__ import annotations

import json
import sys

import pytest

from _cli import cli
from stepstone.errors import UsageError
from stepstone.launch.plan import parse_seeds, plan_ladder
from stepstone.store import open_lab

BASE = {"seed": 0, "d": 1}
RUNGS = [["d=1", "+rung=r1"], ["d=2", "+rung=r2"], ["d=4", "+rung=r3"]]


@pytest.mark.parametrize("text, seeds", [("3", [0, 1, 2]), ("3-5", [3, 4, 5]), ("7,9", [7, 9]),
                                         ("1", [0])])
def test_seeds_are_a_count_a_range_or_a_list(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["0", "x", "5-3", "1,1", "-2", ""])
def test_bad_seeds_get_one_clear_error(text):
    with pytest.raises(UsageError, match=r"--seeds .*give a count"):
        parse_seeds(text)


def test_each_rung_runs_once_per_seed_and_only_the_named_rungs():
    plan = plan_ladder(BASE, ["python", "t.py"], rungs=RUNGS, seeds=[1, 2], only=["r3", "r2"])
    assert [r.label for r in plan.runs] == ["d=2,rung=r2,seed=1", "d=2,rung=r2,seed=2",
                                            "d=4,rung=r3,seed=1", "d=4,rung=r3,seed=2"]
    assert [(r.config["rung"], r.config["seed"]) for r in plan.runs] == [
        ("r2", 1), ("r2", 2), ("r3", 1), ("r3", 2)]
    unseeded = plan_ladder({"d": 1}, ["python", "t.py"], rungs=RUNGS[:1], seeds=[0, 1])
    assert [r.config["seed"] for r in unseeded.runs] == [0, 1]  # added to a base without one
    plain = plan_ladder(BASE, ["python", "t.py"], rungs=[["d=1"], ["d=2"]], only=["d=2"])
    assert [r.label for r in plain.runs] == ["d=2"]  # a rung without a name: its label


def test_only_an_unknown_rung_or_a_seed_twice_is_refused():
    with pytest.raises(UsageError, match=r"--only names r9, which no rung of this ladder has "
                                         r"\(its rungs: r1, r2, r3\)"):
        plan_ladder(BASE, ["python", "t.py"], rungs=RUNGS, only=["r9"])
    with pytest.raises(UsageError, match="sets its seed: give seeds with --seeds or in the "
                                         "rungs, not both"):
        plan_ladder(BASE, ["python", "t.py"], rungs=[["d=1", "seed=3"]], seeds=[0, 1])


def test_ladder_command_takes_seeds_and_only(lab, tmp_path, monkeypatch):
    from stepstone.method import baselines

    monkeypatch.chdir(tmp_path)
    with open_lab(lab) as opened:
        baselines.create(opened, "small", dict(BASE))
    spec = "d=1,+rung=r1; d=2,+rung=r2; d=4,+rung=r3"
    code, out, err = cli(lab, "ladder", "--baseline", "small", "--rungs", spec, "--seeds",
                         "3", "--only", "r3", "--dry-run", "--json", "--", "python", "t.py")
    assert code == 0, err
    runs = json.loads(out)["runs"]
    assert [(r["config"]["rung"], r["config"]["seed"]) for r in runs] == [
        ("r3", 0), ("r3", 1), ("r3", 2)]
    code, _out, err = cli(lab, "ladder", "--baseline", "small", "--rungs", spec, "--only", ",",
                          "--", sys.executable, "-c", "pass")
    assert code != 0 and "--only is empty" in err
    code, _out, err = cli(lab, "ladder", "--baseline", "small", "--rungs", spec, "--seeds",
                          "two", "--", sys.executable, "-c", "pass")
    assert code != 0 and err.startswith("error: --seeds 'two'")
    with open_lab(lab) as opened:
        assert not opened.plans.recent() and not opened.runs.list()
