"""Planning sweeps and ladders (pure), the plan tables, and the baseline hook."""

from __future__ import annotations

import json
import math
import sys

import pytest

from _cli import cli
from stepstone.errors import UsageError
from stepstone.launch.plan import (
    chinchilla_allocate,
    load_override_sets,
    parse_grid,
    parse_rungs,
    plan_ladder,
    plan_sweep,
)
from stepstone.launch.runner import plan_state, save_plan
from stepstone.store import open_lab
from stepstone.store.migrations import schema_version

BASE = {"optim": {"lr": 0.001}, "seed": 0, "model": {"n_params": 1, "n_layer": 1}}
CMD = ["python", "train.py"]


def test_grid_sweep_plans_every_combination_with_its_delta():
    plan = plan_sweep(BASE, CMD, grid=parse_grid(["optim.lr=1e-3,3e-3", "seed=0,1"]))
    assert [r.overrides for r in plan.runs] == [
        ("optim.lr=0.001", "seed=0"), ("optim.lr=0.001", "seed=1"),
        ("optim.lr=0.003", "seed=0"), ("optim.lr=0.003", "seed=1")]
    assert plan.runs[3].config["optim"]["lr"] == 0.003 and plan.runs[3].config["seed"] == 1
    assert plan.runs[3].config_delta == {"optim.lr": 0.003, "seed": 1}
    assert plan.runs[0].config_delta == {}


def test_plan_id_is_stable_and_depends_on_config_runs_and_command(tmp_path):
    grid = parse_grid(["seed=0,1"])
    a = plan_sweep(BASE, CMD, grid=grid)
    assert plan_sweep(dict(BASE), list(CMD), grid=grid).id == a.id
    assert plan_sweep(BASE, [*CMD, "--fast"], grid=grid).id != a.id
    assert plan_sweep({**BASE, "seed": 5}, CMD, grid=grid).id != a.id
    assert plan_sweep(BASE, CMD, grid=parse_grid(["seed=0,2"])).id != a.id


def test_list_file_and_rung_spec(tmp_path):
    listing = tmp_path / "runs.yaml"
    listing.write_text("- {optim: {lr: 0.01}}\n- {seed: 3, optim.lr: 0.02}\n- [seed=4]\n")
    sets = load_override_sets(listing)
    assert sets == [["optim.lr=0.01"], ["seed=3", "optim.lr=0.02"], ["seed=4"]]
    text = tmp_path / "runs.txt"
    text.write_text("# one run per line\nseed=1 optim.lr=0.5\n\nseed=2\n")
    assert load_override_sets(text) == [["seed=1", "optim.lr=0.5"], ["seed=2"]]
    rungs = parse_rungs("n_layer=2,d_model=32,steps=100; n_layer=2,d_model=64,steps=200")
    assert rungs == [["n_layer=2", "d_model=32", "steps=100"],
                     ["n_layer=2", "d_model=64", "steps=200"]]
    plan = plan_ladder({}, CMD, rungs=rungs)  # no base config: every key is added
    assert plan.runs[1].config == {"n_layer": 2, "d_model": 64, "steps": 200}


def test_budget_ladder_splits_compute_as_6ND_with_fixed_ratio():
    plan = plan_ladder(BASE, CMD, budgets=[1e12, 1e13],
                       allocate=chinchilla_allocate("model.n_params", "train.tokens", 20))
    for run, budget in zip(plan.runs, [1e12, 1e13], strict=True):
        n, d = run.config["model"]["n_params"], run.config["train"]["tokens"]
        assert math.isclose(6 * n * d, budget, rel_tol=1e-3)
        assert math.isclose(d / n, 20, rel_tol=1e-3)
        assert run.config["compute_budget"] == budget
    custom = plan_ladder(BASE, CMD, budgets=[1e9], allocate=lambda c: {"model.n_layer": 7})
    assert custom.runs[0].config["model"]["n_layer"] == 7


def test_bad_plans_get_one_clear_error():
    with pytest.raises(UsageError, match="same"):
        plan_sweep(BASE, CMD, override_sets=[["seed=1"], ["seed=1"]])
    with pytest.raises(UsageError, match="KEY=V1"):
        parse_grid(["seed"])
    with pytest.raises(UsageError, match="nothing to run"):
        plan_sweep(BASE, [], grid={"seed": [1]})
    with pytest.raises(UsageError, match="allocation"):
        plan_ladder(BASE, CMD, budgets=[1e12])
    with pytest.raises(UsageError):
        plan_sweep(BASE, CMD, override_sets=[["optim.lrr=1"]])  # no such key


def test_verifier_sees_every_run_with_its_axes_and_refuses_problems():
    seen = []

    def verify(config, varied):
        seen.append((config["seed"], list(varied)))
        return config, ([] if config["seed"] != 1 else ["seed changed by accident"])

    with pytest.raises(UsageError, match="seed changed by accident"):
        plan_sweep(BASE, CMD, grid={"seed": [0, 1]}, verify=verify, baseline="small")
    assert seen == [(0, ["seed"]), (1, ["seed"])]


@pytest.mark.parametrize(
    "base_overrides, features, problem",
    [
        (["optim.lr=0.01"], ["optim.lr"], None),
        ([], ["optim.lr"], "not on"),
        (["optim.lr=0.01", "model.n_layer=2"], ["optim.lr"], "accidental change"),
    ],
    ids=["feature-on", "feature-not-on", "accidental-change"],
)
def test_ladder_runs_are_verified_against_their_baseline(lab, base_overrides, features,
                                                         problem):
    from stepstone.configs import resolve
    from stepstone.method import baselines
    from stepstone.method.preflight import plan_verifier

    with open_lab(lab) as opened:
        baselines.create(opened, "small", dict(BASE))
        verify = plan_verifier(opened, baseline="small", feature_keys=features)
    base = resolve(BASE, base_overrides)
    rungs = [["seed=0"], ["seed=1"]]
    if problem is None:
        plan = plan_ladder(base, CMD, rungs=rungs, verify=verify, baseline="small")
        assert [r.config["optim"]["lr"] for r in plan.runs] == [0.01, 0.01]
    else:
        with pytest.raises(UsageError, match=problem):
            plan_ladder(base, CMD, rungs=rungs, verify=verify, baseline="small")


def test_saved_plan_is_idempotent_and_carries_method_links(lab):
    plan = plan_sweep(BASE, CMD, grid={"seed": [0, 1]}, baseline="small@2026-11-21",
                      question_id="q1")
    with open_lab(lab) as opened:
        assert schema_version(opened.db) >= 3
        row = save_plan(opened, plan)
        again = save_plan(opened, plan)
        assert row.id == again.id == plan.id and row.created_at == again.created_at
        assert (row.baseline, row.question_id, row.status) == ("small@2026-11-21", "q1", "planned")
        assert [s.status for s in plan_state(opened, plan.id)] == ["pending", "pending"]
        assert opened.plans.runs(plan.id)[1].config_delta == {"seed": 1}
        assert opened.plans.resolve_id(plan.id[:6]) == plan.id


def test_ladder_budgets_follow_a_stored_chinchilla_frontier(lab, tmp_path, capsys):
    """`--fit` splits each budget into the fitted law's compute-optimal N and D, which for
    L = E + A/N^a + B/D^b is N = G (C/6)^(b/(a+b)) with G = (aA/(bB))^(1/(a+b)), D = C/(6N)."""

    from stepstone.cli import main

    e, a_, b_, alpha, beta = 1.69, 406.4, 410.7, 0.34, 0.28
    rows = ["n,d,loss"]
    for n in (1e7, 3e7, 1e8, 3e8, 1e9):
        for d in (1e9, 3e9, 1e10, 3e10, 1e11):
            rows.append(f"{n},{d},{e + a_ / n**alpha + b_ / d**beta}")
    table = tmp_path / "runs.csv"
    table.write_text("\n".join(rows) + "\n")
    (tmp_path / "base.yaml").write_text("model:\n  n: 1\ntrain:\n  tokens: 1\n")
    main(["fit", "--from", str(table), "--n-col", "n", "--d-col", "d", "--form", "chinchilla",
          "--label", "chin",
          "--bootstrap", "20", "--lab", str(lab), "--json"])
    capsys.readouterr()
    main(["ladder", "--config", str(tmp_path / "base.yaml"), "--budgets", "1e20,1e21",
          "--fit", "chin", "--n-key", "model.n", "--d-key", "train.tokens", "--dry-run",
          "--json", "--lab", str(lab), "--", "python", "t.py"])
    plan = json.loads(capsys.readouterr().out)
    g = (alpha * a_ / (beta * b_)) ** (1 / (alpha + beta))
    for run, budget in zip(plan["runs"], (1e20, 1e21), strict=True):
        n_opt = g * (budget / 6) ** (beta / (alpha + beta))
        assert run["config"]["model"]["n"] == pytest.approx(n_opt, rel=1e-3)
        assert run["config"]["train"]["tokens"] == pytest.approx(budget / (6 * n_opt), rel=1e-3)


# -- the plan's links to its baseline and question (one rule with `stepstone run`) ----------
@pytest.fixture
def linked_lab(lab, tmp_path, monkeypatch):
    """A lab with baselines ``small`` and ``large`` and question q1 asked against small."""
    from stepstone.method import baselines, questions

    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text("model:\n  norm: false\n  width: 1\n")
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"model": {"norm": False, "width": 1}})
        baselines.create(opened, "large", {"model": {"norm": False, "width": 8}})
        questions.create(opened, "norm?", rule="final_loss <= 1", baseline="small")
    return lab, version.version


def _tables(lab):
    with open_lab(lab) as opened:
        return (len(opened.plans.recent()), len(opened.runs.list()),
                opened.questions.get("q1").status)


RUNGS = ("--rungs", "model.width=2; model.width=4")


@pytest.mark.parametrize("args, message", [
    (("--config", "base.yaml", "--question", "q99"), "no question 'q99'"),
    (("--baseline", "large", "--question", "q1", "--set", "model.norm=true"),
     "question q1 is asked against small, not large@"),
    (("--question", "q1", "--config", "base.yaml"), "drop --config"),
    (("--baseline", "small", "--config", "base.yaml"), "give one"),
    (("--config", "base.yaml", "--feature", "model.norm"), "--feature needs a baseline"),
    (("--baseline", "small", "--question", "q1", "--set", "model.norm=true", "--set",
      "model.width=3", "--feature", "model.norm", "--rungs", "+seed=1"), "accidental change"),
], ids=["unknown-question", "other-tier", "question-and-config", "baseline-and-config",
        "feature-without-baseline", "accidental-change"])
def test_a_plan_with_bad_links_gets_one_error_and_launches_nothing(linked_lab, args,
                                                                   message):
    lab, _version = linked_lab
    before = _tables(lab)
    rungs = () if "--rungs" in args else RUNGS
    code, _out, err = cli(lab, "ladder", *args, *rungs, "--", sys.executable,
                           "-c", "pass")
    assert code != 0 and err.startswith("error: ") and message in err, err
    assert _tables(lab) == before == (0, 0, "open")


def test_an_answered_question_takes_no_more_planned_runs(linked_lab):
    lab, _version = linked_lab
    with open_lab(lab) as opened:
        opened.questions.update("q1", status="answered", answer="no")
    code, _out, err = cli(lab, "sweep", "--question", "q1", "--grid",
                           "model.norm=true", "--", sys.executable, "-c", "pass")
    assert code != 0 and "question q1 is answered: ask a new question" in err
    assert _tables(lab)[:2] == (0, 0)


def test_a_question_asked_against_a_baseline_plans_from_its_dated_version(linked_lab):
    lab, version = linked_lab
    code, out, err = cli(lab, "ladder", "--question", "q1", "--set", "model.norm=true",
                          *RUNGS, "--dry-run", "--json", "--", "python", "t.py")
    assert code == 0, err
    plan = json.loads(out)
    assert (plan["baseline"], plan["question_id"]) == (version, "q1")
    assert plan["options"] == {"feature_keys": ["model.norm"]}  # the --set keys by default
    assert [r["config_delta"] for r in plan["runs"]] == [
        {"model.norm": True, "model.width": 2}, {"model.norm": True, "model.width": 4}]
    with open_lab(lab) as opened:  # a dry run launches nothing, but records the change
        q = opened.questions.get("q1")
        assert (q.status, q.feature_delta) == ("open", {"model.norm": True})
        assert not opened.plans.recent()


def test_run_with_a_question_is_verified_against_the_questions_baseline(linked_lab):
    lab, version = linked_lab
    script = "import stepstone; stepstone.init(); stepstone.finish()"
    code, _out, err = cli(lab, "run", "--json", "--yes", "--question", "q1",
                           "--feature", "model.norm", "--set", "model.norm=true", "--set",
                           "model.width=3", "--", sys.executable, "-c", script)
    assert code != 0 and "accidental change: model.width" in err
    assert _tables(lab) == (0, 0, "open")
    code, out, err = cli(lab, "run", "--json", "--yes", "--question", "q1", "--set",
                          "model.norm=true", "--", sys.executable, "-c", script)
    assert code == 0, err
    run = json.loads(out)
    assert (run["baseline"], run["question_id"], run["kind"]) == (version, "q1", "feature")
    assert run["config_delta"] == {"model.norm": True}
    assert _tables(lab) == (0, 1, "running")


@pytest.mark.parametrize("answer, launched", [("n", False), ("y", True)])
def test_run_at_a_terminal_asks_before_launching(linked_lab, tmp_path, answer, launched):
    """At a terminal, `run --baseline` shows the diff and asks; "n" launches nothing."""
    import os
    import pty
    import subprocess

    lab, _version = linked_lab
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPSTONE_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stepstone", "run", "--lab", str(lab), "--baseline", "small",
         "--set", "model.norm=true", "--feature", "model.norm", "--", sys.executable, "-c",
         "print('trained')"],
        cwd=tmp_path, env=env, stdin=follower, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    os.close(follower)
    os.write(leader, f"{answer}\n".encode())
    out, err = proc.communicate(timeout=120)
    os.close(leader)
    assert "model.norm" in err  # the diff against the baseline was shown before asking
    with open_lab(lab) as opened:
        runs = opened.runs.list()
    if launched:
        assert proc.returncode == 0, err
        assert [r.status for r in runs] == ["finished"] and "trained" in out
    else:
        assert proc.returncode == 1 and "Aborted." in err
        assert runs == []


def test_a_ladder_takes_the_same_change_run_takes(linked_lab):
    """`--baseline small --set X` with no question: the overridden key is the feature, for a
    ladder as for `stepstone run` (it used to be refused as an accidental change)."""
    lab, version = linked_lab
    code, out, err = cli(lab, "ladder", "--baseline", "small", "--set", "model.norm=true",
                         "--rungs", "model.width=2; model.width=4", "--dry-run", "--json", "--",
                         sys.executable, "train.py")
    assert code == 0, err
    plan = json.loads(out)
    assert plan["options"]["feature_keys"] == ["model.norm"]
    assert plan["baseline"] == version
    assert [r["config"]["model"] for r in plan["runs"]] == [{"norm": True, "width": 2},
                                                            {"norm": True, "width": 4}]
    code, _, err = cli(lab, "run", "--baseline", "small", "--set", "model.norm=true", "--yes",
                       "--json", "--", sys.executable, "-c", "pass")
    assert code == 0, err
