"""Runs grouped by config and a group's band (stepstone.analysis.curves)."""

from __future__ import annotations

import pytest

from stepstone.analysis.curves import band, group_runs


def test_runs_that_differ_only_in_seed_form_a_group() -> None:
    configs = {
        "a": {"lr": 0.1, "seed": 0, "width": 64}, "b": {"lr": 0.1, "seed": 1, "width": 64},
        "c": {"lr": 0.2, "seed": 0, "width": 64}, "d": {"lr": 0.2, "data.seed": 5, "width": 64},
        "e": {"lr": 0.3, "seed": 0, "width": 64},
    }
    groups = group_runs(configs)
    assert [g["runs"] for g in groups] == [["a", "b"], ["c", "d"], ["e"]]
    assert [g["label"] for g in groups] == ["lr=0.1", "lr=0.2", "lr=0.3"]
    assert [g["runs"] for g in group_runs(configs, "width")] == [["a", "b", "c", "d", "e"]]
    assert group_runs({"a": {"seed": 0}, "b": {"seed": 1}})[0]["label"] == "same config"


def test_a_band_is_the_mean_min_max_and_sd_over_the_shared_steps() -> None:
    out = band([([0, 1, 2, 3], [1.0, 2.0, 3.0, 4.0]), ([1, 3, 5], [0.0, 2.0, 9.0])])
    assert out["x"] == [1.0, 2.0, 3.0]  # the steps both curves span
    assert out["mean"] == pytest.approx([1.0, 2.0, 3.0])  # (2+0)/2, (3+1)/2, (4+2)/2
    assert out["low"] == [0.0, 1.0, 2.0] and out["high"] == [2.0, 3.0, 4.0]
    assert out["plus"][0] == pytest.approx(1.0 + 2 ** 0.5)
    assert band([([0, 1], [1.0, 1.0]), ([5, 6], [1.0, 1.0])])["x"] == []
    assert len(band([(range(5000), [1.0] * 5000)] * 2, points=100)["x"]) == 100
