"""Verifying a config against its baseline: the feature is on, nothing else changed."""

from __future__ import annotations

from typing import Any

import pytest

from stepstone.configs import DEFAULT_ALLOWED_KEYS, resolve, verify
from stepstone.errors import ConfigError

BASE: dict[str, Any] = {
    "model": {"attention": "full", "attn": {"window": 0, "heads": 4}, "d_model": 64},
    "optim": {"lr": 0.001, "warmup": 100},
    "data": {"seed": 0},
    "seed": 0,
    "name": "base",
}


def check(overrides: list[str], features: list[str], allowed: tuple[str, ...] = ()) -> Any:
    return verify(BASE, resolve(BASE, overrides), features, allowed)


def test_a_clean_feature_verifies() -> None:
    result = check(["model.attention=sliding"], ["model.attention"])
    assert result.ok
    assert result.problems == ()
    assert result.diff.keys == ("model.attention",)
    result.raise_for_problems()


def test_prefix_feature_key_covers_its_subtree() -> None:
    result = check(["model.attn.window=16", "model.attn.heads=8"], ["model.attn"])
    assert result.ok


def test_prefix_means_whole_parts_only() -> None:
    result = check(["model.attention=sliding"], ["model.attn"])
    assert not result.ok
    assert result.problems[1].startswith("accidental change: model.attention full -> sliding")


@pytest.mark.parametrize(
    ("overrides", "features", "problem"),
    [
        (
            [],
            ["model.attention"],
            "feature key model.attention is not on: it equals the baseline "
            "(model.attention = full); set it with model.attention=VALUE",
        ),
        (
            ["model.attention=full"],
            ["model.attention"],
            "feature key model.attention is not on: it equals the baseline "
            "(model.attention = full); set it with model.attention=VALUE",
        ),
        (
            [],
            ["model.attn"],
            "feature key model.attn is not on: it equals the baseline "
            "(all 2 keys under model.attn are unchanged); set one with model.attn.KEY=VALUE",
        ),
        (
            [],
            ["model.rope"],
            "feature key model.rope is not on: it is in neither the baseline nor the new "
            "config; add it with +model.rope=VALUE",
        ),
    ],
    ids=["unchanged", "set-to-same-value", "unchanged-prefix", "absent"],
)
def test_feature_not_on(overrides: list[str], features: list[str], problem: str) -> None:
    result = check(overrides, features)
    assert not result.ok
    assert result.problems == (problem,)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        (
            ["optim.lr=0.002"],
            "accidental change: optim.lr 0.001 -> 0.002 is not part of the feature; "
            "list it with --allow optim.lr or revert it",
        ),
        (
            ["+optim.beta=0.9"],
            "accidental change: optim.beta was added (0.9) and is not part of the feature; "
            "list it with --allow optim.beta or remove it",
        ),
        (
            ["~optim.warmup"],
            "accidental change: optim.warmup was removed (baseline: 100) and is not part of "
            "the feature; list it with --allow optim.warmup or restore it",
        ),
        (
            ["data.seed=1"],
            "accidental change: data.seed 0 -> 1 is not part of the feature; "
            "list it with --allow data.seed or revert it",
        ),
    ],
    ids=["changed", "added", "removed", "nested-seed-is-not-default-allowed"],
)
def test_accidental_changes(overrides: list[str], problem: str) -> None:
    result = check(["model.attention=sliding", *overrides], ["model.attention"])
    assert not result.ok
    assert result.problems == (problem,)


def test_problems_list_feature_then_accidental_sorted_by_key() -> None:
    result = check(["optim.warmup=5", "optim.lr=1"], ["model.attention"])
    assert [p.split(":")[0] for p in result.problems] == [
        "feature key model.attention is not on",
        "accidental change",
        "accidental change",
    ]
    assert "optim.lr" in result.problems[1]
    assert "optim.warmup" in result.problems[2]


@pytest.mark.parametrize(
    ("allowed", "ok"),
    [(("optim.lr",), True), (("optim",), True), (("optim.warmup",), False)],
    ids=["exact", "prefix", "other-key"],
)
def test_allowed_keys(allowed: tuple[str, ...], ok: bool) -> None:
    assert check(["model.attention=x", "optim.lr=0.1"], ["model.attention"], allowed).ok is ok


@pytest.mark.parametrize(
    "override",
    ["seed=3", "name=run-7", "+smoke=true", "+hydra.run.dir=/tmp/x", "+tags=[a]", "+notes=hi"],
    ids=["seed", "name", "smoke", "hydra-subtree", "tags", "notes"],
)
def test_default_allowed_keys(override: str) -> None:
    assert check(["model.attention=x", override], ["model.attention"]).ok


def test_default_allow_list_is_one_documented_constant() -> None:
    assert DEFAULT_ALLOWED_KEYS == (
        "seed",
        "name",
        "smoke",
        "tags",
        "notes",
        "output_dir",
        "out_dir",
        "hydra",
    )


def test_default_allow_list_can_be_switched_off() -> None:
    new = resolve(BASE, ["model.attention=x", "seed=3"])
    result = verify(BASE, new, ["model.attention"], default_allowed=())
    assert result.problems == (
        "accidental change: seed 0 -> 3 is not part of the feature; "
        "list it with --allow seed or revert it",
    )


def test_no_feature_keys_means_a_baseline_rerun() -> None:
    assert verify(BASE, resolve(BASE, ["seed=4"]), []).ok
    assert not verify(BASE, resolve(BASE, ["optim.lr=4"]), []).ok


def test_a_single_string_is_one_feature_key() -> None:
    assert check(["model.attention=x"], "model.attention").ok  # type: ignore[arg-type]


def test_raise_for_problems() -> None:
    result = check(["optim.lr=0.002"], ["model.attention"])
    with pytest.raises(ConfigError) as err:
        result.raise_for_problems()
    assert str(err.value) == (
        "the config does not verify against its baseline:\n"
        f"- {result.problems[0]}\n- {result.problems[1]}"
    )


def test_to_dict() -> None:
    result = check(["model.attention=x"], ["model.attention"])
    assert result.to_dict() == {
        "ok": True,
        "problems": [],
        "diff": {
            "added": [],
            "removed": [],
            "changed": [{"key": "model.attention", "old": "full", "new": "x"}],
        },
    }


@pytest.mark.parametrize(
    ("features", "allowed", "message"),
    [
        (["model..x"], (), "feature key 'model..x' is malformed"),
        (["model.x=1"], (), "feature key 'model.x=1' is malformed"),
        ([""], (), "feature key '' is malformed"),
        (["model.attention"], ("a. b",), "allowed key 'a. b' is malformed"),
    ],
    ids=["double-dot", "override-by-mistake", "empty", "bad-allowed"],
)
def test_malformed_keys(features: list[str], allowed: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        verify(BASE, BASE, features, allowed)
    assert str(err.value) == (
        f"{message}; write a dotted name like optim.lr (no empty parts, spaces around parts or '=')"
    )
