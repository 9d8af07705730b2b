"""`decide` on a gain rule: gains computed from the baseline's own runs and the question's rungs."""

from __future__ import annotations

import pytest

import stepstone
from stepstone.method import baselines, decide, questions
from stepstone.store import open_lab

E, A, ALPHA = 1.7, 40.0, 0.1  # L(C) = E + A * C^-alpha, the baseline's true law


def loss_at(compute: float) -> float:
    return E + A * compute ** -ALPHA


def log_run(lab, *, kind, version, question, compute, loss, seed=0):
    run = stepstone.init(project="g", lab=lab, kind=kind, baseline=version, question=question,
                         config={"seed": seed, "rung": f"{compute:.0e}"})
    run.summary.update({"flops": compute, "val_loss": loss, "flops_method": "measured"})
    run.finish()


@pytest.mark.parametrize(
    "speedup, answer",
    [(2.0, "yes"), (0.5, "no")],
    ids=["feature-reaches-the-loss-at-half-compute", "feature-needs-twice-the-compute"],
)
def test_gain_rule_is_decided_from_recorded_runs(lab, speedup, answer):
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"model": {"width": 8}, "seed": 0})["version"]
        q = questions.create(opened, "does the feature save compute?", metrics=["val_loss"],
                             rule="gain >= 1.05 at every rung", baseline="small")
    for c in (1e15, 3e15, 1e16, 3e16, 1e17, 3e17):
        log_run(lab, kind="baseline", version=version, question=None, compute=c,
                loss=loss_at(c))
    for c in (1e15, 1e16, 1e17):
        # the feature spends c and reaches the loss the baseline reaches with speedup * c
        log_run(lab, kind="feature", version=version, question=q["id"], compute=c,
                loss=loss_at(speedup * c))
    with open_lab(lab) as opened:
        proposal, recorded = decide.decide(opened, q["id"])
    assert recorded is None
    assert proposal.answer == answer, (proposal.verdict.reasons, proposal.flags)
    assert len(proposal.gains) == 3
    for value, low, high in proposal.gains.values():
        assert value == pytest.approx(speedup, rel=1e-3)
        assert low <= value <= high


def test_gain_rule_without_baseline_runs_is_inconclusive(lab):
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"seed": 0})["version"]
        q = questions.create(opened, "q", metrics=["val_loss"],
                             rule="gain >= 1.05 at every rung", baseline="small")
    log_run(lab, kind="feature", version=version, question=q["id"], compute=1e15, loss=3.0)
    with open_lab(lab) as opened:
        proposal, _ = decide.decide(opened, q["id"])
    assert proposal.answer == "inconclusive"
    assert any("cannot be fitted" in f for f in proposal.flags)
