"""Config diffs and the config hash."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from stepstone.configs import ConfigDiff, DiffEntry, config_hash, diff
from stepstone.errors import ConfigError

BASE: dict[str, Any] = {
    "model": {"attention": "full", "d_model": 64},
    "optim": {"lr": 0.001, "warmup": 100},
}
NEW: dict[str, Any] = {
    "model": {"attention": "sliding", "d_model": 64, "window": 16},
    "optim": {"lr": 0.001},
}


def test_diff_groups_and_sorts_entries() -> None:
    d = diff(BASE, NEW)
    assert d.added == (DiffEntry("added", "model.window", None, 16),)
    assert d.removed == (DiffEntry("removed", "optim.warmup", 100, None),)
    assert d.changed == (DiffEntry("changed", "model.attention", "full", "sliding"),)
    assert d.keys == ("model.attention", "model.window", "optim.warmup")
    assert len(d) == 3
    assert bool(d)


def test_render() -> None:
    assert diff(BASE, NEW).render() == (
        "~ model.attention: full -> sliding\n+ model.window: 16\n- optim.warmup: 100"
    )


def test_to_dict() -> None:
    assert diff(BASE, NEW).to_dict() == {
        "added": [{"key": "model.window", "new": 16}],
        "removed": [{"key": "optim.warmup", "old": 100}],
        "changed": [{"key": "model.attention", "old": "full", "new": "sliding"}],
    }


def test_no_differences() -> None:
    d = diff(BASE, {"optim": {"warmup": 100, "lr": 0.001}, "model": dict(BASE["model"])})
    assert d == ConfigDiff()
    assert not d
    assert d.render() == "no differences"
    assert d.to_dict() == {"added": [], "removed": [], "changed": []}


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        (1, 1.0, "~ v: 1 -> 1.0"),
        (1, True, "~ v: 1 -> true"),
        (0, False, "~ v: 0 -> false"),
        ("1", 1, '~ v: "1" -> 1'),
        (None, "null", '~ v: null -> "null"'),
        ([1, 2], [2, 1], "~ v: [1, 2] -> [2, 1]"),
        ({"a": 1}, 5, "+ v: 5\n- v.a: 1"),
    ],
    ids=["int-float", "int-bool", "zero-false", "str-int", "none-str", "list-order", "subtree"],
)
def test_changes_are_type_aware(old: object, new: object, line: str) -> None:
    assert diff({"v": old}, {"v": new}).render() == line


@pytest.mark.parametrize(
    "value",
    [float("nan"), [1, {"a": 2}], {}, "x"],
    ids=["nan", "nested-list", "empty-mapping", "string"],
)
def test_equal_values_do_not_differ(value: object) -> None:
    assert not diff({"v": value}, {"v": value})


def test_diff_does_not_mutate() -> None:
    base, new = {"a": {"b": [1]}}, {"a": {"b": [2]}}
    diff(base, new)
    assert base == {"a": {"b": [1]}}
    assert new == {"a": {"b": [2]}}


def test_diff_rejects_bad_keys() -> None:
    with pytest.raises(ConfigError, match=r"config key 'a\.b' is empty or contains '\.'"):
        diff({"a.b": 1}, {})


def test_config_hash_is_sha256_of_sorted_json() -> None:
    expected = hashlib.sha256(b'{"a":{"b":1,"c":[1,"x"]},"z":null}').hexdigest()
    assert config_hash({"z": None, "a": {"c": [1, "x"], "b": 1}}) == expected


def test_config_hash_ignores_key_order() -> None:
    assert config_hash({"a": 1, "b": {"c": 2, "d": 3}}) == config_hash(
        {"b": {"d": 3, "c": 2}, "a": 1}
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"v": 1}, {"v": 1.0}),
        ({"v": 1}, {"v": True}),
        ({"v": {}}, {}),
        ({"v": [1, 2]}, {"v": [2, 1]}),
    ],
    ids=["int-float", "int-bool", "empty-mapping", "list-order"],
)
def test_config_hash_tells_values_apart(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert config_hash(a) != config_hash(b)


def test_config_hash_refuses_non_json_values() -> None:
    with pytest.raises(ConfigError) as err:
        config_hash({"v": object()})
    assert str(err.value).startswith("cannot hash the config: Object of type object")
    assert str(err.value).endswith(
        "a config holds only strings, numbers, booleans, null, lists and mappings"
    )
