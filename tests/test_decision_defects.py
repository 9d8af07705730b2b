"""Defects a statistician found in the evidence behind decisions (issue 12), one test each."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import stepstone
from _cli import cli
from stepstone.analysis import bootstrap_ci, loss_eval_divergence, mfu
from stepstone.analysis.headroom import roofline
from stepstone.method import baselines, decide, questions
from stepstone.store import open_lab

E, A, ALPHA = 1.7, 40.0, 0.1


def loss_at(compute: float) -> float:
    return E + A * compute ** -ALPHA


def log_run(lab: Path, *, kind: str, version: str | None = None, question: str | None = None,
            summary: dict | None = None, seed: int = 0, rung: str | None = None,
            evals: list[dict] | None = None) -> str:
    run = stepstone.init(project="d", lab=lab, kind=kind, baseline=version, question=question,
                         config={"seed": seed, **({"rung": rung} if rung else {})})
    run.summary.update(summary or {})
    if evals:
        run.log_eval(evals)
    run.finish()
    return run.id


# -- pass/fail records are proportions: Wilson, not a t interval on 0/1 scores --------------
def test_pass_fail_records_are_stratified_with_a_wilson_interval(lab):
    records = [{"id": f"e{i}", "correct": True, "difficulty": "easy"} for i in range(20)]
    run_id = log_run(lab, kind="eval", evals=records)
    with open_lab(lab) as opened:
        stored = opened.evals.records(run_id)
    assert stored[0].score is None and stored[0].correct is True
    code, out, err = cli(lab, "stratify", run_id, "--by", "difficulty", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["metric"] == "correct"
    # 20 of 20 correct: Wilson's interval reaches below 1; a t interval on 1.0 scores is [1, 1]
    assert report["overall"]["ci_low"] == pytest.approx(0.8389, abs=1e-3)
    assert report["overall"]["ci_high"] == pytest.approx(1.0)


# -- the bootstrap's standard deviation is the sample one ----------------------------------
def test_bootstrap_std_is_the_sample_standard_deviation():
    values = [1.0, 2.0, 4.0, 7.0]
    result = bootstrap_ci(values, statistic="std", n_resamples=200, method="percentile")
    assert result.estimate == pytest.approx(float(np.std(values, ddof=1)))


# -- the divergence check pairs seeds that pair --------------------------------------------
def test_divergence_pairs_the_seeds_both_sides_ran():
    # each seed loses 0.01 of accuracy; the seeds differ by much more than that
    before = {"val_loss": {"0": 3.0, "1": 3.1, "2": 3.2},
              "eval/acc": {"0": 0.50, "1": 0.60, "2": 0.70}}
    after = {"val_loss": {"0": 2.9, "1": 3.0, "2": 3.1},
             "eval/acc": {"0": 0.49, "1": 0.59, "2": 0.69}}
    div = loss_eval_divergence(before, after)
    change = div.changes[0]
    assert change.paired and change.worse and div.detected
    assert change.change == pytest.approx(-0.01)
    assert change.ci_low == pytest.approx(-0.01) and change.ci_high == pytest.approx(-0.01)
    unpaired = loss_eval_divergence({k: list(v.values()) for k, v in before.items()},
                                    {k: list(v.values()) for k, v in after.items()})
    assert not unpaired.changes[0].paired and not unpaired.detected  # Welch cannot see it


# -- the k-shot loss at p = 1 ---------------------------------------------------------------
def test_kshot_loss_is_zero_with_finite_gradients_at_p_one():
    torch = pytest.importorskip("torch")
    from stepstone.tasks.losses import kshot_loss

    logits = torch.tensor([[0.0, -math.inf, -math.inf], [2.0, 1.0, 0.0]], requires_grad=True)
    targets = torch.tensor([0, 1])
    loss = kshot_loss(logits, targets, k=4, reduction="none")
    assert loss[0].item() == 0.0 and math.isfinite(loss[1].item())
    loss.sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


# -- an MFU over 100% is flagged ------------------------------------------------------------
def test_mfu_over_one_hundred_percent_is_flagged():
    assert mfu(1e15, 1.0, 989e12).warning is not None
    assert "over 100%" in str(mfu(1e15, 1.0, 989e12).warning)
    assert mfu(1e14, 1.0, 989e12).warning is None
    step = roofline(flops=2e12, bytes_moved=1e9, step_time_s=1e-3, peak_flops=989e12,
                    peak_bandwidth=3.35e12)
    assert step.mfu > 1 and "over 100%" in step.verdict


def test_pareto_prints_the_impossible_mfu(lab):
    log_run(lab, kind="adhoc", summary={"flops": 1e15, "train/time_s": 1.0, "eval/acc": 0.5})
    code, out, err = cli(lab, "pareto", "--project", "d", "--quality", "eval/acc", "--cost",
                         "flops", "--peak-flops", "989e12")
    assert code == 0, err
    assert "(!)" in out and "is over 100%, which no device achieves" in out


# -- fit and gain take a tier name, and the metric of the fit or the question --------------
@pytest.fixture
def ladder(lab: Path) -> tuple[Path, str, str]:
    """Tier small (reference metric eval/loss) with six baseline runs on its law, and q1
    whose three feature runs reach the baseline's loss at twice their compute."""
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"seed": 0},
                                   reference_metric="eval/loss").version
        q = questions.create(opened, "does it save compute?", metrics=["eval/loss"],
                             rule="gain >= 1.05 at every rung", baseline="small").question
    for c in (1e15, 3e15, 1e16, 3e16, 1e17, 3e17):
        log_run(lab, kind="baseline", version=version, rung=f"{c:.0e}",
                summary={"flops": c, "eval/loss": loss_at(c)})
    for c in (1e15, 1e16, 1e17):
        log_run(lab, kind="rung", version=version, question=q.id, rung=f"{c:.0e}",
                summary={"flops": c, "eval/loss": loss_at(2 * c)})
    return lab, version, q.id


def test_fit_and_gain_accept_a_tier_name_as_plan_ladder_and_decide_do(ladder):
    lab, version, qid = ladder
    code, out, err = cli(lab, "fit", "--baseline", "small", "--bootstrap", "50",
                         "--label", "small-law", "--json")
    assert code == 0, err
    fitted = json.loads(out)
    assert len(fitted["run_ids"]) == 6 and version in fitted["source"]
    code, out, err = cli(lab, "gain", "--baseline", "small", "--question", qid,
                         "--bootstrap", "50", "--json")
    assert code == 0, err
    gains = [r["gain"] for r in json.loads(out)["gain"]["rungs"]]
    assert gains == pytest.approx([2.0, 2.0, 2.0], rel=1e-3)


def test_gain_with_a_stored_fit_reads_the_fits_metric(ladder):
    lab, _version, qid = ladder
    code, _out, err = cli(lab, "fit", "--baseline", "small", "--bootstrap", "50",
                          "--label", "small-law")
    assert code == 0, err
    with open_lab(lab) as opened:  # runs of no question: only the fit knows the metric
        opened.runs.update(opened.runs.list(question_id=qid)[0].id, question_id=None)
    ids = [r.id for r in stepstone.Api(lab).runs(kind="rung")]
    runs = [arg for i in ids for arg in ("--run", i)]
    code, out, err = cli(lab, "gain", "--baseline-fit", "small-law", *runs, "--json")
    assert code == 0, err
    assert [r["gain"] for r in json.loads(out)["gain"]["rungs"]] == pytest.approx(
        [2.0] * len(ids), rel=1e-3)


def test_gain_for_a_question_reads_the_questions_metric(ladder):
    lab, _version, qid = ladder
    code, _out, err = cli(lab, "fit", "--baseline", "small", "--bootstrap", "50",
                          "--label", "small-law", "--metric", "eval/loss", "--no-save")
    assert code == 0, err
    code, out, err = cli(lab, "gain", "--baseline", "small", "--question", qid,
                         "--bootstrap", "50", "--json")
    assert code == 0 and len(json.loads(out)["gain"]["rungs"]) == 3, err


# -- decide says why a gain is undefined ----------------------------------------------------
def test_decide_gives_the_reason_of_an_undefined_gain_not_fit_a_law(ladder):
    lab, version, qid = ladder
    log_run(lab, kind="rung", version=version, question=qid, rung="1e+18",
            summary={"flops": 1e18, "eval/loss": E - 0.5})  # below the law's floor
    with open_lab(lab) as opened:
        proposal = decide.gather(opened, qid)
    reasons = " ".join(proposal.verdict.reasons)
    assert proposal.answer != "yes"
    assert "fit the baseline's scaling law" not in reasons
    assert "the efficiency gain at rung 1e+18 is undefined: " in reasons, reasons


# -- one direction: RUN against REF, better and worse said of RUN --------------------------
def _bucket_records(hard: float) -> list[dict]:
    return [{"id": f"{level}{i}", "score": base + (hard if level == "hard" else 0.0)
             + 0.01 * (i % 3), "difficulty": level}
            for level, base in (("easy", 0.9), ("hard", 0.4)) for i in range(40)]


def test_an_improvement_is_not_called_a_regression(lab):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from stepstone.web.app import create_app

    base = log_run(lab, kind="eval", evals=_bucket_records(0.0))
    better = log_run(lab, kind="eval", evals=_bucket_records(0.2))
    code, out, err = cli(lab, "stratify", better, "--by", "difficulty", "--against", base)
    assert code == 0, err
    assert "regression:" not in out and f"no bucket where {better} is clearly worse" in out
    code, out, err = cli(lab, "stratify", base, "--by", "difficulty", "--against", better)
    assert f"regression: {base} is worse than {better} in difficulty=hard" in out
    assert "(-0.2; higher is better)" in out
    client = TestClient(create_app(lab))
    page = client.get("/api/stratified", params={"run": better, "against": base}).json()
    assert page["comparison"]["largest_regression"] is None
    hard = next(r for r in page["comparison"]["rows"] if r["bucket"] == "hard")
    assert hard["diff"] == pytest.approx(0.2) and hard["verdict"] == "b better"
    worse = client.get("/api/stratified", params={"run": base, "against": better}).json()
    with open_lab(lab) as opened:
        names = opened.runs.get(base).name, opened.runs.get(better).name
    assert worse["comparison"]["largest_regression"].startswith(
        f"{names[0]} is worse than {names[1]} in difficulty=hard: score 0.4098 against 0.6098")
