"""The syntax tree of a decision rule: its node classes and their canonical text.

``str(node)`` gives a rule's canonical text back; :func:`stepstone.method.rules.syntax.parse_rule`
builds the tree from text. The grammar is in docs/rules.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Literal

GAIN = "gain"
"""The reserved metric name of the compute efficiency gain (one value per rung)."""

KEYWORDS = frozenset(
    {"and", "or", "not", "at", "every", "any", "rung", "baseline"}
    | {"mean", "min", "max", "over", "seeds", "of", "worst", "bucket", "delta", "sigma"}
)
"""Words a metric name cannot be unless quoted with backticks (`` `max` ``)."""


# ----------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Number:
    """A number literal."""

    value: float

    def __str__(self) -> str:
        v = self.value
        return str(int(v)) if v.is_integer() and abs(v) < 1e16 else repr(v)


@dataclass(frozen=True)
class Metric:
    """A metric of the runs under test (``gain`` is the efficiency gain of the rung)."""

    name: str
    pos: int = field(default=-1, compare=False, repr=False)

    def __str__(self) -> str:
        return _name_text(self.name)


@dataclass(frozen=True)
class BaselineRef:
    """The baseline's reference value of ``metric``; ``explicit`` when written ``baseline.X``."""

    metric: str
    explicit: bool = True
    pos: int = field(default=-1, compare=False, repr=False)

    def __str__(self) -> str:
        return f"baseline.{_name_text(self.metric)}" if self.explicit else "baseline"


@dataclass(frozen=True)
class BinOp:
    """``left op right`` for op in ``+ - * /``."""

    op: Literal["+", "-", "*", "/"]
    left: Expr
    right: Expr

    def __str__(self) -> str:
        mine = _PREC[self.op]
        left = _wrap(self.left, _prec(self.left) < mine)
        right = _wrap(self.right, _prec(self.right) <= mine)
        return f"{left} {self.op} {right}"


@dataclass(frozen=True)
class Neg:
    """``-operand``."""

    operand: Expr

    def __str__(self) -> str:
        return f"-{_wrap(self.operand, _prec(self.operand) < 3)}"


@dataclass(frozen=True)
class Aggregate:
    """``mean|min|max over seeds of operand``, computed from per-seed values."""

    func: Literal["mean", "min", "max"]
    operand: Expr
    pos: int = field(default=-1, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.func} over seeds of {_wrap(self.operand, _prec(self.operand) < 3)}"


@dataclass(frozen=True)
class WorstBucket:
    """``worst bucket of metric``: the comparison must hold in every difficulty bucket."""

    metric: str
    pos: int = field(default=-1, compare=False, repr=False)

    def __str__(self) -> str:
        return f"worst bucket of {_name_text(self.metric)}"


@dataclass(frozen=True)
class Sigma:
    """``sigma``: the baseline's noise floor (seed-to-seed SD) of the comparison's metric."""

    metric: str = ""
    pos: int = field(default=-1, compare=False, repr=False)

    def __str__(self) -> str:
        return "sigma"


Expr = Number | Metric | BaselineRef | BinOp | Neg | Aggregate | WorstBucket | Sigma


@dataclass(frozen=True)
class Comparison:
    """``left op right`` for op in ``< <= > >= == !=``."""

    op: Literal["<", "<=", ">", ">=", "==", "!="]
    left: Expr
    right: Expr
    pos: int = field(default=-1, compare=False, repr=False)

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True)
class Quantified:
    """``body at every rung`` or ``body at any rung``."""

    mode: Literal["every", "any"]
    body: Rule
    pos: int = field(default=-1, compare=False, repr=False)

    def __str__(self) -> str:
        body = _wrap(self.body, not isinstance(self.body, Comparison))
        return f"{body} at {self.mode} rung"


@dataclass(frozen=True)
class Not:
    """``not operand``."""

    operand: Rule

    def __str__(self) -> str:
        return f"not {_wrap(self.operand, _prec(self.operand) < 3)}"


@dataclass(frozen=True)
class And:
    """``left and right``."""

    left: Rule
    right: Rule

    def __str__(self) -> str:
        return _logic_text(self, "and", 2)


@dataclass(frozen=True)
class Or:
    """``left or right``."""

    left: Rule
    right: Rule

    def __str__(self) -> str:
        return _logic_text(self, "or", 1)


Rule = Comparison | Quantified | Not | And | Or
Node = Expr | Rule

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:[./][A-Za-z0-9_]+|-[A-Za-z_][A-Za-z0-9_]*)*")


def _prec(node: Node) -> int:
    """Binding strength, for parentheses: arithmetic 1-4, logic 1 (or) to 4 (comparison)."""
    if isinstance(node, BinOp):
        return _PREC[node.op]
    if isinstance(node, Or):
        return 1
    if isinstance(node, And):
        return 2
    if isinstance(node, Neg | Not):
        return 3
    return 4


def _wrap(node: Node, parens: bool) -> str:
    return f"({node})" if parens else str(node)


def _logic_text(node: And | Or, word: str, prec: int) -> str:
    left = _wrap(node.left, _prec(node.left) < prec)
    return f"{left} {word} {_wrap(node.right, _prec(node.right) <= prec)}"


def _name_text(name: str) -> str:
    plain = _NAME.fullmatch(name) and name not in KEYWORDS and not name.startswith("baseline.")
    return name if plain else f"`{name}`"


def _children(node: Node) -> Iterator[Node]:
    for f in fields(node):
        value = getattr(node, f.name)
        if isinstance(value, Node):
            yield value


def _walk(node: Node) -> Iterator[Node]:
    yield node
    for child in _children(node):
        yield from _walk(child)


_FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}


def bounds(node: Node) -> list[tuple[str, str, float]]:
    """Every ``metric OP number`` comparison in a rule, metric first (``1 >= m`` gives
    ``(m, "<=", 1)``): the fixed thresholds a rule sets, e.g. ``latency_ms <= 1.0``."""
    out: list[tuple[str, str, float]] = []
    for item in _walk(node):
        if not isinstance(item, Comparison):
            continue
        if isinstance(item.left, Metric) and isinstance(item.right, Number):
            out.append((item.left.name, item.op, item.right.value))
        elif isinstance(item.right, Metric) and isinstance(item.left, Number):
            out.append((item.right.name, _FLIP[item.op], item.left.value))
    return out
