"""Hydra-style overrides: ``a.b=1`` (change), ``+a.new=1`` (add), ``++a.b=1`` (add or change),
``~a.b`` or ``~a.b=1`` (delete), and :func:`resolve` to apply them to a base config."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from stepstone.configs._flat import check_key, deep_copy, flatten
from stepstone.configs._load import interpolate_config
from stepstone.configs._values import format_value, parse_value, same_value
from stepstone.errors import ConfigError

Action = Literal["set", "add", "force", "delete"]

_MISSING = object()


@dataclass(frozen=True)
class Override:
    """One parsed override. ``value`` is unused for a delete without ``=value``."""

    action: Action
    key: str
    value: Any = None
    has_value: bool = True
    text: str = ""

    def __str__(self) -> str:
        prefix = {"set": "", "add": "+", "force": "++", "delete": "~"}[self.action]
        if self.action == "delete" and not self.has_value:
            return f"~{self.key}"
        return f"{prefix}{self.key}={format_value(self.value)}"


def parse_override(text: str) -> Override:
    """Parse ``key=value``, ``+key=value``, ``++key=value``, ``~key`` or ``~key=value``."""
    raw = text.strip()
    action: Action = "set"
    body = raw
    if raw.startswith("~"):
        action, body = "delete", raw[1:]
    elif raw.startswith("++"):
        action, body = "force", raw[2:]
    elif raw.startswith("+"):
        action, body = "add", raw[1:]
    key, eq, value_text = body.partition("=")
    key = key.strip()
    if not eq and action != "delete":
        raise ConfigError(
            f"override {text!r} has no '='; write key=value to change a key, "
            "+key=value to add one, or ~key to delete one"
        )
    try:
        check_key(key)
    except ConfigError:
        raise ConfigError(
            f"override {text!r} has a malformed key {key!r}; keys are dotted names like optim.lr"
        ) from None
    if not eq:
        return Override(action, key, None, has_value=False, text=text)
    try:
        value = parse_value(value_text)
    except ConfigError as exc:
        raise ConfigError(f"override {text!r}: {exc}") from None
    return Override(action, key, value, has_value=True, text=text)


def closest_keys(key: str, config: Mapping[str, Any], n: int = 3) -> list[str]:
    """Existing leaf keys that look like ``key``: same last part first, then difflib's."""
    keys = list(flatten(config))
    last = key.rsplit(".", 1)[-1]
    same_last = [k for k in keys if k.rsplit(".", 1)[-1] == last]
    similar = difflib.get_close_matches(key, keys, n=n, cutoff=0.75)
    return list(dict.fromkeys(same_last + similar))[:n]


def _lookup(config: Mapping[str, Any], parts: list[str]) -> Any:
    node: Any = config
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _parent(config: dict[str, Any], ov: Override, create: bool) -> dict[str, Any]:
    """The mapping that holds ``ov.key``'s last part, creating missing levels if asked."""
    parts = ov.key.split(".")
    node = config
    for depth, part in enumerate(parts[:-1]):
        if part not in node and create:
            node[part] = {}
        child = node.get(part, _MISSING)
        if child is _MISSING:
            break
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise ConfigError(
                f"cannot apply {ov.text or ov}: {where} is {format_value(child)}, not a mapping; "
                f"change {where} itself instead"
            )
        node = child
    return node


def _no_such_key(ov: Override, config: Mapping[str, Any], verb: str, fix: str) -> ConfigError:
    matches = closest_keys(ov.key, config)
    hint = f"closest: {', '.join(matches)}" if matches else "no similar key"
    return ConfigError(f"cannot {verb} {ov.key}: no such key in the config ({hint}); {fix}")


def apply_override(config: dict[str, Any], ov: Override) -> None:
    """Apply one override to ``config`` in place (see :func:`resolve` for a copying version)."""
    parts = ov.key.split(".")
    current = _lookup(config, parts)
    value_text = format_value(ov.value) if ov.has_value else "VALUE"
    if ov.action == "set" and current is _MISSING:
        _parent(config, ov, create=False)  # a clearer error when a parent is not a mapping
        raise _no_such_key(ov, config, "override", f"to add it, write +{ov.key}={value_text}")
    if ov.action == "add" and current is not _MISSING:
        raise ConfigError(
            f"cannot add {ov.key}: it already exists ({format_value(current)}); "
            f"write {ov.key}={value_text} to change it"
        )
    if ov.action == "delete":
        if current is _MISSING:
            raise _no_such_key(ov, config, "delete", "check the key's spelling")
        if ov.has_value and not same_value(current, ov.value):
            raise ConfigError(
                f"cannot delete {ov.key}={format_value(ov.value)}: its value is "
                f"{format_value(current)}; write ~{ov.key} to delete it whatever its value"
            )
        del _parent(config, ov, create=False)[parts[-1]]
        return
    _parent(config, ov, create=True)[parts[-1]] = deep_copy(ov.value)


def resolve(
    base: Mapping[str, Any],
    overrides: Iterable[str | Override] = (),
    *,
    interpolate: bool = True,
) -> dict[str, Any]:
    """A new config: ``base`` with the overrides applied in order; ``base`` is never changed.

    With ``interpolate`` (the default), ``${...}`` references left in the result are
    resolved afterwards, so an override of ``a`` reaches every ``${a}`` (as in Hydra).
    """
    if isinstance(overrides, (str, bytes)):
        raise ConfigError("overrides must be a list of strings like ['optim.lr=0.01'], not a str")
    config: dict[str, Any] = deep_copy(base)
    flatten(config)  # checks the keys
    for item in overrides:
        apply_override(config, item if isinstance(item, Override) else parse_override(item))
    return interpolate_config(config) if interpolate else config
