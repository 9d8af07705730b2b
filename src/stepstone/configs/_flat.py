"""Nested configs and their dotted keys: ``{"optim": {"lr": 0.1}}`` ⇄ ``{"optim.lr": 0.1}``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from stepstone.errors import ConfigError


def check_key(key: str, what: str = "key") -> list[str]:
    """Split a dotted key into its parts, or raise ConfigError for a malformed one."""
    parts = key.split(".") if isinstance(key, str) else []
    if not parts or any(not part or part != part.strip() or "=" in part for part in parts):
        raise ConfigError(
            f"{what} {key!r} is malformed; write a dotted name like optim.lr "
            "(no empty parts, spaces around parts or '=')"
        )
    return parts


def _child_key(prefix: str, key: object) -> str:
    where = f" under {prefix}" if prefix else ""
    if not isinstance(key, str):
        raise ConfigError(
            f"config key {key!r}{where} is not a string ({type(key).__name__}); quote it"
        )
    if not key or "." in key:
        raise ConfigError(
            f"config key {key!r}{where} is empty or contains '.', which separates nested keys; "
            "nest it instead (a: {b: ...})"
        )
    return f"{prefix}.{key}" if prefix else key


def walk(config: Mapping[str, Any], prefix: str = "", *,
         strict: bool = True) -> Iterator[tuple[str, Any, bool]]:
    """Yield ``(dotted_key, value, is_leaf)`` for every node, parents before children
    (``strict=False``: see :func:`flatten`)."""
    for key, value in config.items():
        dotted = (_child_key(prefix, key) if strict
                  else f"{prefix}.{key}" if prefix else str(key))
        is_leaf = not isinstance(value, Mapping) or not value
        yield dotted, value, is_leaf
        if not is_leaf:
            yield from walk(value, dotted, strict=strict)


def flatten(config: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """Nested mapping → ``{dotted_key: leaf}``. Lists and empty mappings are leaves.
    ``strict=False`` takes every key as it is (``str(key)``, dots kept) instead of raising,
    to read a run's config, which may hold such keys."""
    if not isinstance(config, Mapping):
        raise ConfigError(f"a config must be a mapping, not {type(config).__name__}")
    return {key: value for key, value, is_leaf in walk(config, strict=strict) if is_leaf}


def all_keys(config: Mapping[str, Any]) -> list[str]:
    """Every dotted key of a config, inner nodes included (``optim`` and ``optim.lr``)."""
    return [key for key, _, _ in walk(config)]


def unflatten(flat: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """``{dotted_key: value}`` → nested dict; raises ConfigError when keys collide.
    ``strict=False`` never raises: a key is split at its dots as it is and, where two
    collide, the later one wins (to read back a run's config as the lab recorded it)."""
    root: dict[str, Any] = {}
    for key, value in _expand(flat, strict):
        parts = check_key(key, "config key") if strict else str(key).split(".")
        node = root
        for depth, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                if strict:
                    raise ConfigError(
                        f"cannot unflatten: {'.'.join(parts[: depth + 1])} is both a value and "
                        f"a mapping (because of {key}); keep only one of them"
                    )
                child = node[part] = {}
            node = child
        last = parts[-1]
        if last in node and strict and not (isinstance(value, Mapping)
                                            and isinstance(node[last], dict)):
            raise ConfigError(
                f"cannot unflatten: {key} is given twice or is both a value and a mapping; "
                "keep only one of them"
            )
        if last not in node or not (isinstance(value, Mapping) and isinstance(node[last], dict)):
            node[last] = {} if isinstance(value, Mapping) else deep_copy(value)
    return root


def _expand(flat: Mapping[str, Any], strict: bool) -> Iterator[tuple[str, Any]]:
    """Dotted items with every non-empty mapping value spread into dotted leaves."""
    for key, value in flat.items():
        if isinstance(value, Mapping) and value:
            for sub, leaf in flatten(value, strict=strict).items():
                yield f"{key}.{sub}", leaf
        else:
            yield key, value


def deep_copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: deep_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [deep_copy(v) for v in value]
    return value
