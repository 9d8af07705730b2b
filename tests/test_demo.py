"""`stepstone demo --reduced`: the whole method on real runs, and every artefact it claims."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stepstone.analysis.gain import VERDICTS
from stepstone.cli import cli
from stepstone.demo import FEATURE_KEY, FEATURE_VALUE, METRIC, TIER, default_out, summary_text
from stepstone.method import baselines
from stepstone.store import init_lab, open_lab

USER_ENV = ("STEPSTONE_LAB", "STEPSTONE_STORE", "STEPSTONE_RUN_ID", "STEPSTONE_SMOKE")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One reduced demo through the command line (``--json``), shared by the checks below."""
    out = tmp_path_factory.mktemp("demo") / "stepstone-demo"
    with pytest.MonkeyPatch.context() as mp:
        for name in USER_ENV:
            mp.delenv(name, raising=False)
        result = CliRunner().invoke(cli, ["demo", "--reduced", "--json", "--bootstrap", "50",
                                          "--out", str(out)])
    assert result.exit_code == 0, (result.output, result.exception)
    yield json.loads(result.stdout)


def test_every_run_finished_and_is_linked(demo: dict[str, Any]) -> None:
    with open_lab(demo["lab"]) as lab:
        runs = lab.runs.list()
        version = demo["baseline_version"]
        smoke = [r for r in runs if r.kind == "smoke"]
        base = [r for r in runs if r.kind == "baseline"]
        feature = [r for r in runs if r.kind == "rung"]
        assert len(runs) == len(smoke) + len(base) + len(feature)
        assert [r.id for r in smoke] == [demo["smoke_run"]]
        assert smoke[0].status == "finished" and smoke[0].config["smoke"] is True
        # the ladder's 4 rungs, and 3 more seeds at r2 for the noise floor
        assert sorted((r.config["rung"], r.seed) for r in base) == [
            ("r1", 0), ("r2", 0), ("r2", 1), ("r2", 2), ("r2", 3), ("r3", 0), ("r4", 0)]
        expected = {("r3", 0), ("r4", 0)}
        if demo["second_round"]["ran"]:  # fresh seeds at the rungs the power analysis named
            expected |= {(rung, seed) for rung in demo["second_round"]["rungs"]
                         for seed in demo["second_round"]["seeds"]}
        assert {(r.config["rung"], r.seed) for r in feature} == expected
        for run in base + feature:
            assert run.status == "finished", (run.id, run.status, run.reason)
            assert run.baseline == version
            assert (run.command or [])[1:] == ["-m", "stepstone.tasks.bytelm"]
            for key in ("n_params", "tokens", "flops", METRIC):
                assert run.summary[key] > 0
            assert lab.evals.names(run.id) == ["eval"]
        assert all(r.question_id is None and r.config[FEATURE_KEY] == 1 for r in base)
        assert all(r.question_id == demo["question_id"] for r in feature)
        assert all(r.config[FEATURE_KEY] == FEATURE_VALUE for r in feature)
        assert all((r.config_delta or {}).get(FEATURE_KEY) == FEATURE_VALUE for r in feature)
        # the ladders vary size and length: compute spans more than a decade
        flops = sorted(r.summary["flops"] for r in base)
        assert flops[-1] / flops[0] > 10
        for plan_id in demo["plans"].values():
            assert lab.plans.get(plan_id).status == "done"


def test_fit_gain_and_strata_are_computed(demo: dict[str, Any]) -> None:
    with open_lab(demo["lab"]) as lab:
        fit = next(f for f in lab.fits() if f.id == demo["fit_id"])
        assert fit.source == f"baseline:{demo['baseline_version']}"
        assert len(fit.run_ids) == 7
        floor = lab.baselines.noise(demo["baseline_version"], METRIC)[0]
        assert (floor.n, floor.rung, floor.sd) == (4, "r2", pytest.approx(demo["noise"]["sd"]))
    assert set(demo["law"]["params"]) == {"E", "A", "alpha"}
    assert [g["label"] for g in demo["gains"]] == ["r3", "r4"]
    for gain in demo["gains"]:
        assert gain["defined"] and gain["gain"] > 0
        if len(fit.run_ids) < 5:  # a 3-parameter law on fewer than 5 points: no interval
            assert gain["ci_low"] is None and "parameters fitted to" in gain["note"]
        else:
            assert gain["ci_low"] is not None and gain["ci_low"] <= gain["gain"]
    assert demo["trend"]["verdict"] in VERDICTS
    strata = demo["stratified"]
    assert strata["weakest"]["field"] == "position_bucket"
    assert {row["bucket"] for row in strata["rows"]} >= {"0-7", "8-31"}


def test_decision_and_notebook_pages(demo: dict[str, Any]) -> None:
    assert demo["decision"]["proposed"] in ("yes", "no", "inconclusive")
    assert demo["decision"]["reasons"]
    with open_lab(demo["lab"]) as lab:
        question = lab.questions.get(demo["question_id"])
        assert question.status == "answered"
        assert question.answer == demo["decision"]["proposed"]
        assert question.feature_delta == {FEATURE_KEY: FEATURE_VALUE}
        assert question.timebox_hours == 1.0
        assert lab.ideas.get(demo["idea_id"]).status == "tested"
        pages = lab.notebook.pages()
        kinds = {p.kind for p in pages}
        assert {"result", "decision", "plan", "note"} <= kinds
        run_pages = [p.run_id for p in pages if p.kind == "result" and p.run_id]
        # every run, smoke included, has one page, written by its launcher
        assert sorted(run_pages) == sorted(r.id for r in lab.runs.list())
    assert len(demo["pages"]) == len(pages)


def test_the_first_verdict_and_a_yes_promoted_into_the_history(demo: dict[str, Any]) -> None:
    assert demo["first_verdict"]["proposed"] in ("yes", "no", "inconclusive")
    assert demo["second_round"]["ran"] == (demo["first_verdict"]["proposed"] == "inconclusive"
                                           and bool((demo["first_verdict"].get("settle") or {})
                                                    .get("seeds_per_rung")))
    versions = [v["version"] for v in demo["history"]]
    if demo["decision"]["proposed"] == "yes":
        promoted = demo["promotion"]["version"]
        assert versions == [demo["baseline_version"], promoted]
        assert demo["history"][1]["features"] == [demo["question_id"]]
        with open_lab(demo["lab"]) as lab:
            assert lab.baselines.get(promoted).config[FEATURE_KEY] == FEATURE_VALUE
            assert any(p.title == f"Promoted {demo['question_id']} into {promoted}"
                       for p in lab.notebook.pages(kind="decision"))
        report = Path(demo["report"]["markdown"]).read_text(encoding="utf-8")
        assert f"Promoted {demo['question_id']} into {promoted}" in report
    else:
        assert versions == [demo["baseline_version"]] and demo["promotion"] == {}


def test_report_files_with_figures(demo: dict[str, Any]) -> None:
    report = demo["report"]
    markdown, html = Path(report["markdown"]), Path(report["html"])
    assert markdown.is_file() and html.is_file()
    names = sorted(Path(f).name for f in report["figures"])
    assert names == ["fit.png", "gain.png", "stratified.png"]
    for figure in report["figures"]:
        assert Path(figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = html.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3
    assert demo["question_id"] in markdown.read_text(encoding="utf-8")


def test_summary_names_everything(demo: dict[str, Any]) -> None:
    from stepstone.demo import DemoResult, stepstone_command

    text = summary_text(DemoResult(**demo))
    assert demo["decision"]["proposed"].upper() in text
    assert "First verdict: " + demo["first_verdict"]["proposed"].upper() in text
    assert "Baseline history: " + demo["baseline_version"] in text
    assert "Trend: " + demo["trend"]["verdict"] in text
    assert "weakest bucket" in text
    assert f"Notebook: {len(demo['pages'])} pages" in text
    assert demo["report"]["html"] in text
    assert demo["ui_command"] in text
    # the name this shell can run: `stepstone` on PATH, else the one beside the interpreter
    assert demo["ui_command"].startswith(f"{stepstone_command()} ui --lab ")


def test_a_lab_that_holds_a_demo_is_refused(tmp_path: Path) -> None:
    root = init_lab(tmp_path)
    with open_lab(root) as lab:
        baselines.create(lab, TIER, {"seed": 0})
    result = CliRunner().invoke(cli, ["demo", "--quiet", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "already holds a demo" in str(result.exception)


def test_the_default_folder_never_reuses_an_earlier_demo(tmp_path: Path) -> None:
    assert default_out(tmp_path) == tmp_path / "stepstone-demo"
    init_lab(tmp_path / "stepstone-demo")
    assert default_out(tmp_path) == tmp_path / "stepstone-demo-2"
    assert not os.path.exists(tmp_path / "stepstone-demo-2")
