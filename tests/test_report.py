"""`stepstone report`: a question's write-up as Markdown and self-contained HTML with figures.

The lab: an idea → a question with the rule "gain >= 1.05 at every rung" → a baseline with
its own runs at 5 sizes on a known compute law → feature runs at 4 sizes that reach the
baseline's loss with 1/1.3 of the compute (the top one beyond the fitted range), per-example
evaluation records for one run of each arm (one bucket thin), and one abandoned run.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import stepstone
from stepstone.cli import main
from stepstone.method import baselines, decide, ideas, notebook, preflight, questions
from stepstone.method import runs as run_rules
from stepstone.report import SECTIONS, Report, build_report, render_html, render_markdown
from stepstone.sdk.capture import capture_all as real_capture_all
from stepstone.store import init_lab
from stepstone.store.lab import open_lab

CE, CA, CALPHA = 1.7, 2000.0, 0.15
GAIN = 1.3
BOOT = "40"  # bootstrap refits: enough for an interval, fast


def law(c: float) -> float:
    return float(CE + CA * c ** (-CALPHA))


@pytest.fixture(autouse=True)
def _no_environment_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    """Code/git/environment capture is tested elsewhere; here it only slows each run down."""
    monkeypatch.setattr("stepstone.sdk.capture.capture_all",
                        lambda *a, **k: SimpleNamespace(objects=[], fields={}))


def _records(shift: float) -> list[dict[str, Any]]:
    out = []
    for i in range(130):
        level = ("easy", "medium", "hard")[i % 3] if i < 125 else "expert"  # expert: thin
        base = {"easy": 0.9, "medium": 0.7, "hard": 0.4, "expert": 0.5}[level]
        out.append({"id": f"ex{i}", "score": base + shift + 0.01 * ((i * 7) % 5 - 2),
                    "difficulty": level})
    return out


def _run(root: Path, version: str, summary: dict[str, Any], *, kind: str, qk_norm: bool,
         question: str | None = None, evals: list[dict[str, Any]] | None = None, fail: bool = False,
         name: str | None = None) -> str:
    run = stepstone.init(project="p", lab=root, kind=kind, question=question, baseline=version,
                         name=name, config={"model": {"qk_norm": qk_norm, "width": 64},
                                            "seed": 0})
    run.summary.update(summary)
    if evals is not None:
        run.log_eval(evals)
    run_id = run.id
    run.finish(exit_code=1 if fail else 0)
    return run_id


@dataclasses.dataclass
class Setup:
    root: Path
    qid: str
    version: str
    abandoned: str
    feature_runs: list[str]


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    root = tmp_path / "proj"
    init_lab(root)
    with open_lab(root) as lab:
        idea = ideas.add(lab, "QK-norm", source="arxiv:2302.05442", cost="3h", signal="high")
        version = baselines.create(lab, "small", {"model": {"qk_norm": False, "width": 64},
                                                  "seed": 0},
                                   reference_metric="val_loss").version
        qid = questions.create(lab, "Does QK-norm <script>alert(1)</script> help?",
                               rule="gain >= 1.05 at every rung", metrics=["val_loss"],
                               idea=idea.idea.id, timebox="3h", baseline="small").question.id
        preflight.prepare_launch(lab, baseline="small", overrides=["model.qk_norm=true"],
                              question=qid, launching=True)
        notebook.note(lab, "Watch the <script>steal()</script> bucket", question=qid)
        # one seed per rung: its seed noise is the baseline's noise floor
        lab.baselines.record_noise(version, metric="val_loss", sd=0.001, n=3, rung=None,
                                   runs=("s0", "s1", "s2"))
    for i, c in enumerate((1e17, 1e18, 1e19, 1e20, 1e21)):
        n = int((c / 6 / 20) ** 0.5)
        noise = 1.0 + 0.0005 * ((-1) ** i)
        _run(root, version, {"n_params": n, "tokens": 20 * n, "flops": c,
                             "val_loss": law(c) * noise}, kind="baseline", qk_norm=False,
             evals=_records(0.0) if i == 4 else None)
    feature = []
    for i, c in enumerate((1e18, 1e19, 1e20, 3e21)):
        n = int((c / 6 / 20) ** 0.5)
        feature.append(_run(root, version, {"n_params": n, "tokens": 20 * n, "flops": c,
                                            "val_loss": law(GAIN * c)},
                            kind="feature", qk_norm=True, question=qid,
                            evals=_records(0.02) if i == 2 else None,
                            name="<script>alert('run')</script>" if i == 0 else None))
    abandoned = _run(root, version, {"n_params": 1000}, kind="feature", qk_norm=True,
                     question=qid, fail=True)
    with open_lab(root) as lab:
        run_rules.abandon(lab, abandoned, "diverged at step 300")
        lab.runs.update(feature[1], git_commit="0123456789abcdef0123", code_snapshot="f" * 64)
    return Setup(root, qid, version, abandoned, feature)


def cli(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = 0
    try:
        main([*args, "--lab", str(root)])
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_report_writes_markdown_html_and_figures(setup: Setup, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, text, err = cli(setup.root, capsys, "report", setup.qid, "--out", str(out),
                          "--bootstrap", BOOT, "--json")
    assert code == 0, err
    payload = json.loads(text)
    md_path, html_path = Path(payload["paths"]["markdown"]), Path(payload["paths"]["html"])
    assert md_path == out / "report.md" and html_path == out / "report.html"
    assert md_path.is_file() and html_path.is_file()
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert figures == ["fit.png", "gain.png", "stratified.png"]

    page = html_path.read_text()
    assert not re.search(r"https?://", page), "the HTML names an external URL"
    assert page.count("data:image/png;base64,") >= 2
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    assert "<link" not in page and "src=\"http" not in page

    md = md_path.read_text()
    for title in SECTIONS:
        assert f"\n## {title}\n" in md, title
        assert f"<h2>{title}</h2>" in page
    assert "](figures/fit.png)" in md and "](figures/gain.png)" in md
    assert "<script" not in md  # user text cannot inject HTML through the Markdown either

    report = payload["report"]
    caveats = "\n".join(report["caveats"])
    assert setup.abandoned in caveats and "diverged at step 300" in caveats
    assert "expert" in caveats and "thin" in caveats
    assert "extrapolation" in caveats and "3e+21" in caveats
    # the decision is decide's proposal: yes at the fitted rungs, the extrapolated one is open
    with open_lab(setup.root) as lab:
        assert report["decision"]["proposed"] == decide.gather(lab, setup.qid).answer
    reasons = "\n".join(report["decision"]["reasons"])
    assert "gain >= 1.05 at rung 91287092" in reasons and ": yes" in reasons
    assert report["gain"]["verdict"] == "stable"
    gains = [row["rung"]["gain"] for row in report["gain"]["rows"]]
    assert gains == pytest.approx([GAIN] * 4, rel=0.02)
    assert [row["extrapolated"] for row in report["gain"]["rows"]] == [False] * 3 + [True]
    assert report["fit"]["available"] and report["fit"]["n_points"] == 5
    assert {arm["arm"] for arm in report["stratified"]["arms"]} == {"baseline", "feature"}

    # setup: baseline version, the config diff, code identifiers
    assert setup.version in md and "model.qk_norm" in md
    assert "0123456789ab" in md  # the git commit of the run that recorded one
    # reproduce: every non-smoke run, with its command and its overrides against the baseline
    repro = {row["run_id"]: row for row in report["reproduce"]}
    assert set(setup.feature_runs) <= set(repro) and setup.abandoned in repro
    line = repro[setup.feature_runs[0]]["stepstone_command"]
    assert line.startswith(f"stepstone run --baseline {setup.version} --question {setup.qid}")
    assert "--set model.qk_norm=true" in line and " -- " in line
    assert repro[setup.feature_runs[1]]["git_commit"] == "0123456789abcdef0123"
    assert repro[setup.feature_runs[1]]["code_snapshot"] == "f" * 64
    baseline_line = next(r["stepstone_command"] for r in repro.values() if r["arm"] == "baseline")
    assert "--kind baseline" in baseline_line and "--set" not in baseline_line
    assert sys.executable in md  # the command as it ran (this test process)


def test_default_folder_is_in_the_lab(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, err = cli(setup.root, capsys, "report", setup.qid, "--bootstrap", BOOT)
    assert code == 0, err
    folder = setup.root / ".stepstone" / "reports" / setup.qid
    assert str(folder / "report.md") in text and str(folder / "report.html") in text
    assert (folder / "figures" / "gain.png").is_file()


def test_user_text_is_escaped_in_html(setup: Setup) -> None:
    with open_lab(setup.root) as lab:
        report = build_report(lab, setup.qid, n_bootstrap=int(BOOT))
    page = render_html(report, figures=())
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the question
    assert "&lt;script&gt;alert(&#x27;run&#x27;)&lt;/script&gt;" in page  # a run name
    assert "&lt;script&gt;steal()&lt;/script&gt;" in page  # a notebook note


def test_build_report_is_frozen_data_and_reads_only(setup: Setup) -> None:
    with open_lab(setup.root) as lab:
        pages = len(lab.notebook.pages())
        fits = len(lab.fits())
        report = build_report(lab, setup.qid, n_bootstrap=int(BOOT))
        assert len(lab.notebook.pages()) == pages and len(lab.fits()) == fits
    assert isinstance(report, Report)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.metric = "x"  # type: ignore[misc]
    json.dumps(report.to_dict(), allow_nan=False)
    assert report.question.rule == "gain >= 1.05 at every rung"
    assert report.question.idea is not None and "QK-norm" in report.question.idea
    assert [c.key for c in report.config_changes] == ["model.qk_norm"]


def test_question_without_runs_gives_reasons_not_figures(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "empty"
    init_lab(root)
    with open_lab(root) as lab:
        baselines.create(lab, "small", {"model": {"qk_norm": False}}, reference_metric="val_loss")
        qid = questions.create(lab, "Does QK-norm help?", rule="gain >= 1.05 at every rung",
                               baseline="small").question.id
    out = tmp_path / "out"
    code, text, err = cli(root, capsys, "report", qid, "--out", str(out), "--bootstrap", BOOT,
                          "--json")
    assert code == 0, err
    payload = json.loads(text)
    assert payload["paths"]["figures"] == []
    assert not list((out / "figures").glob("*.png"))
    md = (out / "report.md").read_text()
    assert "No scaling-law figure" in md and "No gain figure" in md
    assert "No stratified figure" in md
    page = (out / "report.html").read_text()
    assert page.count('class="missing"') == 3 and "data:image/png" not in page
    assert payload["report"]["decision"]["proposed"] == "inconclusive"
    assert any("no runs" in c for c in payload["report"]["decision"]["flags"])


def test_a_second_question_without_runs_in_a_busy_lab(setup: Setup) -> None:
    with open_lab(setup.root) as lab:
        qid = questions.create(lab, "Does width help?", rule="gain >= 1.05 at every rung",
                               baseline="small").question.id
        report = build_report(lab, qid, n_bootstrap=int(BOOT))
    assert report.fit.available  # the baseline's law is there ...
    assert not report.gain.available and report.gain.reason  # ... the question's rungs are not
    md = render_markdown(report, setup.root / "r" / "figures")
    assert "No gain figure" in md and "](figures/fit.png)" in md


def test_figures_without_matplotlib_are_reasons(setup: Setup,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    with open_lab(setup.root) as lab:
        report = build_report(lab, setup.qid, n_bootstrap=int(BOOT))
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    page = render_html(report)
    assert page.count("matplotlib is not installed") == 3


def test_unknown_question_is_one_line(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(setup.root, capsys, "report", "q99")
    assert code == 1 and err.startswith("error: no question 'q99'")
    assert len(err.strip().splitlines()) == 1


def test_evidence_that_cannot_be_gathered_is_a_flag(setup: Setup,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from stepstone.errors import AnalysisError

    def refuse(lab: object, qid: str) -> None:
        raise AnalysisError("the law does not fit")

    monkeypatch.setattr(decide, "gather", refuse)
    with open_lab(setup.root) as lab:
        report = build_report(lab, setup.qid, n_bootstrap=int(BOOT))
    assert report.decision.proposed == "inconclusive"
    assert "the law does not fit" in "\n".join(report.caveats)
    assert report.fit.available  # the rest of the report is still there


def test_environment_lines_come_from_a_captured_run(setup: Setup, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With capture on, the setup names the Python and the packages the run really ran with."""
    import os
    import platform
    from importlib import metadata

    import numpy
    import scipy

    from stepstone.report.provenance import PACKAGES_SHOWN
    from stepstone.sdk.run import wait_for_capture

    script = tmp_path / "code" / "train.py"  # outside any git repository: a small snapshot
    script.parent.mkdir()
    script.write_text("print('train')\n")
    monkeypatch.setattr(sys, "argv", [str(script)])
    monkeypatch.setattr("stepstone.sdk.capture.capture_all", real_capture_all)
    captured = _run(setup.root, setup.version, {"val_loss": law(1e19)}, kind="feature",
                    qk_norm=True, question=setup.qid, name="captured")
    wait_for_capture()  # finish() does not wait for it
    with open_lab(setup.root) as lab:
        assert lab.runs.get(captured).env["python"] == platform.python_version()
        report = build_report(lab, setup.qid, n_bootstrap=int(BOOT))
    code = report.code
    assert code.python == (platform.python_version(),)
    shown = dict(code.packages)
    assert shown["numpy"] == numpy.__version__ and shown["scipy"] == scipy.__version__
    assert shown["stepstone"] == metadata.version("stepstone")
    assert set(shown) <= set(PACKAGES_SHOWN)  # the summary names the packages that matter,
    assert "pytest" not in shown  # not all of the environment
    assert len(code.hardware) == 1 and f"×{os.cpu_count()}" in code.hardware[0]
    assert captured not in code.runs_without_capture
    uncaptured = set(setup.feature_runs) - {setup.feature_runs[1]}  # [1] has a git commit
    assert uncaptured <= set(code.runs_without_capture)
    md = render_markdown(report, figures=())
    assert f"- **Python:** {platform.python_version()}\n" in md
    packages_line = next(line for line in md.splitlines() if line.startswith("- **Packages:**"))
    assert f"numpy {numpy.__version__}" in packages_line
    assert f"stepstone {metadata.version('stepstone')}" in packages_line


def test_hardware_reads_as_a_line() -> None:
    from stepstone.report.build import _hardware_line

    hw = {"host": "h", "cpu": "AMD EPYC", "cpu_count": 2, "memory_gb": 23.4,
          "gpus": [{"name": "NVIDIA H100", "memory_gb": 80}] * 2}
    assert _hardware_line(hw) == "AMD EPYC ×2, 23.4 GB, NVIDIA H100 ×2"


def _section(md: str, title: str) -> str:
    """The Markdown of one section: from its heading to the next."""
    start = md.index(f"\n## {title}\n")
    end = md.find("\n## ", start + 1)
    return md[start:] if end < 0 else md[start:end]


def test_standards_show_failing_suite_checks_and_precision_lints(setup: Setup) -> None:
    from stepstone.method import suites

    # a suite on tier small that the smallest feature run misses and the others meet
    threshold = (law(GAIN * 1e18) + law(GAIN * 1e19)) / 2
    with open_lab(setup.root) as lab:
        suite = suites.create(lab, "core", {"checks": [f"val_loss <= {threshold:.6f}"]},
                              tier="small").version
        recorded = suites.check_run(lab, setup.feature_runs[1])  # one run has a recorded check
        assert recorded[0].passed
    fp16 = stepstone.init(project="p", lab=setup.root, kind="feature", question=setup.qid,
                          baseline=setup.version, name="fp16-run",
                          config={"model": {"qk_norm": True, "width": 64}, "seed": 0,
                                  "precision": "fp16", "grad_scaler": False})
    fp16.summary.update({"val_loss": law(GAIN * 1e20)})
    fp16_id = fp16.id
    fp16.finish(exit_code=0)

    with open_lab(setup.root) as lab:
        checks = len(lab.suites.checks())
        report = build_report(lab, setup.qid, n_bootstrap=int(BOOT))
        assert len(lab.suites.checks()) == checks  # the report records nothing
    s = report.standards
    assert s.tier == "small" and s.tier_suites == (suite,)
    by_run = {(r.run_id, r.suite): r for r in s.results if r.arm == "feature"}
    failing = by_run[(setup.feature_runs[0], suite)]
    assert not failing.passed and not failing.recorded
    assert failing.checks[0].value == pytest.approx(law(GAIN * 1e18))
    assert failing.checks[0].threshold == pytest.approx(threshold, rel=1e-6)
    assert by_run[(setup.feature_runs[1], suite)].recorded
    assert by_run[(setup.feature_runs[1], suite)].passed
    assert setup.abandoned not in {r.run_id for r in s.results}  # not a finished run
    assert any(r.arm == "baseline" for r in s.results)  # the tier has a suite
    [lint] = s.lints
    assert lint.run_id == fp16_id and lint.source == "config"
    assert lint.message.startswith("trains in fp16 without a gradient scaler")

    caveats = "\n".join(report.caveats)
    assert (f"run {setup.feature_runs[0]} (<script>alert('run')</script>) fails suite {suite}: "
            f"check val_loss <= {threshold:.6g} ({law(GAIN * 1e18):.6g} vs <= {threshold:.6g})"
            in caveats)
    assert not any(setup.feature_runs[1] in c and "fails suite" in c
                   for c in report.caveats)  # it passes
    assert f"run {fp16_id} (fp16-run) trains in fp16 without a gradient scaler" in caveats

    md = render_markdown(report)
    standards = _section(md, "Standards")
    assert suite in standards and "FAIL" in standards and "PASS" in standards
    assert setup.feature_runs[0][:10] in standards and f"{law(GAIN * 1e18):.6g}" in standards
    assert "not recorded: checked for this report" in standards
    assert "### Precision lints" in standards and "trains in fp16 without" in standards
    assert fp16_id[:10] in standards
    assert "<script" not in md
    page = render_html(report, figures=())
    assert '<section id="standards"><h2>Standards</h2>' in page
    assert "<script" not in page.lower()
    assert "trains in fp16 without a gradient scaler" in page


def test_standards_without_suites_say_so_in_one_line(setup: Setup) -> None:
    with open_lab(setup.root) as lab:
        report = build_report(lab, setup.qid, n_bootstrap=int(BOOT))
    assert report.standards.results == () and report.standards.lints == ()
    assert not any("fails suite" in c or "fp16" in c for c in report.caveats)
    standards = _section(render_markdown(report), "Standards")
    lines = [line for line in standards.splitlines() if "suite" in line.lower()]
    assert lines == ["No evaluation suites: tier small has none and no run of the question was "
                     "checked against one."]
    assert "No precision lints" in standards
