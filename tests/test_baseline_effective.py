"""Like with like: a baseline is verified and diffed against the config its runs really run
with, the task's own defaults included, once its first run has recorded them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from _cli import cli
from stepstone.configs import diff
from stepstone.errors import ConfigError
from stepstone.method import baselines as baseline_rules
from stepstone.method.preflight import prepare_launch
from stepstone.store import open_lab

DEFAULTS = {"lr": 0.003, "grad_clip": 1.0, "kshot_k": 1}  # what the task fills in itself


def _baseline_run(lab, version: str, d_model: int, delta: dict) -> None:
    now = time.time()
    run_id = f"b{d_model:07d}"
    lab.runs.create({"id": run_id, "name": run_id, "project": "t", "kind": "baseline",
                     "status": "finished", "created_at": now + d_model, "baseline": version,
                     "config_delta": delta},
                    {"steps": 40, "d_model": d_model, **DEFAULTS})


def test_a_launch_is_verified_against_the_tasks_defaults(lab: Path) -> None:
    with open_lab(lab) as opened:
        row = baseline_rules.create(opened, "small", {"steps": 40})
        version = row.version
        assert baseline_rules.effective_config(opened, row) == {"steps": 40}
        _baseline_run(opened, version, 32, {"d_model": 32})  # the rung's own size: not pinned
        _baseline_run(opened, version, 64, {"d_model": 64})
        effective = baseline_rules.effective_config(opened, row)
        assert effective == {"steps": 40, **DEFAULTS}
        prepared = prepare_launch(opened, baseline="small", overrides=["kshot_k=4"])
        assert prepared.ok and prepared.delta == {"kshot_k": 4}
        # a feature run whose script filled the same defaults differs only in the feature
        run_config = {"steps": 40, **DEFAULTS, "kshot_k": 4}
        assert [e.key for e in diff(effective, run_config).entries] == ["kshot_k"]
        with pytest.raises(ConfigError, match="accidental change: lr"):
            prepare_launch(opened, baseline="small", overrides=["kshot_k=4", "lr=0.1"],
                           feature_keys=["kshot_k"])


def test_plan_says_what_it_verified_before_a_run_pins_the_defaults(lab: Path) -> None:
    config = lab.parent / "base.yaml"
    config.write_text("steps: 40\nkshot_k: 1\n")
    assert cli(lab, "baseline", "create", "small", "--config", str(config))[0] == 0
    code, out, _ = cli(lab, "plan", "--baseline", "small", "--set", "kshot_k=4")
    assert code == 0
    assert "the task's defaults join them when the baseline's first run records them" in out


def test_a_new_version_keeps_its_tiers_reference_metric(lab: Path) -> None:
    with open_lab(lab) as opened:
        baseline_rules.create(opened, "small", {"a": 1}, reference_metric="eval/loss")
        second = baseline_rules.create(opened, "small", {"a": 2})
        assert second.reference_metric == "eval/loss"
        assert baseline_rules.regression(opened, second).text != (
            "no reference metric to compare on")
