"""The whole research loop from the command line: idea → question → baseline → plan →
smoke run → runs → decide → promote → new baseline in history, with its notebook pages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from _cli import cli
from stepstone.store import open_lab

SCRIPT = """
import os, sys, stepstone
run = stepstone.init(project="t")
cfg = run.config.as_dict()
if cfg.get("smoke") and os.environ.get("FAIL_SMOKE"):
    sys.exit(3)
assert bool(cfg.get("smoke")) == (os.environ.get("STEPSTONE_SMOKE") == "1")
steps = 2 if cfg.get("smoke") else int(cfg.get("steps", 5))
for s in range(steps):
    run.log({"loss": 1.0 / (s + 1)}, step=s)
run.summary["val_loss"] = 3.0 - (0.2 if cfg["model"]["qk_norm"] else 0.0) + 0.001 * cfg["seed"]
run.finish()
"""


def ok(lab: Path, *args: str) -> dict | list:
    code, out, err = cli(lab, *args, "--json") if args[0] != "run" else cli(lab, *args)
    assert code == 0, (args, out, err)
    return json.loads(out) if out.strip() else {}


def run_script(lab: Path, script: Path, *options: str) -> dict:
    code, out, err = cli(lab, "run", "--json", "--yes", *options, "--", sys.executable,
                         str(script))
    assert code == 0, (options, out, err)
    return json.loads(out)


@pytest.fixture
def setup(lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    config = tmp_path / "small.yaml"
    config.write_text("model:\n  qk_norm: false\n  width: 64\noptim:\n  lr: 0.001\n"
                      "seed: 0\nsteps: 5\n")
    return lab, script


def test_the_whole_loop(setup: tuple[Path, Path], tmp_path: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    lab, script = setup
    idea = ok(lab, "idea", "add", "QK-norm", "--source", "arxiv:2302.05442", "--cost", "3h",
              "--signal", "high")
    ok(lab, "idea", "add", "Gated DeltaNet", "--cost", "2w", "--signal", "high")
    ranked = ok(lab, "idea", "list")
    assert next(i["title"] for i in ranked) == "QK-norm"

    base = ok(lab, "baseline", "create", "small", "--config", str(tmp_path / "small.yaml"),
              "--metric", "val_loss")
    version = base["version"]
    assert version.startswith("small@") and "." not in version.split("@")[1][8:]

    q = ok(lab, "question", "new", "Does QK-norm lower val_loss?", "--idea", idea["id"],
           "--metric", "val_loss", "--rule", "val_loss <= baseline - 0.1", "--timebox", "3h",
           "--baseline", "small")
    qid = q["id"]
    assert ok(lab, "idea", "list")[0]["status"] == "picked"

    # plan: the diff is shown; a missing feature and an accidental change are refused
    plan = ok(lab, "plan", "--baseline", "small", "--set", "model.qk_norm=true",
              "--feature", "model.qk_norm", "--question", qid)
    assert "~ model.qk_norm: false -> true" in plan["diff"]
    code, _, err = cli(lab, "plan", "--baseline", "small", "--set", "model.qk_norm=false",
                       "--feature", "model.qk_norm")
    assert code != 0 and "feature key model.qk_norm is not on" in err
    code, _, err = cli(lab, "plan", "--baseline", "small", "--set", "model.qk_norm=true",
                       "--set", "optim.lr=0.1", "--feature", "model.qk_norm")
    assert code != 0 and "accidental change: optim.lr" in err
    code, _, err = cli(lab, "run", "--json", "--yes", "--baseline", "small", "--set",
                       "optim.lr=0.1", "--set", "model.qk_norm=true", "--feature",
                       "model.qk_norm", "--", sys.executable, str(script))
    assert code != 0 and "accidental change" in err

    # a failing smoke run stops the launch
    monkeypatch.setenv("FAIL_SMOKE", "1")
    code, _, err = cli(lab, "run", "--json", "--yes", "--smoke", "--baseline", "small",
                       "--question", qid, "--set", "model.qk_norm=true", "--", sys.executable,
                       str(script))
    assert code != 0 and "smoke run" in err
    monkeypatch.delenv("FAIL_SMOKE")
    with open_lab(lab) as opened:
        assert not opened.runs.list(kind="feature")

    for seed in (0, 1):
        run_script(lab, script, "--baseline", "small", "--kind", "baseline", "--set",
                   f"seed={seed}")
    runs = [run_script(lab, script, "--smoke", "--baseline", "small", "--question", qid,
                       "--feature", "model.qk_norm", "--set", "model.qk_norm=true", "--set",
                       f"seed={seed}") for seed in (0, 1)]
    assert all(r["status"] == "finished" and r["baseline"] == version for r in runs)
    assert runs[1]["config_delta"] == {"model.qk_norm": True, "seed": 1}
    with open_lab(lab) as opened:
        assert len(opened.runs.list(kind="smoke", status="finished")) == 2
        assert opened.questions.get(qid).status == "running"

    code, _, err = cli(lab, "baseline", "promote", "small", "--from", qid)
    assert code != 0 and "only a question answered yes" in err
    proposal = ok(lab, "decide", qid)
    assert proposal["proposed"] == "yes" and proposal["decision_page"] is None
    decided = ok(lab, "decide", qid, "--conclusion", "QK-norm lowers val_loss by 0.2")
    assert decided["decision_page"]["kind"] == "decision"
    shown = ok(lab, "question", "show", qid)
    assert shown["status"] == "answered" and shown["answer"] == "yes"

    new = ok(lab, "baseline", "promote", "small", "--from", qid)
    assert new["parent"] == version and new["config"]["model"]["qk_norm"] is True
    assert new["version"] == version + ".2"
    for seed in (0, 1):
        run_script(lab, script, "--baseline", new["version"], "--kind", "baseline", "--set",
                   f"seed={seed}")
    history = ok(lab, "baseline", "history", "small")
    assert [v["version"] for v in history] == [version, new["version"]]
    assert history[1]["features"][0]["question_id"] == qid
    assert history[1]["check"]["status"] == "ok"
    assert ok(lab, "baseline", "show", "small")["version"] == new["version"]
    by_id = {i["id"]: i for i in ok(lab, "idea", "list", "--all")}
    assert by_id[idea["id"]]["status"] == "adopted"

    pages = ok(lab, "notebook")
    kinds = [p["kind"] for p in pages]
    assert kinds.count("result") >= 7 and kinds.count("decision") == 2
    assert [p["number"] for p in pages] == list(range(1, len(pages) + 1))
    note = ok(lab, "note", "the smoke failure was on purpose", "--corrects", "1")
    assert note["kind"] == "correction" and note["corrects"] == 1
    assert ok(lab, "notebook", "--question", qid)
    ok(lab, "notebook", "export", str(tmp_path / "vault"))
    files = {p.name: p.read_text() for p in (tmp_path / "vault").iterdir()}
    question_file = next(text for name, text in files.items() if name.startswith(qid))
    assert "[[lab-notebook]]" in question_file and "## page-" in question_file
    assert "#page-1]]" in files["lab-notebook.md"]
    decision = next(p for p in ok(lab, "notebook") if p["kind"] == "decision")
    evidence = decision["data"]["evidence_page"]
    assert f"Evidence [[{qid} " in question_file and f"#page-{evidence}]]" in question_file
    assert "Run `" in question_file


def test_status_shows_overdue_questions_and_unfinished_runs(setup: tuple[Path, Path]) -> None:
    lab, _script = setup
    q = ok(lab, "question", "new", "quick?", "--rule", "val_loss <= 3", "--timebox", "1s")
    code, _, _ = cli(lab, "run", "--json", "--yes", "--question", q["id"], "--set",
                     "+steps=10", "--", sys.executable, "-c",
                     "import stepstone; r = stepstone.init(config={'steps': 10}); "
                     "r.log({'x': 1.0}, step=3); r.finish()")
    assert code == 0
    import time

    time.sleep(1.1)
    status = ok(lab, "status")
    assert status["method"]["overdue_questions"][0]["id"] == q["id"]
    cut = status["needs_attention"]
    assert cut and "not a finished result" in cut[0]["reason"]
    proposal = ok(lab, "decide", q["id"])
    assert proposal["proposed"] == "inconclusive"
    assert any("learning-rate schedule" in f for f in proposal["flags"])
    ok(lab, "abandon", cut[0]["id"], "--reason", "cut short on purpose")
    assert not ok(lab, "status")["needs_attention"]


def sdk_run(lab: Path, *, version: str, loss: float, seed: int, kind: str = "baseline",
            project: str = "t", name: str | None = None) -> str:
    import stepstone

    run = stepstone.init(project=project, name=name, lab=lab, kind=kind, baseline=version,
                         config={"seed": seed})
    run.summary["val_loss"] = loss
    run.finish()
    return run.id


def test_a_regressed_promotion_is_flagged_in_status_show_and_history(
        setup: tuple[Path, Path], tmp_path: Path) -> None:
    lab, _script = setup
    parent = ok(lab, "baseline", "create", "small", "--config", str(tmp_path / "small.yaml"),
                "--metric", "val_loss")["version"]
    for seed, loss in ((0, 3.0), (1, 3.01)):
        sdk_run(lab, version=parent, loss=loss, seed=seed)
    qid = ok(lab, "question", "new", "QK-norm?", "--rule", "val_loss <= baseline - 0.1",
             "--baseline", "small")["id"]
    ok(lab, "plan", "--baseline", "small", "--set", "model.qk_norm=true", "--question", qid)

    # no runs of its own: the proposal is inconclusive, and --answer overrides it
    decided = ok(lab, "decide", qid, "--conclusion", "taken from the paper's ablation",
                 "--answer", "yes")
    assert decided["proposed"] == "inconclusive"
    page = decided["decision_page"]
    assert page["data"] == {"answer": "yes", "proposed": "inconclusive", "overridden": True,
                            "evidence_page": page["number"] - 1}
    assert "overrides the proposal inconclusive" in page["body"]
    question = ok(lab, "question", "show", qid)
    assert (question["status"], question["answer"], question["proposed"],
            question["overridden"]) == ("answered", "yes", "inconclusive", 1)

    child = ok(lab, "baseline", "promote", "small", "--from", qid)["version"]
    for seed, loss in ((0, 3.5), (1, 3.51)):
        sdk_run(lab, version=child, loss=loss, seed=seed)

    status = ok(lab, "status")
    assert [b["version"] for b in status["method"]["regressed_baselines"]] == [child]
    code, out, _ = cli(lab, "status")
    assert code == 0 and f"baseline {child} regressed: REGRESSED val_loss: 3.505" in out
    assert ok(lab, "baseline", "show", "small")["check"]["status"] == "regressed"
    code, out, _ = cli(lab, "baseline", "show", "small")
    assert code == 0 and out.splitlines()[0].startswith(f"{child}  (parent: {parent})  REGRESSED")
    history = ok(lab, "baseline", "history", "small")
    assert [v["check"]["status"] for v in history] == ["root", "regressed"]
    code, out, _ = cli(lab, "baseline", "history", "small")
    flagged = [line for line in out.splitlines() if "REGRESSED" in line]
    assert code == 0 and len(flagged) == 1 and flagged[0].startswith(child)


def test_a_promotion_within_noise_is_not_flagged(setup: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    lab, _script = setup
    parent = ok(lab, "baseline", "create", "small", "--config", str(tmp_path / "small.yaml"),
                "--metric", "val_loss")["version"]
    child = ok(lab, "baseline", "create", "small", "--config", str(tmp_path / "small.yaml"),
               "--metric", "val_loss")["version"]
    for seed, (mine, theirs) in enumerate(((3.0, 3.0), (3.02, 3.01))):
        sdk_run(lab, version=parent, loss=theirs, seed=seed)
        sdk_run(lab, version=child, loss=mine, seed=seed)
    assert ok(lab, "status")["method"]["regressed_baselines"] == []
    check = ok(lab, "baseline", "show", child)["check"]
    assert check["status"] == "ok" and check["by"] < check["noise"]


def test_question_abandon(setup: tuple[Path, Path]) -> None:
    lab, _script = setup
    qid = ok(lab, "question", "new", "worth it?", "--rule", "val_loss <= 3")["id"]
    code, _, err = cli(lab, "question", "abandon", qid, "--reason", "  ")
    assert code != 0 and "needs a reason" in err
    assert ok(lab, "question", "show", qid)["status"] == "open"
    gone = ok(lab, "question", "abandon", qid, "--reason", "superseded by q2")
    assert (gone["status"], gone["reason"]) == ("abandoned", "superseded by q2")
    assert gone["answered_at"] is not None
    code, _, err = cli(lab, "question", "abandon", qid, "--reason", "again")
    assert code != 0 and f"question {qid} is already abandoned" in err
    code, _, err = cli(lab, "decide", qid, "--conclusion", "late")
    assert code != 0 and "already abandoned" in err
    assert [q["id"] for q in ok(lab, "question", "list", "--status", "abandoned")] == [qid]
    assert ok(lab, "question", "list", "--status", "open") == []


def test_runs_filters(setup: tuple[Path, Path], tmp_path: Path) -> None:
    lab, _script = setup
    version = ok(lab, "baseline", "create", "small", "--config",
                 str(tmp_path / "small.yaml"))["version"]
    alpha = sdk_run(lab, version=version, loss=1.0, seed=0, project="a", name="alpha-1")
    beta = sdk_run(lab, version=version, loss=1.0, seed=0, project="b", name="beta-1")
    alpha2 = sdk_run(lab, version=version, loss=1.0, seed=1, project="b", name="alpha-2")
    with open_lab(lab) as opened:
        opened.runs.update(beta, status="failed", reason="exit code 1")

    def ids(*args: str) -> list[str]:
        return sorted(r["id"] for r in ok(lab, "runs", *args))

    assert ids() == sorted([alpha, beta, alpha2])
    assert ids("--status", "failed") == [beta]
    assert ids("--status", "finished") == sorted([alpha, alpha2])
    assert ids("--project", "b") == sorted([beta, alpha2])
    assert ids("--name", "alpha") == sorted([alpha, alpha2])
    assert ids("--project", "b", "--name", "alpha") == [alpha2]
    assert ids("--project", "b", "--status", "finished", "--name", "beta") == []
    code, _, err = cli(lab, "runs", "--status", "lost")
    assert code != 0 and "lost" in err
