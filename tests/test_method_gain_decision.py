"""`decide` on a gain rule: gains computed from the baseline's own runs and the question's rungs."""

from __future__ import annotations

import pytest

import stepstone
from stepstone.method import baselines, decide, questions
from stepstone.store import open_lab

E, A, ALPHA = 1.7, 40.0, 0.1  # L(C) = E + A * C^-alpha, the baseline's true law


def loss_at(compute: float) -> float:
    return E + A * compute ** -ALPHA


def log_run(lab, *, kind, version, question, compute, loss, seed=0, rung=None):
    run = stepstone.init(project="g", lab=lab, kind=kind, baseline=version, question=question,
                         config={"seed": seed, "rung": rung or f"{compute:.0e}"})
    run.summary.update({"flops": compute, "val_loss": loss, "flops_method": "measured"})
    run.finish()


@pytest.mark.parametrize(
    "speedup, floor, answer",
    [(2.0, 0.002, "yes"), (0.5, 0.002, "no"), (2.0, None, "inconclusive")],
    ids=["feature-reaches-the-loss-at-half-compute", "feature-needs-twice-the-compute",
         "one-seed-without-a-noise-floor"],
)
def test_gain_rule_is_decided_from_recorded_runs(lab, speedup, floor, answer):
    """One seed per rung: its seed noise is the baseline's noise floor; without one the gain
    interval ignores seed noise and cannot settle the rule (defect: one seed counted exact)."""
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"model": {"width": 8}, "seed": 0}).version
        q = questions.create(opened, "does the feature save compute?", metrics=["val_loss"],
                             rule="gain >= 1.05 at every rung", baseline="small").question
        if floor is not None:
            opened.baselines.record_noise(version, metric="val_loss", sd=floor, n=3, rung=None,
                                          runs=("a", "b", "c"))
    for c in (1e15, 3e15, 1e16, 3e16, 1e17, 3e17):
        log_run(lab, kind="baseline", version=version, question=None, compute=c,
                loss=loss_at(c))
    for c in (1e15, 1e16, 1e17):
        # the feature spends c and reaches the loss the baseline reaches with speedup * c
        log_run(lab, kind="feature", version=version, question=q.id, compute=c,
                loss=loss_at(speedup * c))
    with open_lab(lab) as opened:
        proposal, recorded = decide.decide(opened, q.id)
    assert recorded is None
    assert proposal.answer == answer, (proposal.verdict.reasons, proposal.flags)
    if floor is None:
        assert "the interval ignores seed noise" in proposal.verdict.reasons[0]
    assert len(proposal.gains) == 3
    for value, low, high in proposal.gains.values():
        assert value == pytest.approx(speedup, rel=1e-3)
        assert low <= value <= high


def test_gain_rule_without_baseline_runs_is_inconclusive(lab):
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"seed": 0}).version
        q = questions.create(opened, "q", metrics=["val_loss"],
                             rule="gain >= 1.05 at every rung", baseline="small").question
    log_run(lab, kind="feature", version=version, question=q.id, compute=1e15, loss=3.0)
    with open_lab(lab) as opened:
        proposal, _ = decide.decide(opened, q.id)
    assert proposal.answer == "inconclusive"
    assert any(f.startswith("gain evidence missing: no baseline law") and
               "no finished runs of its own" in f for f in proposal.flags), proposal.flags


def test_gain_rule_with_too_few_baseline_runs_says_the_law_cannot_be_fitted(lab):
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"seed": 0}).version
        q = questions.create(opened, "q", metrics=["val_loss"],
                             rule="gain >= 1.05 at every rung", baseline="small").question
    for c in (1e15, 1e16):
        log_run(lab, kind="baseline", version=version, question=None, compute=c,
                loss=loss_at(c))
    log_run(lab, kind="feature", version=version, question=q.id, compute=1e15, loss=3.0)
    with open_lab(lab) as opened:
        proposal, _ = decide.decide(opened, q.id)
    assert proposal.answer == "inconclusive"
    assert any("cannot be fitted" in f for f in proposal.flags), proposal.flags


def log_seed(lab, *, version, question, n_params, compute, loss, seed):
    """A feature run whose rung is its ``n_params`` (no ``rung`` key)."""
    run = stepstone.init(project="g", lab=lab, kind="feature", baseline=version,
                         question=question, config={"seed": seed})
    run.summary.update({"flops": compute, "val_loss": loss, "n_params": n_params})
    run.finish()


def test_decide_report_and_dashboard_agree_on_every_rung_with_two_seeds(lab):
    """Two seeds per rung (one at 1.5x, one at 2.5x): decide's rule, the report and the
    scaling page read one seed-averaged gain per rung from stepstone.method.evidence; the
    question has only a gain rule (metrics ["gain"]), so the loss is the baseline's metric;
    an integer-valued float n_params (1e7) is the same rung as the int."""
    pytest.importorskip("fastapi")
    from stepstone.method import evidence
    from stepstone.report import build_report
    from stepstone.web.analysis import scaling_data

    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"seed": 0},
                                   reference_metric="val_loss").version
        q = questions.create(opened, "does the feature save compute?", metrics=["gain"],
                             rule="gain >= 1.05 at every rung", baseline="small").question
    for c in (1e15, 3e15, 1e16, 3e16, 1e17, 3e17):
        log_run(lab, kind="baseline", version=version, question=None, compute=c,
                loss=loss_at(c))
    for n, c in ((1e7, 1e15), (1e8, 1e16), (1e9, 1e17)):
        log_seed(lab, version=version, question=q.id, n_params=int(n), compute=c,
                 loss=loss_at(1.5 * c), seed=0)
        log_seed(lab, version=version, question=q.id, n_params=n, compute=c,
                 loss=loss_at(2.5 * c), seed=1)
    with open_lab(lab) as opened:
        assert evidence.loss_metric(opened, opened.questions.get(q.id), version) == "val_loss"
        proposal = decide.gather(opened, q.id)
        report = build_report(opened, q.id, n_bootstrap=evidence.N_BOOTSTRAP)
        page = scaling_data(opened, q.id)
    labels = ["10000000", "100000000", "1000000000"]
    # two seeds this far apart (t with 1 degree of freedom) leave every rung unsettled
    assert proposal.answer == "inconclusive", (proposal.verdict.reasons, proposal.flags)
    assert report.metric == page["metric"] == "val_loss"
    rows = {row.rung.label: row for row in report.gain.rows}
    rungs = {r["label"]: r for r in page["gain"]["rungs"]}
    assert sorted(proposal.gains, key=int) == sorted(rows, key=int) == labels
    assert sorted(rungs, key=int) == labels
    for label in labels:
        value, low, high = proposal.gains[label]
        assert 1.5 * 1.02 < value < 2.5 * 0.98  # the seeds averaged, not the last seed alone
        assert rows[label].rung.gain == pytest.approx(value, rel=1e-12)
        assert rungs[label]["gain"] == pytest.approx(value, rel=1e-12)
        assert (rows[label].rung.ci_low, rows[label].rung.ci_high) == pytest.approx((low, high))
        assert (rungs[label]["low"], rungs[label]["high"]) == pytest.approx((low, high))
        assert len(rows[label].runs) == len(rungs[label]["runs"]) == 2
    assert len(page["feature_points"]) == 6
    assert sorted({p["rung"] for p in page["feature_points"]}, key=int) == labels
    assert len(page["baseline_points"]) == 6


def _plan(opened, question, rungs):
    """A ladder planned for ``question`` with one run per rung (config ``rung``)."""
    opened.plans.save(
        {"id": f"plan-{question}", "kind": "ladder", "name": "ladder", "project": "g",
         "base_config": {}, "command": ["python", "train.py"], "question_id": question},
        [{"idx": i, "label": f"rung={r}", "overrides": [f"rung={r}"], "config": {"rung": r},
          "config_delta": {"rung": r}} for i, r in enumerate(rungs)])


def test_every_rung_ranges_over_the_planned_rungs_and_abandoned_runs_are_named(lab):
    """Defects: a question whose top rung never ran was 'yes at every rung'; an abandoned run
    dropped silently."""
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"seed": 0}).version
        q = questions.create(opened, "q", metrics=["val_loss"], rule="val_loss <= 3 at every rung",
                             baseline="small").question
        _plan(opened, q.id, ["r1", "r2", "r3"])
    for rung in ("r1", "r2"):
        for seed in range(3):
            run = stepstone.init(project="g", lab=lab, kind="feature", baseline=version,
                                 question=q.id, config={"seed": seed, "rung": rung})
            run.summary.update({"val_loss": 2.0 + 0.01 * seed})
            run.finish()
    gone = stepstone.init(project="g", lab=lab, kind="feature", baseline=version,
                          question=q.id, config={"seed": 0, "rung": "r3"})
    with open_lab(lab) as opened:
        opened.runs.update(gone.id, status="abandoned", reason="diverged")
        proposal = decide.gather(opened, q.id)
    reasons = proposal.verdict.reasons
    assert proposal.answer == "inconclusive", reasons
    assert any("at rung r3: inconclusive (a planned run (rung r3) is missing)" in r
               for r in reasons), reasons
    assert f"run {gone.id} at rung r3, seed 0 was abandoned (diverged): left out" in reasons


def test_worst_bucket_is_answered_from_evaluation_records(lab):
    """Defect: `worst bucket of` was always inconclusive (records built without buckets)."""
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"seed": 0}).version
        q = questions.create(opened, "q", metrics=["val_loss"],
                             rule="worst bucket of qa >= 0.6", baseline="small").question
    for seed in range(2):
        run = stepstone.init(project="g", lab=lab, kind="feature", baseline=version,
                             question=q.id, config={"seed": seed, "rung": "r1"})
        run.log_eval([{"id": i, "correct": i % 10 < (9 if i % 2 else 8),
                       "difficulty": "hard" if i % 2 else "easy"} for i in range(400)],
                     name="qa")
        run.summary.update({"val_loss": 2.0})
        run.finish()
    with open_lab(lab) as opened:
        proposal = decide.gather(opened, q.id)
    assert proposal.answer == "yes", proposal.verdict.reasons
    assert "tightest 'easy'" in proposal.verdict.reasons[0]
    assert "Wilson" in proposal.verdict.reasons[0]


def test_a_law_with_as_many_parameters_as_points_claims_no_certainty(lab):
    """Defect: a 3-parameter law on 3 points gave zero-width gains and a confident answer."""
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"seed": 0}).version
        q = questions.create(opened, "q", metrics=["val_loss"],
                             rule="gain >= 1.05 at every rung", baseline="small").question
        opened.baselines.record_noise(version, metric="val_loss", sd=0.002, n=3, rung=None,
                                      runs=("a", "b", "c"))
    for c in (1e15, 1e16, 1e17):
        log_run(lab, kind="baseline", version=version, question=None, compute=c,
                loss=loss_at(c))
        log_run(lab, kind="feature", version=version, question=q.id, compute=c,
                loss=loss_at(2 * c))
    with open_lab(lab) as opened:
        proposal = decide.gather(opened, q.id)
    assert proposal.answer == "inconclusive"
    assert "3 parameters fitted to 3 points" in proposal.verdict.reasons[0]
    for _value, low, high in proposal.gains.values():
        assert (low, high) == (0.0, float("inf"))


def test_an_inconclusive_gain_rule_says_what_seeds_would_settle_it(lab):
    """Item 5: seeds per rung for 80% power at the rule's threshold, and the ladder command."""
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"seed": 0}).version
        q = questions.create(opened, "q", metrics=["val_loss"],
                             rule="gain >= 1.05 at every rung", baseline="small").question
        opened.questions.update(q.id, feature_keys=["norm"], feature_delta={"norm": True})
        _plan(opened, q.id, ["r1", "r2", "r3"])
    for c in (1e15, 3e15, 1e16, 3e16, 1e17, 3e17):
        log_run(lab, kind="baseline", version=version, question=None, compute=c,
                loss=loss_at(c))
    for rung, c in (("r1", 1e15), ("r2", 1e16), ("r3", 1e17)):
        for seed, shift in ((0, -0.004), (1, 0.004)):
            log_run(lab, kind="feature", version=version, question=q.id, compute=c,
                    loss=loss_at(1.4 * c) + shift, seed=seed, rung=rung)
    with open_lab(lab) as opened:
        proposal = decide.gather(opened, q.id)
    assert proposal.answer == "inconclusive", proposal.verdict.reasons
    settle = proposal.settle
    assert settle is not None and settle.seeds is not None and settle.seeds > 2
    assert settle.command is not None
    assert settle.command.startswith(
        f"stepstone ladder --baseline small --set norm=true --question {q.id} --rungs ")
    fresh = "2" if settle.seeds == 3 else f"2-{settle.seeds - 1}"  # seeds 0 and 1 ran
    assert "--rungs 'rung=r1; rung=r2; rung=r3'" in settle.command
    assert f"--seeds {fresh} --only r1,r2,r3 -- " in settle.command
    assert settle.command.endswith(" -- python train.py")
    assert proposal.to_dict()["settle"]["seeds_per_rung"] == settle.seeds


def test_plan_shows_the_minimum_detectable_gain_of_the_ladder(lab, capsys):
    """Item 5: before launch, `plan --question` sizes the ladder at the baseline's rungs."""
    import json

    from stepstone.cli import main

    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"norm": False, "seed": 0}).version
        q = questions.create(opened, "q", metrics=["val_loss"], rule="gain >= 1.05 at every rung",
                             baseline="small").question
        opened.baselines.record_noise(version, metric="val_loss", sd=0.01, n=3, rung=None,
                                      runs=("a", "b", "c"))
    for i, c in enumerate((1e15, 3e15, 1e16, 3e16, 1e17, 3e17)):
        log_run(lab, kind="baseline", version=version, question=None, compute=c,
                loss=loss_at(c) + 0.002 * (-1) ** i)
    found = {}
    for seeds in (1, 4):
        main(["plan", "--baseline", "small", "--set", "norm=true", "--feature", "norm",
              "--question", q.id, "--seeds", str(seeds), "--json", "--lab", str(lab)])
        out = json.loads(capsys.readouterr().out)["detectable"]
        assert out["threshold"] == 1.05 and out["seeds_per_rung"] == seeds and out["note"] == ""
        found[seeds] = [r["min_detectable_gain"] for r in out["rungs"]]
        assert len(found[seeds]) == 6 and all(g > 1.05 for g in found[seeds])
    assert all(four < one for one, four in zip(found[1], found[4], strict=True))
    main(["plan", "--baseline", "small", "--set", "norm=true", "--feature", "norm",
          "--question", q.id, "--lab", str(lab)])
    assert "minimum detectable gain (80% power, gain >= 1.05, 1 seed(s) per rung):" in \
        capsys.readouterr().out


def test_an_inconclusive_metric_rule_says_what_seeds_would_settle_it(lab):
    with open_lab(lab) as opened:
        baselines.create(opened, "small", {"seed": 0})
        q = questions.create(opened, "q", metrics=["val_loss"],
                             rule="val_loss <= 2.5 at every rung", baseline="small").question
        _plan(opened, q.id, ["r1", "r2"])
    for rung in ("r1", "r2"):
        for seed, loss in ((0, 2.46), (1, 2.50)):
            run = stepstone.init(project="g", lab=lab, kind="feature", question=q.id,
                                 config={"seed": seed, "rung": rung})
            run.summary.update({"val_loss": loss})
            run.finish()
    with open_lab(lab) as opened:
        proposal = decide.gather(opened, q.id)
    assert proposal.answer == "inconclusive", proposal.verdict.reasons
    settle = proposal.settle
    assert settle is not None and settle.seeds is not None and settle.seeds >= 3
    assert settle.rungs == ("r1", "r2")
    assert settle.command is not None and "--only r1,r2 -- python train.py" in settle.command
