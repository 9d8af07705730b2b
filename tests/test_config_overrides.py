"""Hydra-style overrides, value parsing, flatten/unflatten and resolve."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stepstone.configs import (
    Override,
    apply_override,
    flatten,
    format_value,
    parse_override,
    parse_value,
    resolve,
    unflatten,
)
from stepstone.errors import ConfigError

BASE: dict[str, Any] = {
    "model": {"attention": "full", "d_model": 64, "layers": [1, 2]},
    "optim": {"lr": 0.001, "warmup": 100},
    "seed": 0,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("-3", -3),
        ("1e-3", 0.001),
        ("2.5", 2.5),
        ("true", True),
        ("false", False),
        ("null", None),
        ("~", None),
        ("[1,2]", [1, 2]),
        ("[a, 1.5]", ["a", 1.5]),
        ("{a: 1}", {"a": 1}),
        ("'1'", "1"),
        ('"null"', "null"),
        ("sliding", "sliding"),
        ("", ""),
        ("  padded  ", "padded"),
        ("a: b", "a: b"),
        ("- x", "- x"),
        ("#x", "#x"),
        ("2026-11-21", "2026-11-21"),
    ],
    ids=[
        "int",
        "negative",
        "float-exp",
        "float",
        "true",
        "false",
        "null",
        "tilde",
        "list",
        "mixed-list",
        "dict",
        "quoted-int",
        "quoted-null",
        "string",
        "empty",
        "stripped",
        "colon-stays-string",
        "dash-stays-string",
        "hash-stays-string",
        "date-stays-string",
    ],
)
def test_parse_value(text: str, expected: object) -> None:
    value = parse_value(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1,2", "cannot read the value '[1,2': expected ',' or ']'"),
        ("'open", 'cannot read the value "\'open": found unexpected end of stream'),
        ("!!python/name:os.system", "could not determine a constructor"),
    ],
    ids=["unclosed-list", "unclosed-quote", "unsafe-tag"],
)
def test_parse_value_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_value(text)
    assert message in str(err.value)
    assert str(err.value).endswith("quote it (key='...') if it is meant as a string")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("full", "full"),
        ("1", '"1"'),
        ("true", '"true"'),
        ("", '""'),
        ("a b", "a b"),
        (" x", '" x"'),
        (16, "16"),
        (0.001, "0.001"),
        (True, "true"),
        (None, "null"),
        ([1, "a"], '[1, "a"]'),
        ({}, "{}"),
        (float("inf"), ".inf"),
        (float("-inf"), "-.inf"),
        (float("nan"), ".nan"),
    ],
    ids=[
        "plain",
        "numeric-string",
        "bool-string",
        "empty",
        "spaces",
        "leading-space",
        "int",
        "float",
        "bool",
        "none",
        "list",
        "empty-dict",
        "inf",
        "-inf",
        "nan",
    ],
)
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("optim.lr=0.01", Override("set", "optim.lr", 0.01)),
        ("+model.window=16", Override("add", "model.window", 16)),
        ("++model.window=16", Override("force", "model.window", 16)),
        ("~optim.warmup", Override("delete", "optim.warmup", None, has_value=False)),
        ("~optim.warmup=100", Override("delete", "optim.warmup", 100)),
        ("name=a=b", Override("set", "name", "a=b")),
        (" seed = 3 ", Override("set", "seed", 3)),
        ("tag=", Override("set", "tag", "")),
    ],
    ids=["set", "add", "force", "delete", "delete-if", "eq-in-value", "spaces", "empty-value"],
)
def test_parse_override(text: str, expected: Override) -> None:
    parsed = parse_override(text)
    assert (parsed.action, parsed.key, parsed.value, parsed.has_value) == (
        expected.action,
        expected.key,
        expected.value,
        expected.has_value,
    )
    assert parsed.text == text


@pytest.mark.parametrize(
    "text",
    ["optim.lr=0.01", "+model.window=16", "++a=[1, 2]", "~optim.warmup", "~a.b=x", 'name="1"'],
    ids=["set", "add", "force", "delete", "delete-if", "quoted"],
)
def test_override_str_round_trips(text: str) -> None:
    parsed = parse_override(text)
    assert str(parsed) == text
    again = parse_override(str(parsed))
    assert (again.action, again.key, again.value) == (parsed.action, parsed.key, parsed.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "optim.lr",
            "override 'optim.lr' has no '='; write key=value to change a key, "
            "+key=value to add one, or ~key to delete one",
        ),
        ("+window", "override '+window' has no '='"),
        ("=1", "override '=1' has a malformed key ''; keys are dotted names like optim.lr"),
        ("a..b=1", "override 'a..b=1' has a malformed key 'a..b'"),
        (".a=1", "override '.a=1' has a malformed key '.a'"),
        ("~", "override '~' has a malformed key ''"),
        ("a=[1,2", "override 'a=[1,2': cannot read the value '[1,2'"),
    ],
    ids=["no-eq", "add-no-eq", "empty-key", "double-dot", "leading-dot", "bare-tilde", "bad-value"],
)
def test_parse_override_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_override(text)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ([], BASE),
        (["optim.lr=2e-3"], {**BASE, "optim": {"lr": 0.002, "warmup": 100}}),
        (["model=small"], {**BASE, "model": "small"}),
        (["+model.window=16"], {**BASE, "model": {**BASE["model"], "window": 16}}),
        (["+data.path.root=/d"], {**BASE, "data": {"path": {"root": "/d"}}}),
        (["++optim.lr=1"], {**BASE, "optim": {"lr": 1, "warmup": 100}}),
        (["++optim.beta=0.9"], {**BASE, "optim": {"lr": 0.001, "warmup": 100, "beta": 0.9}}),
        (["~optim.warmup"], {**BASE, "optim": {"lr": 0.001}}),
        (["~optim.warmup=100"], {**BASE, "optim": {"lr": 0.001}}),
        (["~optim"], {"model": BASE["model"], "seed": 0}),
        (["seed=1", "seed=2"], {**BASE, "seed": 2}),
        (["+x=1", "x=2", "~x"], BASE),
        (["model.layers=[3]"], {**BASE, "model": {**BASE["model"], "layers": [3]}}),
        (["seed=null"], {**BASE, "seed": None}),
    ],
    ids=[
        "none",
        "set",
        "set-subtree",
        "add",
        "add-creates-parents",
        "force-existing",
        "force-new",
        "delete",
        "delete-if-equal",
        "delete-subtree",
        "last-wins",
        "in-order",
        "list-value",
        "null-value",
    ],
)
def test_resolve(overrides: list[str], expected: dict[str, Any]) -> None:
    assert resolve(BASE, overrides) == expected


def test_resolve_never_mutates_its_input() -> None:
    base = copy.deepcopy(BASE)
    out = resolve(base, ["model.layers=[9]", "+model.window=3", "~optim.warmup"])
    assert base == BASE
    out["model"]["attention"] = "changed"
    assert base["model"]["attention"] == "full"


def test_resolve_copies_lists() -> None:
    out = resolve(BASE)
    out["model"]["layers"].append(3)
    assert BASE["model"]["layers"] == [1, 2]


def test_resolve_accepts_parsed_overrides() -> None:
    assert resolve(BASE, [parse_override("seed=5")])["seed"] == 5


def test_resolve_interpolates_after_overrides() -> None:
    base = {"d": 64, "head": {"dim": "${d}"}}
    assert resolve(base, ["d=128"]) == {"d": 128, "head": {"dim": 128}}
    assert resolve(base, ["d=128"], interpolate=False) == {"d": 128, "head": {"dim": "${d}"}}


def test_apply_override_works_in_place() -> None:
    config = {"a": {"b": 1}}
    apply_override(config, parse_override("a.b=2"))
    assert config == {"a": {"b": 2}}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "optim.lrr=0.1",
            "cannot override optim.lrr: no such key in the config (closest: optim.lr); "
            "to add it, write +optim.lrr=0.1",
        ),
        (
            "lr=0.1",
            "cannot override lr: no such key in the config (closest: optim.lr); "
            "to add it, write +lr=0.1",
        ),
        (
            "zzz=1",
            "cannot override zzz: no such key in the config (no similar key); "
            "to add it, write +zzz=1",
        ),
        (
            "model.attn=sliding",
            "cannot override model.attn: no such key in the config (closest: model.attention); "
            "to add it, write +model.attn=sliding",
        ),
        (
            "+optim.lr=0.1",
            "cannot add optim.lr: it already exists (0.001); write optim.lr=0.1 to change it",
        ),
        (
            "~optim.lrr",
            "cannot delete optim.lrr: no such key in the config (closest: optim.lr); "
            "check the key's spelling",
        ),
        (
            "~optim.lr=0.1",
            "cannot delete optim.lr=0.1: its value is 0.001; "
            "write ~optim.lr to delete it whatever its value",
        ),
        (
            "optim.lr.x=1",
            "cannot apply optim.lr.x=1: optim.lr is 0.001, not a mapping; "
            "change optim.lr itself instead",
        ),
        (
            "+seed.x=1",
            "cannot apply +seed.x=1: seed is 0, not a mapping; change seed itself instead",
        ),
    ],
    ids=[
        "typo",
        "missing-parent",
        "nothing-close",
        "prefix-typo",
        "add-existing",
        "delete-missing",
        "delete-wrong-value",
        "set-under-leaf",
        "add-under-leaf",
    ],
)
def test_override_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(BASE, [override])
    assert str(err.value) == message


def test_overrides_must_be_a_list() -> None:
    with pytest.raises(ConfigError, match="overrides must be a list of strings"):
        resolve(BASE, "seed=1")


def test_failed_override_leaves_base_alone() -> None:
    base = copy.deepcopy(BASE)
    with pytest.raises(ConfigError):
        resolve(base, ["seed=1", "nope=2"])
    assert base == BASE


@pytest.mark.parametrize(
    ("nested", "flat"),
    [
        ({}, {}),
        ({"a": 1}, {"a": 1}),
        ({"a": {"b": 1, "c": {"d": [1, {"x": 2}]}}}, {"a.b": 1, "a.c.d": [1, {"x": 2}]}),
        ({"a": {}, "b": None}, {"a": {}, "b": None}),
    ],
    ids=["empty", "flat", "nested-with-list", "empty-mapping-leaf"],
)
def test_flatten_unflatten_round_trip(nested: dict[str, Any], flat: dict[str, Any]) -> None:
    assert flatten(nested) == flat
    assert unflatten(flat) == nested


def test_unflatten_spreads_mapping_values() -> None:
    assert unflatten({"a": {"b": 1}, "a.c": 2}) == {"a": {"b": 1, "c": 2}}
    assert unflatten({"a.c": 2, "a": {"b": 1}}) == {"a": {"b": 1, "c": 2}}


@pytest.mark.parametrize(
    ("flat", "message"),
    [
        ({"a": 1, "a.b": 2}, "cannot unflatten: a is both a value and a mapping (because of a.b)"),
        ({"a.b": 2, "a": 1}, "cannot unflatten: a is given twice or is both a value and a mapping"),
        ({"a..b": 1}, "config key 'a..b' is malformed"),
    ],
    ids=["leaf-then-child", "child-then-leaf", "malformed"],
)
def test_unflatten_errors(flat: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        unflatten(flat)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({1: "a"}, "config key 1 is not a string (int); quote it"),
        ({"a": {"b.c": 1}}, "config key 'b.c' under a is empty or contains '.'"),
        ({"": 1}, "config key '' is empty or contains '.'"),
        ([1, 2], "a config must be a mapping, not list"),
    ],
    ids=["int-key", "dotted-key", "empty-key", "not-a-mapping"],
)
def test_flatten_errors(config: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        flatten(config)
    assert str(err.value).startswith(message)


def test_lenient_flatten_and_unflatten_keep_what_a_run_recorded() -> None:
    """``strict=False``: how the store keeps a run's config (keys as they came)."""
    assert flatten({"a.b": 1, 2: {"c": 3}, "e": {}}, strict=False) == \
        {"a.b": 1, "2.c": 3, "e": {}}
    assert unflatten({"a": 1, "a.b": 2}, strict=False) == {"a": {"b": 2}}
    assert unflatten({"a.b": 2, "a": 1}, strict=False) == {"a": 1}
    assert unflatten({"a.b": 2, "a": {"c": 3}}, strict=False) == {"a": {"b": 2, "c": 3}}
