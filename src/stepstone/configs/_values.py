"""Config values: the YAML dialect they are read in, how they are shown, and how they compare.

One YAML dialect serves config files and override values alike. It is PyYAML's safe
loader with three changes that match what OmegaConf and Hydra users expect:

- ``1e-3`` is a float (YAML 1.1 needs a dot: ``1.0e-3``);
- ``2026-11-21`` stays a string (no ``datetime.date`` objects in a config);
- ``1:30`` and ``010`` stay strings (no base-60 or octal integers).

A document that would expand, through its aliases (``&a`` / ``*a``), into more than
``MAX_VALUES`` values or deeper than ``MAX_DEPTH`` levels is refused before it is built: a
few hundred bytes of nested aliases (a "billion laughs") would otherwise take minutes and
gigabytes to copy and flatten.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml

from stepstone.errors import ConfigError

_INT = re.compile(r"^(?:[-+]?0b[0-1_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+"
    r"|[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)"
    r"|\.(?:nan|NaN|NAN))$"
)
_DROPPED = {"tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
_NULL_WORDS = {"null", "Null", "NULL", "~"}


MAX_VALUES = 100_000
"""The most values (mappings, lists and scalars, aliases expanded) one YAML document may hold."""
MAX_DEPTH = 100
"""The deepest nesting of mappings and lists one YAML document may have."""


class ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the float, date and base-60 fixes described above."""

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node)
        return node


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose expansion (every alias copied out) is too big, too deep
    or endless (an alias inside its own anchor); counted once per distinct node."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_VALUES or depth[key] > MAX_DEPTH:
                raise yaml.constructor.ConstructorError(
                    None, None,
                    f"the document expands to more than {MAX_VALUES:,} values or {MAX_DEPTH} "
                    "levels (nested &anchors and *aliases?); write the values out plainly",
                    root.start_mark)
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise yaml.constructor.ConstructorError(
                None, None, "an *alias refers to the node that holds it (an endless value)",
                node.start_mark)
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


ConfigLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
ConfigLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def parse_value(text: str) -> Any:
    """Read one override value as a YAML scalar or flow collection.

    ``1`` → 1, ``1e-3`` → 0.001, ``true`` → True, ``null`` → None, ``[1, 2]`` → [1, 2],
    ``{a: 1}`` → {"a": 1}, ``'1'`` → "1"; an empty value is the empty string, and text that
    YAML would read as a block mapping or list (``a: b``, ``- x``) stays a string.
    """
    stripped = text.strip()
    if not stripped:
        return ""
    try:
        value = yaml.load(stripped, Loader=ConfigLoader)  # a safe loader
    except RecursionError:
        raise ConfigError(f"cannot read the value {stripped[:40]!r}...: it nests too deeply; "
                          "a value is a few levels of [lists] and {mappings}") from None
    except (yaml.YAMLError, ValueError, TypeError) as exc:  # a tag's own check: !!int x
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"cannot read the value {stripped!r}: {problem}; quote it (key='...') "
            "if it is meant as a string"
        ) from None
    if isinstance(value, dict) and not stripped.startswith("{"):
        return stripped
    if isinstance(value, list) and not stripped.startswith("["):
        return stripped
    if value is None and stripped not in _NULL_WORDS:
        return stripped
    return value


def format_value(value: Any) -> str:
    """Show a value the way an override would write it: ``full``, ``0.001``, ``"1"``, ``[1, 2]``."""
    if isinstance(value, str):
        plain = value and value == value.strip() and "\n" not in value and "#" not in value
        if plain:
            try:
                if parse_value(value) == value:
                    return value
            except ConfigError:
                pass
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else ".inf" if value > 0 else "-.inf"
    return json.dumps(value, ensure_ascii=False, default=repr)


def canonical_json(value: Any) -> str:
    """Sorted, compact JSON of a value (non-JSON leaves shown by ``repr``)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
    )


def same_value(a: Any, b: Any) -> bool:
    """Whether two config values are the same, type included: 1 ≠ 1.0 ≠ True; NaN equals NaN."""
    return a is b or canonical_json(a) == canonical_json(b)
