"""The analysis commands on a real lab: fit, gain, compare, stratify, pareto, precision."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import stepstone
from stepstone.cli import main
from stepstone.store import init_lab
from stepstone.store.lab import open_lab

E, A, B, ALPHA, BETA = 1.7, 400.0, 410.0, 0.34, 0.28
CE, CA, CALPHA = 1.7, 2000.0, 0.15  # a compute law for the gain ladder


def chinchilla(n: float, d: float) -> float:
    return E + A / n**ALPHA + B / d**BETA


def compute_law(c: float) -> float:
    return CE + CA * c ** (-CALPHA)


@pytest.fixture(autouse=True)
def _no_environment_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    """Code/git/environment capture is tested elsewhere; here it only slows each run down."""
    monkeypatch.setattr("stepstone.sdk.capture.capture_all",
                        lambda *a, **k: SimpleNamespace(objects=[], fields={}))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    init_lab(tmp_path)
    return tmp_path


def add_run(root: Path, summary: dict, *, project: str = "p", tags: list[str] | None = None,
            baseline: str | None = None, config: dict | None = None, finish: bool = True,
            evals: list[dict] | None = None) -> str:
    run = stepstone.init(project=project, lab=root, config=config or {}, tags=tags,
                         baseline=baseline)
    run.summary.update(summary)
    if evals is not None:
        run.log_eval(evals)
    run_id = run.id
    run.finish(exit_code=0 if finish else 1)
    return run_id


def cli(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    main([*args, "--lab", str(root)])
    return capsys.readouterr().out


def cli_json(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    return json.loads(cli(root, capsys, *args, "--json"))


def subprocess_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stepstone", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def chinchilla_lab(root: Path) -> Path:
    for n in (1e7, 3e7, 1e8, 3e8):
        for d in (2e8, 1e9, 5e9):
            add_run(root, {"n_params": n, "tokens": d, "val_loss": chinchilla(n, d)},
                    baseline="base")
    return root


def test_fit_chinchilla_recovers_the_law_and_stores_it(chinchilla_lab: Path, capsys) -> None:
    add_run(chinchilla_lab, {"n_params": 1e9, "tokens": 1e9, "val_loss": 2.0}, baseline="base",
            finish=False)  # failed: skipped
    out = cli_json(chinchilla_lab, capsys, "fit", "--baseline", "base", "--form", "chinchilla",
                   "--bootstrap", "50", "--budget", "1e21", "--label", "chin")
    params = {p["name"]: p["value"] for p in out["fit"]["params"]}
    assert params["E"] == pytest.approx(E, rel=1e-3)
    assert params["alpha"] == pytest.approx(ALPHA, rel=1e-3)
    assert params["beta"] == pytest.approx(BETA, rel=1e-3)
    assert out["fit"]["flops_method"] == "6ND"
    assert out["skipped"] == [{"run": out["skipped"][0]["run"], "reason": "not finished "
                                                                          "(failed)"}]
    assert len(out["run_ids"]) == 12
    assert out["compute_optimal"]["n"] > 0
    with open_lab(chinchilla_lab) as lab:
        (row,) = lab.fits("chin")
    assert row.id == out["fit_id"] and row.source == "baseline:base"
    assert row.flops_method == "6ND" and row.form == "chinchilla"


def test_fit_prints_markdown_and_latex_tables(chinchilla_lab: Path, capsys) -> None:
    text = cli(chinchilla_lab, capsys, "fit", "--baseline", "base", "--bootstrap", "50")
    assert "| parameter | value | 95% CI | bootstrap se |" in text
    assert "Held-out extrapolation" in text and "fit id:" in text
    latex = cli(chinchilla_lab, capsys, "fit", "--baseline", "base", "--bootstrap", "50",
                "--form", "power", "--table", "latex", "--no-save")
    assert r"\begin{tabular}" in latex and r"\toprule" in latex and "fit id" not in latex


def test_fit_from_csv_and_parquet(tmp_path: Path, root: Path, capsys) -> None:
    rows = [(n, d, chinchilla(n, d)) for n in (1e7, 1e8, 1e9) for d in (1e8, 1e9, 1e10)]
    csv_path = tmp_path / "ladder.csv"
    csv_path.write_text("N,D,L\n" + "\n".join(f"{n},{d},{loss}" for n, d, loss in rows))
    out = cli_json(root, capsys, "fit", "--from", str(csv_path), "--n-col", "N", "--d-col", "D",
                   "--loss-col", "L", "--form", "chinchilla", "--bootstrap", "50")
    params = {p["name"]: p["value"] for p in out["fit"]["params"]}
    assert params["alpha"] == pytest.approx(ALPHA, rel=1e-3)
    assert out["source"] == f"file:{csv_path}" and out["fit_id"]

    import pyarrow as pa
    import pyarrow.parquet as pq

    pq_path = tmp_path / "ladder.parquet"
    pq.write_table(pa.table({"flops": [6 * n * d for n, d, _ in rows],
                             "loss": [loss for *_, loss in rows]}), pq_path)
    out = cli_json(root, capsys, "fit", "--from", str(pq_path), "--bootstrap", "50",
                   "--no-save")
    assert out["fit"]["form"] == "compute" and out["fit"]["n_points"] == 9
    # a file's C column does not say how it was counted: "given", not "measured"
    assert out["fit_id"] is None and out["fit"]["flops_method"] == "given"


def test_fit_refusals_are_one_line(root: Path) -> None:
    for n in (1e7, 1e8):
        add_run(root, {"n_params": n, "tokens": 1e9, "val_loss": chinchilla(n, 1e9)},
                baseline="tiny")
    add_run(root, {"n_params": 1e9, "val_loss": 2.0}, baseline="tiny")  # no tokens, no flops
    result = subprocess_cli("fit", "--baseline", "tiny", "--bootstrap", "50", "--lab", str(root))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "skipped 1 run(s)" in lines[0]
    result = subprocess_cli("fit", "--lab", str(root))
    assert result.returncode == 2 and "--question" in result.stderr
    result = subprocess_cli("fit", "--baseline", "nobody", "--lab", str(root))
    assert result.returncode == 1 and "no runs match" in result.stderr


def _gain_lab(root: Path) -> None:
    for c in (1e17, 1e18, 1e19, 1e20, 1e21):
        n = (c / 6 / 20) ** 0.5
        add_run(root, {"n_params": n, "tokens": 20 * n, "flops": c,
                       "val_loss": compute_law(c)}, baseline="base")
    for c in (1e18, 1e19, 1e20):  # reaches the baseline's loss at half the compute
        add_run(root, {"flops": c, "val_loss": compute_law(2 * c)}, tags=["feature"])


def test_gain_is_two_for_half_compute(root: Path, capsys) -> None:
    _gain_lab(root)
    fit = cli_json(root, capsys, "fit", "--baseline", "base", "--bootstrap", "50",
                   "--label", "base-law")
    assert fit["fit"]["flops_method"] == "given"
    for ref in ("base-law", fit["fit_id"]):
        out = cli_json(root, capsys, "gain", "--baseline-fit", ref, "--tag", "feature")
        gains = [r["gain"] for r in out["gain"]["rungs"]]
        assert gains == pytest.approx([2.0, 2.0, 2.0], rel=1e-3)
        assert out["gain"]["trend"]["verdict"] == "stable"
    text = cli(root, capsys, "gain", "--baseline", "base", "--tag", "feature",
               "--bootstrap", "50")
    assert "| rung | runs | C | loss |" in text and "trend: STABLE" in text
    assert "gain(C): the compute exponents agree" in text


def test_gain_undefined_rung_and_refusal(root: Path, capsys) -> None:
    _gain_lab(root)
    add_run(root, {"flops": 3e19, "val_loss": 1.0}, tags=["feature"])  # below E
    out = cli_json(root, capsys, "gain", "--baseline", "base", "--tag", "feature",
                   "--bootstrap", "50")
    undefined = [r for r in out["gain"]["rungs"] if not r["defined"]]
    assert len(undefined) == 1 and undefined[0]["gain"] is None and undefined[0]["note"]
    result = subprocess_cli("gain", "--baseline-fit", "nope", "--tag", "feature",
                            "--lab", str(root))
    assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1


def test_compare_two_runs_and_arms(root: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    for seed in range(5):
        noise = float(rng.normal(0, 0.01))
        add_run(root, {"val_loss": 2.5 + noise, "eval/arc": 0.50 + noise},
                tags=["a"], config={"seed": seed})
        add_run(root, {"val_loss": 2.4 + noise, "eval/arc": 0.45 + noise},
                tags=["b"], config={"seed": seed})
    out = cli_json(root, capsys, "compare", "--a-tag", "a", "--b-tag", "b")
    assert out["paired"]["n"] == 5 and out["paired"]["verdict"] == "b better"
    assert out["paired"]["mean_diff"] == pytest.approx(-0.1, abs=1e-6)
    assert out["seed_variance"]["a"]["n"] == 5
    assert out["minimum_detectable_effect"] is None or out["minimum_detectable_effect"]["n"] == 5
    assert out["divergence"]["detected"] is True and out["divergence"]["worsened"] == ["eval/arc"]
    text = cli(root, capsys, "compare", "--a-tag", "a", "--b-tag", "b")
    assert "Paired comparison" in text and "DIVERGENCE" in text

    with open_lab(root) as lab:
        a_id = lab.runs.list(tag="a")[0].id
        b_id = lab.runs.list(tag="b")[0].id
    out = cli_json(root, capsys, "compare", a_id, b_id)
    assert out["diff"] == pytest.approx(-0.1, abs=0.05) and out["b_better"] is True
    assert "divergence" in out


def _eval_records(shift: float) -> list[dict]:
    rng = np.random.default_rng(1)
    recs = []
    for i in range(200):
        level = ("easy", "medium", "hard")[i % 3] if i < 190 else "expert"
        base = {"easy": 0.9, "medium": 0.7, "hard": 0.4, "expert": 0.5}[level]
        score = float(np.clip(base + shift * (level == "hard") + rng.normal(0, 0.05), 0, 1))
        recs.append({"id": f"ex{i}", "score": score, "difficulty": level})
    return recs


def test_stratify_on_logged_eval_records(root: Path, capsys) -> None:
    a = add_run(root, {}, evals=_eval_records(0.0))
    b = add_run(root, {}, evals=_eval_records(-0.2))
    out = cli_json(root, capsys, "stratify", a, "--by", "difficulty")
    assert out["weakest"]["bucket"] == "hard"
    assert "expert" in out["coverage"][0]["thin"]
    text = cli(root, capsys, "stratify", a)
    assert "**hard** (weakest)" in text and "expert (thin)" in text
    comp = cli_json(root, capsys, "stratify", b, "--by", "difficulty", "--against", a)
    assert comp["largest_regression"]["bucket"] == "hard"
    assert comp["largest_regression"]["paired"] is True
    result = subprocess_cli("stratify", add_run(root, {}), "--lab", str(root))
    assert result.returncode == 1 and "log_eval" in result.stderr


def test_pareto_from_summaries(root: Path, capsys) -> None:
    points = {"small": (0.70, 20.0), "mid": (0.80, 50.0), "big": (0.85, 150.0),
              "bad": (0.65, 60.0)}
    for name, (acc, lat) in points.items():
        add_run(root, {"eval/accuracy": acc, "latency_ms": lat, "label": name}, project="pz")
    out = cli_json(root, capsys, "pareto", "--project", "pz", "--quality", "eval/accuracy",
                   "--cost", "latency_ms", "--constraint", "latency_ms <= 100")
    front = out["pareto"]["front"]
    assert [p["quality"] for p in front] == [0.70, 0.80]
    assert len(out["pareto"]["disqualified"]) == 1
    text = cli(root, capsys, "pareto", "--project", "pz", "--quality", "eval/accuracy",
               "--cost", "latency_ms", "--table", "latex")
    assert r"\begin{tabular}" in text
    result = subprocess_cli("pareto", "--project", "pz", "--quality", "q", "--cost", "c",
                            "--constraint", "nonsense", "--lab", str(root))
    assert result.returncode == 1 and "metric op number" in result.stderr


def test_precision_of_an_array_file(tmp_path: Path, root: Path, capsys) -> None:
    values = np.concatenate([np.random.default_rng(0).normal(0, 1, 1000), [1e5, 1e-9]])
    path = tmp_path / "w.npy"
    np.save(path, values)
    out = cli_json(root, capsys, "precision", str(path), "--format", "fp16", "--format", "bf16")
    by = {f["format"]: f for f in out["report"]["formats"]}
    assert set(by) == {"fp16", "bf16"}
    assert by["fp16"]["overflow_fraction"] == pytest.approx(1 / 1002)
    assert by["bf16"]["overflow_fraction"] == 0
    text = cli(root, capsys, "precision", str(path))
    assert "| format | overflow |" in text and "| int8 |" in text
    assert "int8_per_channel" not in text  # a 1-D array has no channels
    result = subprocess_cli("precision", str(path), "--format", "fp4")
    assert result.returncode == 2 and "unknown format" in result.stderr


def test_gain_cli_and_decide_agree_with_several_seeds_per_rung(root: Path, capsys) -> None:
    """`stepstone gain --baseline V --question Q` and decide's evidence read one rung per
    rung value with its seeds averaged (not one rung per run), so gains and intervals agree."""
    from stepstone.method import baselines, evidence, questions

    with open_lab(root) as lab:
        version = baselines.create(lab, "small", {"seed": 0}).version
        q = questions.create(lab, "q", metrics=["val_loss"], rule="gain >= 1.05 at every rung",
                             baseline="small").question
    for c in (1e17, 1e18, 1e19, 1e20, 1e21):
        run = stepstone.init(project="g", lab=root, kind="baseline", baseline=version,
                             config={"rung": f"{c:.0e}"})
        run.summary.update({"flops": c, "val_loss": compute_law(c), "flops_method": "6ND"})
        run.finish()
    for c in (1e18, 1e19, 1e20):
        for seed, speedup in ((0, 1.5), (1, 2.5), (2, 2.0)):
            run = stepstone.init(project="g", lab=root, kind="rung", baseline=version,
                                 question=q.id, config={"rung": f"{c:.0e}", "seed": seed})
            run.summary.update({"flops": c, "val_loss": compute_law(speedup * c),
                                "flops_method": "6ND"})
            run.finish()
    out = cli_json(root, capsys, "gain", "--baseline", version, "--question", q.id,
                   "--bootstrap", str(evidence.N_BOOTSTRAP))
    with open_lab(root) as lab:
        _, measured = evidence.question_evidence(lab, lab.questions.get(q.id), version)
    assert measured.result is not None
    cli_rungs = out["gain"]["rungs"]
    assert [r["label"] for r in cli_rungs] == ["1e+18", "1e+19", "1e+20"]
    assert [len(r["runs"]) for r in out["rungs"]] == [3, 3, 3]
    for mine, theirs in zip(cli_rungs, measured.result.rungs, strict=True):
        assert 1.6 < mine["gain"] < 2.4  # the seeds averaged, not one seed alone
        assert mine["gain"] == pytest.approx(theirs.gain, rel=1e-12)
        assert (mine["ci_low"], mine["ci_high"]) == pytest.approx((theirs.ci_low,
                                                                    theirs.ci_high))
    assert out["gain"]["trend"] == measured.result.trend.to_dict()


def test_gain_warns_when_the_flops_estimates_differ(root: Path, capsys) -> None:
    for c in (1e17, 1e18, 1e19, 1e20, 1e21):
        add_run(root, {"flops": c, "flops_method": "6ND", "val_loss": compute_law(c)},
                baseline="base")
    for c in (1e18, 1e19, 1e20):
        add_run(root, {"flops": c, "flops_method": "kaplan", "val_loss": compute_law(2 * c)},
                tags=["feature"])
    main(["gain", "--baseline", "base", "--tag", "feature", "--bootstrap", "50", "--json",
          "--lab", str(root)])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["gain"]["flops_method"] == "6ND"
    assert out["gain"]["runs_flops_method"] == "kaplan"
    (warning,) = out["gain"]["warnings"]
    assert "kaplan" in warning and "6ND" in warning and "Count both the same way" in warning
    # the runs name a baseline the lab lacks, so the SDK warned about that link first
    warned = [line for line in captured.err.splitlines() if line.startswith("WARNING: FLOPs")]
    assert len(warned) == 1 and warned[0].startswith("WARNING: FLOPs counted differently")


def test_fit_of_a_baseline_leaves_out_the_feature_runs_that_name_it(root: Path, capsys) -> None:
    from stepstone.method import baselines

    with open_lab(root) as lab:
        version = baselines.create(lab, "small", {"seed": 0}).version
    own = []
    for c in (1e17, 1e18, 1e19, 1e20, 1e21):
        run = stepstone.init(project="g", lab=root, kind="baseline", baseline=version,
                             config={"rung": f"{c:.0e}"})
        run.summary.update({"flops": c, "val_loss": compute_law(c)})
        run.finish()
        own.append(run.id)
    for c in (1e18, 1e19):  # a feature that is 3x as efficient: it would bend the fit
        run = stepstone.init(project="g", lab=root, kind="rung", baseline=version,
                             config={"rung": f"{c:.0e}"})
        run.summary.update({"flops": c, "val_loss": compute_law(3 * c)})
        run.finish()
    out = cli_json(root, capsys, "fit", "--baseline", version, "--bootstrap", "20", "--no-save")
    assert sorted(out["run_ids"]) == sorted(own)
    assert "its own runs" in out["source"]
    assert out["fit"]["n_points"] == 5


def _eval_arms(root: Path) -> None:
    """Two arms on seeds 0-3 whose evals are linear in the seed: known means and spreads."""
    for s in range(4):
        add_run(root, {"val_loss": 2.5 + 0.01 * s, "eval/arc": 0.40 + 0.01 * s,
                       "eval/mmlu": 0.60 + 0.03 * s, "eval/loss": 1.0 + 0.01 * s},
                tags=["a"], config={"seed": s})
        add_run(root, {"val_loss": 2.4 + 0.01 * s, "eval/arc": 0.45 + 0.01 * s,
                       "eval/mmlu": 0.65 + 0.03 * s, "eval/loss": 1.2 + 0.01 * s},
                tags=["b"], config={"seed": s})


def test_compare_prints_the_average_of_the_evals_next_to_each(root: Path, capsys) -> None:
    from scipy import stats

    _eval_arms(root)
    out = cli_json(root, capsys, "compare", "--a-tag", "a", "--b-tag", "b")
    evals = out["evals"]
    # eval/loss goes down when better: shown, but not averaged with the accuracies
    assert evals["averaged"] == ["eval/arc", "eval/mmlu"]
    assert evals["not_averaged"] == ["eval/loss"]
    assert [r["name"] for r in evals["a"]["rows"]] == ["eval/arc", "eval/loss", "eval/mmlu"]
    avg_a, avg_b = evals["a"]["average"], evals["b"]["average"]
    # per seed (0.40 + 0.01 s + 0.60 + 0.03 s) / 2 = 0.50 + 0.02 s over s = 0..3
    assert avg_a["mean"] == pytest.approx(0.53)
    assert avg_b["mean"] == pytest.approx(0.58)
    sd = 0.02 * float(np.std([0, 1, 2, 3], ddof=1))
    assert avg_a["std"] == pytest.approx(sd)
    half = stats.t.ppf(0.975, 3) * sd / 2
    assert (avg_a["ci_low"], avg_a["ci_high"]) == pytest.approx((0.53 - half, 0.53 + half))
    assert "per seed" in evals["a"]["note"]
    # a rising eval/loss is a worse eval/loss: the divergence check reads its direction
    assert out["divergence"]["detected"] is True
    assert out["divergence"]["worsened"] == ["eval/loss"]
    text = cli(root, capsys, "compare", "--a-tag", "a", "--b-tag", "b")
    assert "| eval | a mean | a 95% CI | b mean | b 95% CI | b − a |" in text
    assert "| average of 2 | 0.53 |" in text and "| 0.05 |" in text
    assert "not in the average (lower is better): eval/loss" in text


def test_compare_two_runs_averages_single_numbers(root: Path, capsys) -> None:
    a = add_run(root, {"val_loss": 2.0, "eval/arc": 0.2, "eval/mmlu": 0.4})
    b = add_run(root, {"val_loss": 1.9, "eval/arc": 0.3, "eval/mmlu": 0.6})
    out = cli_json(root, capsys, "compare", a, b, "--eval", "eval/arc", "--eval", "eval/mmlu")
    assert out["evals"]["a"]["average"]["mean"] == pytest.approx(0.3)
    assert out["evals"]["b"]["average"]["mean"] == pytest.approx(0.45)
    assert out["evals"]["b"]["average"]["ci_low"] is None  # one number per eval: no interval
    out = cli_json(root, capsys, "compare", a, b, "--eval", "eval/arc")
    assert "evals" not in out  # one eval: nothing to average
    result = subprocess_cli("compare", a, b, "--eval", "eval/nope", "--lab", str(root))
    assert result.returncode == 2
    assert "--eval 'eval/nope'" in result.stderr and len(result.stderr.splitlines()) == 1


JITTER = (-0.001, 0.001, 0.0, 0.0005, -0.0005)


def _precision_lab(root: Path) -> None:
    """bf16 on seeds 0-4; fp8 0.002 and int8 0.05 below it on the same seeds (with a jitter
    of known spread); fp4 on other seeds; one run that does not say its precision."""
    for s, jitter in enumerate(JITTER):
        base = 0.80 + 0.01 * s
        for precision, drop in (("bf16", 0.0), ("fp8", 0.002), ("int8", 0.05)):
            value = base - (drop + jitter if drop else 0.0)
            add_run(root, {"eval/acc": value}, tags=["quant"],
                    config={"precision": precision, "seed": s})
    for s in (10, 11, 12):
        add_run(root, {"eval/acc": 0.70 + 0.01 * (s - 10)}, tags=["quant"],
                config={"precision": "fp4", "seed": s})
    add_run(root, {"eval/acc": 0.5}, tags=["quant"], config={"seed": 0})


def test_precision_compares_a_metric_between_precisions_over_seeds(root: Path, capsys) -> None:
    from scipy import stats

    _precision_lab(root)
    args = ("precision", "--tag", "quant", "--metric", "eval/acc", "--reference", "bf16",
            "--max-drop", "0.01")
    out = cli_json(root, capsys, *args)
    rows = {r["precision"]: r for r in out["comparison"]["rows"]}
    assert rows["bf16"]["verdict"] == "reference" and rows["bf16"]["n"] == 5
    fp8 = rows["fp8"]
    assert fp8["paired"] is True and fp8["n_paired"] == 5
    assert fp8["drop"] == pytest.approx(0.002)
    half = stats.t.ppf(0.975, 4) * float(np.std(JITTER, ddof=1)) / 5 ** 0.5
    assert (fp8["ci_low"], fp8["ci_high"]) == pytest.approx((0.002 - half, 0.002 + half))
    assert fp8["verdict"] == "accept"
    assert rows["int8"]["drop"] == pytest.approx(0.05) and rows["int8"]["verdict"] == "reject"
    assert rows["fp4"]["paired"] is False  # no seed in common with bf16: Welch
    assert len(out["runs"]["bf16"]) == 5
    assert [s["reason"] for s in out["skipped"]] == ["no config 'precision'"]
    # the other direction: a lower accuracy is then an improvement, never a drop
    lower = cli_json(root, capsys, *args, "--lower-is-better")
    assert {r["precision"]: r["drop"] for r in lower["comparison"]["rows"]}["fp8"] == \
        pytest.approx(-0.002)
    text = cli(root, capsys, *args)
    assert "| precision | seeds | mean | std | drop | drop 95% CI | test | verdict |" in text
    assert "| paired, 5 seeds | accept |" in text
    assert "skipped 1 run(s): 1 no config 'precision'" in text


@pytest.mark.parametrize("extra, message", [
    (("--metric", "eval/acc", "--max-drop", "0.01"), "--reference PRECISION"),
    (("--metric", "eval/acc", "--reference", "fp32", "--max-drop", "0.01"),
     "choose --reference among bf16, fp8, int8, fp4"),
    (("--metric", "eval/acc", "--reference", "bf16", "--max-drop", "-1"), "0 or more"),
    (("--by", "dtype", "--metric", "eval/acc", "--reference", "bf16", "--max-drop", "0.01"),
     "--by KEY"),
    (("--format", "fp16", "--metric", "eval/acc", "--reference", "bf16", "--max-drop", "0"),
     "--format and --channel-axis check an array file"),
])
def test_precision_over_runs_refuses_bad_input(root: Path, extra: tuple[str, ...],
                                               message: str) -> None:
    _precision_lab(root)
    result = subprocess_cli("precision", "--tag", "quant", *extra, "--lab", str(root))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.splitlines()) == 1


def test_precision_takes_a_file_or_runs(tmp_path: Path, root: Path) -> None:
    path = tmp_path / "w.npy"
    np.save(path, np.ones(4))
    for args in (("precision",), ("precision", str(path), "--tag", "quant"),
                 ("precision", str(path), "--metric", "eval/acc")):
        result = subprocess_cli(*args, "--lab", str(root))
        assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
        assert "array file" in result.stderr


def _mfu_lab(root: Path) -> dict[str, str]:
    """1e18 FLOPs in 1000 s and 4000 s: 1e15 and 2.5e14 FLOP/s; one run without its time."""
    return {
        "fast": add_run(root, {"eval/acc": 0.7, "flops": 1e18, "train/time_s": 1000.0},
                        project="m"),
        "slow": add_run(root, {"eval/acc": 0.8, "flops": 1e18, "train/time_s": 4000.0},
                        project="m"),
        "untimed": add_run(root, {"eval/acc": 0.9, "flops": 1e18}, project="m"),
    }


def test_pareto_mfu_from_flops_time_and_the_given_peak(root: Path, capsys) -> None:
    ids = _mfu_lab(root)
    out = cli_json(root, capsys, "pareto", "--project", "m", "--quality", "eval/acc",
                   "--cost", "flops", "--peak-flops", "2e15", "--constraint", "mfu >= 0.3")
    runs = out["mfu"]["runs"]
    assert runs[ids["fast"]]["mfu"] == pytest.approx(0.5)
    assert runs[ids["slow"]]["mfu"] == pytest.approx(0.125)
    assert runs[ids["untimed"]] == {"mfu": None, "reason": "no 'train/time_s' in summary"}
    assert [p["id"] for p in out["pareto"]["ranked"]] == [ids["fast"]]
    reasons = {d["id"]: d["reasons"] for d in out["pareto"]["disqualified"]}
    assert reasons[ids["slow"]] == ["mfu = 0.125 breaks 'mfu >= 0.3'"]
    out = cli_json(root, capsys, "pareto", "--project", "m", "--quality", "mfu",
                   "--cost", "flops", "--peak-flops", "2e15", "--devices", "2",
                   "--time-key", "train/time_s")
    assert [p["quality"] for p in out["pareto"]["ranked"]] == pytest.approx([0.25, 0.0625])
    text = cli(root, capsys, "pareto", "--project", "m", "--quality", "eval/acc",
               "--cost", "flops", "--peak-flops", "2e15")
    assert "| MFU |" in text and "| 50.0% |" in text and "| 12.5% |" in text
    text = cli(root, capsys, "pareto", "--project", "m", "--quality", "eval/acc",
               "--cost", "flops", "--peak-flops", "2e15", "--constraint", "mfu >= 0.3")
    assert "no mfu to check 'mfu >= 0.3' (no 'train/time_s' in summary)" in text


@pytest.mark.parametrize("extra, message", [
    (("--cost", "mfu", "--peak-flops", "1e15"), "not a cost"),
    (("--peak-flops", "-1"), "--peak-flops must be a positive"),
    (("--devices", "2"), "give the device's peak with --peak-flops"),
    (("--peak-flops", "1e15", "--devices", "0"), "--devices must be 1 or more"),
    (("--constraint", "mfu >= 0.3"), "no run logged 'mfu'"),
])
def test_pareto_mfu_refuses_bad_input(root: Path, extra: tuple[str, ...], message: str) -> None:
    _mfu_lab(root)
    result = subprocess_cli("pareto", "--project", "m", "--quality", "eval/acc", "--cost",
                            "flops", *extra, "--lab", str(root))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and len(result.stderr.splitlines()) == 1
