"""`stepstone compare RUN_A RUN_B`: one run a side borrows the baseline's noise floor."""

from __future__ import annotations

import json

import pytest

import stepstone
from stepstone.cli import main
from stepstone.method import baselines
from stepstone.store import open_lab


def _run(lab, version, loss):
    run = stepstone.init(project="c", lab=lab, kind="feature", baseline=version,
                         config={"seed": 0})
    run.summary.update({"val_loss": loss})
    run.finish()
    return run.id


@pytest.mark.parametrize(("floor", "b_better"), [(0.01, True), (0.2, None), (None, True)],
                         ids=["clear", "within-the-noise", "no-noise-floor"])
def test_two_runs_get_an_interval_from_the_noise_floor(lab, capsys, floor, b_better):
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"seed": 0}).version
        if floor is not None:
            opened.baselines.record_noise(version, metric="val_loss", sd=floor, n=4, rung=None,
                                          runs=("a", "b", "c", "d"))
    a, b = _run(lab, version, 2.50), _run(lab, version, 2.40)
    main(["compare", a, b, "--metric", "val_loss", "--json", "--lab", str(lab)])
    out = json.loads(capsys.readouterr().out)
    assert out["diff"] == pytest.approx(-0.1)
    assert out["b_better"] is b_better
    if floor is None:
        assert out["ci_low"] is None and "no noise floor" in out["note"]
    else:
        assert out["ci_low"] < -0.1 < out["ci_high"]
        assert "noise floor" in out["note"]
