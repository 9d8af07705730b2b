"""When a run's learning-rate schedule did not complete, from real SDK runs: the logged lr
first, then a configured length against explicit steps; ambiguous evidence never flags."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import stepstone
from _cli import cli
from stepstone.method.schedule import schedule_incomplete
from stepstone.store import open_lab

PEAK, FLOOR = 1e-3, 1e-5


def cosine(step: int, total: int = 1000, floor: float = FLOOR) -> float:
    return floor + 0.5 * (PEAK - floor) * (1 + math.cos(math.pi * step / total))


def sdk_run(lab: Path, config: dict[str, Any], points: list[tuple[int | None, dict[str, float]]],
            question: str | None = None) -> str:
    """A real SDK run: ``points`` are (step or None for the default counter, values)."""
    run = stepstone.init(project="sched", lab=lab, config=config, question=question)
    for step, values in points:
        run.log(values, step=step)
    run.summary["val_loss"] = 2.0
    run.finish()
    return run.id


def verdict(lab: Path, run_id: str) -> str | None:
    with open_lab(lab) as opened:
        return schedule_incomplete(opened, opened.runs.get(run_id))


def every_100(until: int, *, explicit: bool, extra: Any = None) -> list[tuple[int | None,
                                                                            dict[str, float]]]:
    """Training steps 0, 100, … below ``until``, logged with step= or the default counter."""
    return [(s if explicit else None, {"loss": 1.0 / (s + 1), **(extra(s) if extra else {})})
            for s in range(0, until, 100)]


CASES = [
    # (id, config, points, flagged: the text the reason must hold, or None for no flag)
    ("default-counter-finished", {"steps": 1000}, every_100(1000, explicit=False), None),
    ("default-counter-cut-is-ambiguous", {"steps": 1000}, every_100(500, explicit=False), None),
    ("explicit-finished", {"steps": 1000}, every_100(1000, explicit=True), None),
    ("explicit-cut", {"steps": 1000}, every_100(500, explicit=True),
     "stopped at step 400 of 1000"),
    ("trainer-max-steps", {"trainer": {"max_steps": 1000}}, every_100(500, explicit=True),
     "trainer.max_steps = 1000"),
    ("train-steps", {"train": {"steps": 1000}}, every_100(500, explicit=True),
     "train.steps = 1000"),
    ("steps-of-another-section", {"eval": {"steps": 1000}, "model": {"steps": 1000}},
     every_100(500, explicit=True), None),
    ("lengths-that-disagree", {"total_steps": 1000, "train": {"steps": 400}},
     every_100(500, explicit=True), None),
    ("global-step-finished", {"trainer": {"max_steps": 1000}},
     every_100(1000, explicit=False, extra=lambda s: {"trainer/global_step": s + 100}), None),
    ("global-step-cut", {"trainer": {"max_steps": 1000}},
     every_100(500, explicit=False, extra=lambda s: {"trainer/global_step": s + 100}),
     "logged trainer/global_step"),
    ("train-step-cut", {"max_steps": 1000},
     every_100(300, explicit=False, extra=lambda s: {"train/step": s}),
     "stopped at step 200 of 1000"),
    ("lr-reached-min-despite-counter", {"steps": 1000, "optim": {"min_lr": FLOOR}},
     every_100(1000, explicit=False, extra=lambda s: {"lr": cosine(s + 100)}), None),
    ("lr-cut", {"steps": 1000, "optim": {"min_lr": FLOOR}},
     every_100(400, explicit=False, extra=lambda s: {"lr": cosine(s + 100)}),
     "its logged lr ended at"),
    ("lr-ratio-cut", {"scheduler": {"min_lr_ratio": 0.1}},
     every_100(400, explicit=False, extra=lambda s: {"train/lr": cosine(s, floor=PEAK / 10)}),
     "its logged train/lr ended at"),
    ("lr-in-warmup", {"optim": {"eta_min": 0.0}},
     [(None, {"learning_rate": PEAK * (s + 1) / 10}) for s in range(5)],
     "0% of the decay done"),
    ("lr-near-zero-without-floor", {"steps": 1000},
     every_100(900, explicit=True, extra=lambda s: {"lr": PEAK * (1 - s / 850)}), None),
    ("lr-undecided-falls-back-to-steps", {"steps": 1000},
     every_100(500, explicit=True, extra=lambda s: {"lr": cosine(s, floor=0.0)}),
     "stopped at step 400 of 1000"),
    ("constant-lr-falls-back-to-steps", {"steps": 1000, "min_lr": FLOOR},
     every_100(500, explicit=True, extra=lambda s: {"lr": PEAK}), "stopped at step 400"),
    ("no-length-no-lr", {"model": {"width": 8}}, every_100(500, explicit=True), None),
]


@pytest.mark.parametrize("config, points, flagged", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_schedule_rule(lab: Path, config: dict[str, Any],
                       points: list[tuple[int | None, dict[str, float]]],
                       flagged: str | None) -> None:
    why = verdict(lab, sdk_run(lab, config, points))
    if flagged is None:
        assert why is None
    else:
        assert why is not None and flagged in why and "learning-rate schedule" in why


def test_the_default_counter_no_longer_makes_a_finished_run_inconclusive(lab: Path) -> None:
    """The audit's case: config steps 1000, a log() every 100 steps with the default counter
    (last logged step 9) was flagged 'stopped at step 9 of 1000' and decide said
    inconclusive; the same script cut short with explicit steps is still caught."""
    code, out, err = cli(lab, "question", "new", "ok?", "--rule",
                         "min over seeds of val_loss <= 3", "--json")
    assert code == 0, err
    qid = json.loads(out)["id"]
    finished = sdk_run(lab, {"steps": 1000}, every_100(1000, explicit=False), question=qid)
    with open_lab(lab) as opened:
        assert opened.runs.get(finished).last_step == 9
    code, out, _ = cli(lab, "status", "--json")
    assert code == 0 and json.loads(out)["needs_attention"] == []
    code, out, _ = cli(lab, "decide", qid, "--json")
    proposal = json.loads(out)
    assert proposal["proposed"] == "yes" and proposal["flags"] == []

    cut = sdk_run(lab, {"steps": 1000}, every_100(500, explicit=True), question=qid)
    code, out, _ = cli(lab, "status", "--json")
    attention = json.loads(out)["needs_attention"]
    assert [r["id"] for r in attention] == [cut]
    assert "stopped at step 400 of 1000" in attention[0]["reason"]
    code, out, _ = cli(lab, "decide", qid, "--json")
    assert json.loads(out)["proposed"] == "inconclusive"
