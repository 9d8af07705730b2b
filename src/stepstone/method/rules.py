"""The decision-rule language of a research question: parse, check, evaluate.

A rule says, before any run, what evidence answers the question::

    gain >= 1.05 at every rung
    val_loss <= baseline - 0.01
    mean over seeds of val_loss < baseline.val_loss and latency_ms <= 1.0

:func:`parse_rule` turns the text into a frozen syntax tree (``str(tree)`` gives the
canonical text back); :func:`evaluate` answers it from an :class:`Evidence` with
``yes``, ``no`` or ``inconclusive`` and the numbers behind each comparison. The grammar
and the evaluation rules are in docs/rules.md.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from stepstone.errors import RuleError, UsageError

GAIN = "gain"
"""The reserved metric name of the compute efficiency gain (one value per rung)."""

KEYWORDS = frozenset(
    {"and", "or", "not", "at", "every", "any", "rung", "baseline"}
    | {"mean", "min", "max", "over", "seeds", "of", "worst", "bucket"}
)
"""Words a metric name cannot be unless quoted with backticks (`` `max` ``)."""

Answer = Literal["yes", "no", "inconclusive"]
Rung = int | str | None
Seed = int | str | None

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


Expr = Number | Metric | BaselineRef | BinOp | Neg | Aggregate | WorstBucket


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


def metrics_used(rule: Rule) -> tuple[str, ...]:
    """The metric names a rule reads from runs or the baseline, sorted (``gain`` excluded)."""
    names = set()
    for node in _walk(rule):
        if isinstance(node, Metric | WorstBucket | BaselineRef):
            names.add(node.name if isinstance(node, Metric) else node.metric)
    names.discard(GAIN)
    return tuple(sorted(names))


def uses_gain(rule: Rule) -> bool:
    """Whether the rule needs the compute efficiency gain (a scaling fit of the baseline)."""
    return any(isinstance(n, Metric) and n.name == GAIN for n in _walk(rule))


# ----------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class _Token:
    kind: Literal["num", "name", "baseref", "kw", "cmp", "op", "(", ")", "end"]
    text: str
    pos: int
    value: Any = None

    def describe(self) -> str:
        return "the end of the rule" if self.kind == "end" else repr(self.text)


_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_CMP = {"<=": "<=", ">=": ">=", "==": "==", "!=": "!=", "<": "<", ">": ">"}
_CMP.update({"≤": "<=", "≥": ">=", "≠": "!="})


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if m := _NUMBER.match(text, i):
            if m.end() < len(text) and (text[m.end()].isalpha() or text[m.end()] == "_"):
                raise RuleError(
                    "a number runs into a name; put a space between them", text, m.end()
                )
            value = float(m.group())
            if math.isinf(value):
                raise RuleError("this number is too large", text, i)
            tokens.append(_Token("num", m.group(), i, value))
            i = m.end()
        elif m := _NAME.match(text, i):
            word = m.group()
            if word == "baseline" and text.startswith(".`", m.end()):
                name, end = _quoted(text, m.end() + 1)
                tokens.append(_Token("baseref", text[i:end], i, name))
                i = end
                continue
            if word.startswith("baseline."):
                tokens.append(_Token("baseref", word, i, word[len("baseline.") :]))
            else:
                tokens.append(_Token("kw" if word in KEYWORDS else "name", word, i, word))
            i = m.end()
        elif ch == "`":
            name, end = _quoted(text, i)
            tokens.append(_Token("name", text[i:end], i, name))
            i = end
        elif (op := text[i : i + 2]) in _CMP or (op := ch) in _CMP:
            tokens.append(_Token("cmp", op, i, _CMP[op]))
            i += len(op)
        elif ch in "+-*/":
            tokens.append(_Token("op", ch, i, ch))
            i += 1
        elif ch in "()":
            tokens.append(_Token(ch, ch, i))  # type: ignore[arg-type]
            i += 1
        elif ch in "=!":
            hint = "write '==' to compare" if ch == "=" else "write '!=' or 'not'"
            raise RuleError(f"unexpected {ch!r}; {hint}", text, i)
        else:
            raise RuleError(f"unexpected character {ch!r}", text, i)
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _quoted(text: str, start: int) -> tuple[str, int]:
    """A backtick-quoted name starting at ``start``: (name, position after the closing `)."""
    end = text.find("`", start + 1)
    if end < 0:
        raise RuleError("a quoted name is not closed; end it with '`'", text, start)
    if end == start + 1:
        raise RuleError("a quoted name is empty", text, start)
    return text[start + 1 : end], end + 1


# ----------------------------------------------------------------------------- parser

_ATOM_HINT = "a number, a metric name, 'baseline' or 'mean/min/max over seeds of'"


class _Parser:
    """Recursive descent over the tokens; one method per grammar rule (docs/rules.md)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def error(self, message: str, tok: _Token | None = None) -> RuleError:
        tok = tok or self.tok
        return RuleError(f"{message}, found {tok.describe()}", self.text, tok.pos)

    def take(self) -> _Token:
        tok = self.tok
        self.i += 1
        return tok

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "kw" and self.tok.text in words

    def expect_kw(self, word: str, after: str) -> None:
        if not self.is_kw(word):
            raise self.error(f"expected '{word}' after '{after}'")
        self.take()

    def rule(self) -> Rule:
        if self.tok.kind == "end":
            raise RuleError(
                "the rule is empty; write a comparison such as 'val_loss <= 2.5'", self.text, 0
            )
        node = self.or_()
        tail = self.tokens[self.i]
        if tail.kind == "cmp":
            raise self.error("chained comparisons are not allowed; join them with 'and'")
        if tail.kind != "end":
            raise self.error("expected 'and', 'or' or the end of the rule")
        return node

    def or_(self) -> Rule:
        node = self.and_()
        while self.is_kw("or"):
            self.take()
            node = Or(node, self.and_())
        return node

    def and_(self) -> Rule:
        node = self.not_()
        while self.is_kw("and"):
            self.take()
            node = And(node, self.not_())
        return node

    def not_(self) -> Rule:
        if self.is_kw("not"):
            self.take()
            return Not(self.not_())
        if self.tok.kind != "(":
            return self.comparison()
        # '(' opens either arithmetic, `(a + b) < c`, or a group, `(a < b or c < d)`
        start = self.i
        try:
            return self.comparison()
        except RuleError as as_comparison:
            self.i = start
            try:
                return self.group()
            except RuleError as as_group:
                raise max(as_comparison, as_group, key=lambda e: e.position) from None

    def group(self) -> Rule:
        self.take()
        inner = self.or_()
        if self.tok.kind != ")":
            raise self.error("expected ')'")
        self.take()
        return self.quantifier(inner)

    def quantifier(self, node: Rule) -> Rule:
        if not self.is_kw("at"):
            return node
        at = self.take()
        if not self.is_kw("every", "any"):
            raise self.error("expected 'every' or 'any' after 'at'")
        mode = self.take().text
        self.expect_kw("rung", f"at {mode}")
        return Quantified(mode, node, pos=at.pos)  # type: ignore[arg-type]

    def comparison(self) -> Rule:
        start = self.tok.pos
        left = self.arith()
        if self.tok.kind != "cmp":
            raise self.error("expected a comparison operator (<, <=, >, >=, ==, !=)")
        op = self.take().value
        right = self.arith()
        return self.quantifier(Comparison(op, left, right, pos=start))

    def arith(self) -> Expr:
        node = self.term()
        while self.tok.kind == "op" and self.tok.text in "+-":
            node = BinOp(self.take().value, node, self.term())
        return node

    def term(self) -> Expr:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            node = BinOp(self.take().value, node, self.unary())
        return node

    def unary(self) -> Expr:
        if self.tok.kind == "op" and self.tok.text in "+-":
            sign = self.take().text
            operand = self.unary()
            return Neg(operand) if sign == "-" else operand
        return self.atom()

    def atom(self) -> Expr:
        tok = self.tok
        if tok.kind in ("num", "name", "baseref", "("):
            self.take()
        if tok.kind == "num":
            return Number(tok.value)
        if tok.kind == "name":
            return Metric(tok.value, pos=tok.pos)
        if tok.kind == "baseref":
            return BaselineRef(tok.value, explicit=True, pos=tok.pos)
        if tok.kind == "(":
            inner = self.arith()
            if self.tok.kind != ")":
                raise self.error("expected ')'")
            self.take()
            return inner
        if self.is_kw("baseline"):
            self.take()
            return BaselineRef("", explicit=False, pos=tok.pos)
        if self.is_kw("mean", "min", "max"):
            func = self.take().text
            self.expect_kw("over", func)
            self.expect_kw("seeds", "over")
            self.expect_kw("of", "seeds")
            return Aggregate(func, self.unary(), pos=tok.pos)  # type: ignore[arg-type]
        if self.is_kw("worst"):
            self.take()
            self.expect_kw("bucket", "worst")
            self.expect_kw("of", "bucket")
            if self.tok.kind != "name":
                raise self.error("expected a metric name after 'worst bucket of'")
            return WorstBucket(self.take().value, pos=tok.pos)
        raise self.error(f"expected {_ATOM_HINT}")


def parse_rule(text: str) -> Rule:
    """Parse a decision rule; raises RuleError with the 0-based position of the problem."""
    if not isinstance(text, str):
        raise UsageError(f"a decision rule is text, not {type(text).__name__}")
    return _Checker(text).rule(_Parser(text).rule())


# ----------------------------------------------------------------------------- checks


def _metric_names(expr: Expr) -> list[str]:
    """Metric names of the runs under test in an expression (not baseline references)."""
    names = []
    for node in _walk(expr):
        if isinstance(node, Metric):
            names.append(node.name)
        elif isinstance(node, WorstBucket):
            names.append(node.metric)
    return list(dict.fromkeys(names))


class _Checker:
    """What the grammar alone allows but the language does not; binds bare ``baseline``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def fail(self, message: str, pos: int) -> RuleError:
        return RuleError(message, self.text, pos)

    def rule(self, node: Rule) -> Rule:
        if isinstance(node, Comparison):
            return self.comparison(node)
        if isinstance(node, Quantified):
            if any(isinstance(n, Quantified) for n in _walk(node.body)):
                raise self.fail("a rung quantifier cannot sit inside another one", node.pos)
            return replace(node, body=self.rule(node.body))
        if isinstance(node, Not):
            return Not(self.rule(node.operand))
        return type(node)(self.rule(node.left), self.rule(node.right))

    def comparison(self, node: Comparison) -> Comparison:
        for side in (node.left, node.right):
            self.expr(side)
        nodes = [*_walk(node.left), *_walk(node.right)]
        if not any(isinstance(n, Metric | WorstBucket | BaselineRef) for n in nodes):
            raise self.fail("this comparison names no metric; compare a metric", node.pos)
        worst = [n for n in nodes if isinstance(n, WorstBucket)]
        if len(worst) > 1:
            raise self.fail("only one 'worst bucket of' may appear in a comparison", worst[1].pos)
        left_names, right_names = _metric_names(node.left), _metric_names(node.right)
        left = self.bind(node.left, right_names or left_names)
        right = self.bind(node.right, left_names or right_names)
        return replace(node, left=left, right=right)

    def expr(self, node: Expr) -> None:
        if isinstance(node, WorstBucket) and node.metric == GAIN:
            raise self.fail(
                "gain has no per-bucket values; use 'worst bucket of' on a metric", node.pos
            )
        if not isinstance(node, Aggregate):
            for child in _children(node):
                self.expr(child)  # type: ignore[arg-type]
            return
        inner = list(_walk(node.operand))
        for n in inner:
            if isinstance(n, BaselineRef):
                raise self.fail(
                    f"'baseline' cannot be inside '{node.func} over seeds of'; "
                    "compare the aggregate with the baseline instead",
                    n.pos,
                )
            if isinstance(n, Aggregate | WorstBucket):
                raise self.fail("aggregators cannot be nested", n.pos)
            if isinstance(n, Metric) and n.name == GAIN:
                raise self.fail(
                    "gain has one value per rung, not per seed; compare it outside "
                    f"'{node.func} over seeds of'",
                    n.pos,
                )
        if not any(isinstance(n, Metric) for n in inner):
            raise self.fail(f"'{node.func} over seeds of' needs a metric", node.pos)

    def bind(self, node: Expr, names: list[str]) -> Expr:
        """Give each bare ``baseline`` the one metric it refers to."""
        if isinstance(node, BaselineRef) and not node.explicit:
            if len(names) != 1:
                found = " and ".join(names) if names else "none"
                raise self.fail(
                    "'baseline' must refer to exactly one metric on the other side of the "
                    f"comparison (found {found}); write baseline.METRIC",
                    node.pos,
                )
            return replace(node, metric=names[0])
        if isinstance(node, BinOp):
            return replace(
                node, left=self.bind(node.left, names), right=self.bind(node.right, names)
            )
        if isinstance(node, Neg):
            return Neg(self.bind(node.operand, names))
        return node


# ----------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class Gain:
    """A compute efficiency gain at one rung with its (bootstrap) interval."""

    value: float
    low: float
    high: float

    def __post_init__(self) -> None:
        bounds = (self.low, self.value, self.high)
        if all(math.isfinite(b) for b in bounds) and not self.low <= self.value <= self.high:
            raise UsageError(
                f"a gain needs low <= value <= high, got {self.value} [{self.low}, {self.high}]"
            )


@dataclass(frozen=True)
class RunRecord:
    """One run's final metrics, its rung and seed, and per-bucket values (metric → bucket → value).

    In :attr:`Evidence.baseline`, ``rung=None`` applies to every rung and ``seed=None``
    marks the reference value itself (seeded records then give its spread).
    """

    metrics: Mapping[str, float]
    rung: Rung = None
    seed: Seed = None
    finished: bool = True
    buckets: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    run_id: str = ""


@dataclass(frozen=True)
class Evidence:
    """Everything a rule is evaluated against. Build it with :meth:`Evidence.build`.

    ``rungs`` is the ladder's order, smallest first; the last is the top rung, where a
    comparison without ``at every/any rung`` is evaluated. ``missing`` lists planned
    runs that do not exist, as (rung, seed); a rung of None means any rung.
    """

    runs: tuple[RunRecord, ...] = ()
    baseline: tuple[RunRecord, ...] = ()
    gains: Mapping[Rung, Gain] = field(default_factory=dict)
    missing: tuple[tuple[Rung, Seed], ...] = ()
    rungs: tuple[Rung, ...] = ()

    def __post_init__(self) -> None:
        seen = set()
        for run in self.runs:
            if (run.rung, run.seed) in seen:
                raise UsageError(
                    f"two runs at rung {run.rung}, seed {run.seed}; give each run its own seed"
                )
            seen.add((run.rung, run.seed))
        if not self.rungs:
            found = [r.rung for r in self.runs] + list(self.gains)
            found += [rung for rung, _ in self.missing if rung is not None]
            order = list(dict.fromkeys(found))
            if all(isinstance(r, int) and not isinstance(r, bool) for r in order):
                order.sort()
            object.__setattr__(self, "rungs", tuple(order))

    @classmethod
    def build(
        cls,
        runs: Mapping[Any, Mapping[Any, Mapping[str, float]]] | Iterable[RunRecord] = (),
        baseline: Mapping[Any, Any] | Iterable[RunRecord] = (),
        gains: Mapping[Any, Gain | tuple[float, float, float] | float] | None = None,
        unfinished: Iterable[tuple[Rung, Seed]] = (),
        missing: Iterable[tuple[Rung, Seed]] = (),
        rungs: Iterable[Rung] | None = None,
    ) -> Evidence:
        """Evidence from plain values.

        ``runs``: ``{rung: {seed: {metric: value}}}`` or RunRecords. ``baseline``:
        ``{metric: value}``, ``{rung: {metric: value}}``, ``{rung: {seed: {metric: value}}}``
        or RunRecords. ``gains``: ``{rung: (value, low, high)}`` (a bare number is exact).
        ``unfinished`` and ``missing``: (rung, seed) pairs.
        """
        records = _records(runs) if isinstance(runs, Mapping) else list(runs)
        stopped = set(unfinished)
        known = {(r.rung, r.seed) for r in records}
        records = [
            replace(r, finished=False) if (r.rung, r.seed) in stopped else r for r in records
        ]
        records += [RunRecord({}, rung, seed, finished=False) for rung, seed in stopped - known]
        refs = _baseline_records(baseline) if isinstance(baseline, Mapping) else list(baseline)
        return cls(
            runs=tuple(records),
            baseline=tuple(refs),
            gains={rung: _gain(g) for rung, g in (gains or {}).items()},
            missing=tuple(missing),
            rungs=tuple(rungs or ()),
        )


def _records(runs: Mapping[Any, Mapping[Any, Mapping[str, float]]]) -> list[RunRecord]:
    return [
        RunRecord(dict(metrics), rung, seed)
        for rung, by_seed in runs.items()
        for seed, metrics in by_seed.items()
    ]


def _baseline_records(baseline: Mapping[Any, Any]) -> list[RunRecord]:
    if all(not isinstance(v, Mapping) for v in baseline.values()):
        return [RunRecord(dict(baseline))]
    out = []
    for rung, inner in baseline.items():
        if not isinstance(inner, Mapping):
            raise UsageError(
                "a baseline is {metric: value}, {rung: {metric: value}} or "
                "{rung: {seed: {metric: value}}}; do not mix the shapes"
            )
        if all(isinstance(v, Mapping) for v in inner.values()):
            out += [RunRecord(dict(m), rung, seed) for seed, m in inner.items()]
        else:
            out.append(RunRecord(dict(inner), rung))
    return out


def _gain(g: Gain | tuple[float, float, float] | float) -> Gain:
    if isinstance(g, Gain):
        return g
    if isinstance(g, int | float):
        return Gain(float(g), float(g), float(g))
    value, low, high = g
    return Gain(float(value), float(low), float(high))


# ----------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Verdict:
    """The answer to a rule, with one readable reason per comparison made."""

    answer: Answer
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """``{"answer", "reasons"}`` for JSON output."""
        return {"answer": self.answer, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class _Est:
    """A value with its interval (low == high when exact)."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        if self.low == self.high:
            return _num(self.value)
        return f"{_num(self.value)} [{_num(self.low)}, {_num(self.high)}]"


class _Unknown(Exception):
    """A value the evidence cannot give; the message is the reason."""


def _num(x: float) -> str:
    return f"{x:.6g}"


def _exact(x: float) -> _Est:
    return _Est(x, x, x)


def _spread(values: list[float]) -> _Est:
    """Mean ± sample standard deviation (exact for one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2 or not all(math.isfinite(v) for v in values):
        return _exact(mean)
    sd = statistics.stdev(values)
    return _Est(mean, mean - sd, mean + sd)


def _arith(op: str, a: _Est, b: _Est) -> _Est:
    if op == "+":
        return _Est(a.value + b.value, a.low + b.low, a.high + b.high)
    if op == "-":
        return _Est(a.value - b.value, a.low - b.high, a.high - b.low)
    if op == "/":
        if b.low <= 0 <= b.high:
            raise _Unknown("division by zero" if b.low == b.high else "a divisor may be zero")
        b = _Est(1 / b.value, 1 / b.high, 1 / b.low)
    corners = [a.low * b.low, a.low * b.high, a.high * b.low, a.high * b.high]
    return _Est(a.value * b.value, min(corners), max(corners))


def _compare(op: str, a: _Est, b: _Est) -> Answer:
    """Compare two intervals: yes or no when every value in them agrees, else inconclusive."""
    if op in ("==", "!="):
        if a.low == a.high == b.low == b.high:
            same = a.value == b.value
        elif a.high < b.low or b.high < a.low:
            same = False
        else:
            return "inconclusive"
        return "yes" if same == (op == "==") else "no"
    if op in (">", ">="):
        a, b, op = b, a, "<" if op == ">" else "<="
    if (a.high < b.low) if op == "<" else (a.high <= b.low):
        return "yes"
    if (a.low >= b.high) if op == "<" else (a.low > b.high):
        return "no"
    return "inconclusive"


def _all(answers: Iterable[Answer]) -> Answer:
    found = set(answers)
    return "no" if "no" in found else "inconclusive" if "inconclusive" in found else "yes"


def _any(answers: Iterable[Answer]) -> Answer:
    found = set(answers)
    return "yes" if "yes" in found else "inconclusive" if "inconclusive" in found else "no"


_ALL_SEEDS = object()


class _Evaluator:
    """Evaluates a checked rule against one Evidence; each method documents its rule."""

    def __init__(self, evidence: Evidence) -> None:
        self.ev = evidence

    def rung_text(self, rung: Rung, shown: bool) -> str:
        return f" at rung {rung}" if shown else ""

    def rule(self, node: Rule, rung: Rung, shown: bool) -> tuple[Answer, list[str]]:
        if isinstance(node, Comparison):
            return self.comparison(node, rung, shown)
        if isinstance(node, Quantified):
            return self.quantified(node)
        if isinstance(node, Not):
            answer, reasons = self.rule(node.operand, rung, shown)
            flipped: Answer = {"yes": "no", "no": "yes"}.get(answer, answer)  # type: ignore[assignment]
            return flipped, reasons
        left, left_reasons = self.rule(node.left, rung, shown)
        right, right_reasons = self.rule(node.right, rung, shown)
        combine = _all if isinstance(node, And) else _any
        return combine([left, right]), left_reasons + right_reasons

    def quantified(self, node: Quantified) -> tuple[Answer, list[str]]:
        """Evaluate the body at each rung of the ladder; every = and, any = or."""
        if not self.ev.rungs:
            return "inconclusive", [f"{node}: inconclusive (the evidence has no rungs)"]
        answers: dict[Rung, Answer] = {}
        reasons: list[str] = []
        for rung in self.ev.rungs:
            answers[rung], more = self.rule(node.body, rung, shown=True)
            reasons += more
        answer = (_all if node.mode == "every" else _any)(answers.values())
        parts = []
        for kind in ("yes", "no", "inconclusive"):
            at = [str(r) for r, a in answers.items() if a == kind]
            if at:
                parts.append(f"{kind} at rung{'s' if len(at) > 1 else ''} {', '.join(at)}")
        reasons.append(f"{node}: {answer} ({'; '.join(parts)})")
        return answer, reasons

    def comparison(self, node: Comparison, rung: Rung, shown: bool) -> tuple[Answer, list[str]]:
        """One comparison at one rung; with ``worst bucket of``, at every bucket (and)."""
        label = f"{node}{self.rung_text(rung, shown)}"
        worst = next((n for n in _walk(node) if isinstance(n, WorstBucket)), None)
        if worst is None:
            answer, reason, _ = self.compare_once(node, rung, None)
            return answer, [f"{label}: {reason}"]
        try:
            buckets = self.buckets(worst.metric, rung)
        except _Unknown as exc:
            return "inconclusive", [f"{label}: inconclusive ({exc})"]
        results = {b: self.compare_once(node, rung, b) for b in buckets}
        answer = _all(a for a, _, _ in results.values())
        if answer == "yes":
            tight = min(results, key=lambda b: results[b][2])
            head = f"yes in all {len(buckets)} buckets; tightest {tight!r}"
            return answer, [f"{label}: {head}: {results[tight][1]}"]
        return answer, [
            f"{label}, bucket {b!r}: {reason}"
            for b, (a, reason, _) in results.items()
            if a != "yes"
        ]

    def compare_once(
        self, node: Comparison, rung: Rung, bucket: str | None
    ) -> tuple[Answer, str, float]:
        """(answer, reason, margin): the margin ranks passing buckets, smallest = tightest."""
        try:
            left = self.expr(node.left, rung, _ALL_SEEDS, bucket)
            right = self.expr(node.right, rung, _ALL_SEEDS, bucket)
        except _Unknown as exc:
            return "inconclusive", f"inconclusive ({exc})", math.inf
        answer = _compare(node.op, left, right)
        shown = f"{left} {node.op} {right}"
        if answer == "inconclusive":
            both = left.low < left.high and right.low < right.high
            why = "the intervals overlap" if both else "the interval straddles the threshold"
            return answer, f"{shown}: inconclusive ({why})", 0.0
        margin = min(abs(left.low - right.high), abs(right.low - left.high))
        return answer, f"{shown}: {answer}", margin

    def expr(self, node: Expr, rung: Rung, seed: object, bucket: str | None) -> _Est:
        if isinstance(node, Number):
            return _exact(node.value)
        if isinstance(node, Metric):
            if node.name == GAIN:
                return self.gain(rung)
            return self.values(node.name, rung, seed, None)
        if isinstance(node, WorstBucket):
            return self.values(node.metric, rung, seed, bucket)
        if isinstance(node, BaselineRef):
            return self.baseline(node.metric, rung, bucket)
        if isinstance(node, Neg):
            inner = self.expr(node.operand, rung, seed, bucket)
            return _Est(-inner.value, -inner.high, -inner.low)
        if isinstance(node, BinOp):
            left = self.expr(node.left, rung, seed, bucket)
            return _arith(node.op, left, self.expr(node.right, rung, seed, bucket))
        seeds = [run.seed for run in self.runs_at(rung)]
        per_seed = [self.expr(node.operand, rung, s, bucket).value for s in seeds]
        if node.func == "mean":
            return _spread(per_seed)
        return _exact(min(per_seed) if node.func == "min" else max(per_seed))

    def describe(self, run: RunRecord) -> str:
        if run.run_id:
            return f"run {run.run_id}"
        where = [f"rung {run.rung}"] if len(self.ev.rungs) > 1 else []
        where += [f"seed {run.seed}"] if run.seed is not None else []
        return f"the run at {', '.join(where)}" if where else "the run"

    def check_rung(self, rung: Rung) -> list[RunRecord]:
        """The runs at a rung, after the checks that a missing or unfinished run fails."""
        for m_rung, m_seed in self.ev.missing:
            if m_rung is None or m_rung == rung:
                seed = f", seed {m_seed}" if m_seed is not None else ""
                raise _Unknown(f"a planned run (rung {m_rung}{seed}) is missing")
        runs = [r for r in self.ev.runs if r.rung == rung]
        for run in runs:
            if not run.finished:
                raise _Unknown(f"{self.describe(run)} has not finished")
        return runs

    def runs_at(self, rung: Rung) -> list[RunRecord]:
        runs = self.check_rung(rung)
        if not runs:
            raise _Unknown(
                f"no runs at rung {rung}" if self.ev.rungs else "no runs in the evidence"
            )
        return runs

    def values(self, metric: str, rung: Rung, seed: object, bucket: str | None) -> _Est:
        """A metric of the runs at a rung: one seed's value, or the mean ± sd over seeds."""
        runs = self.runs_at(rung)
        if seed is not _ALL_SEEDS:
            runs = [r for r in runs if r.seed == seed]
        values = []
        for run in runs:
            if bucket is None:
                value = run.metrics.get(metric)
                if value is None:
                    raise _Unknown(f"{metric} was not logged by {self.describe(run)}")
            else:
                value = run.buckets.get(metric, {}).get(bucket)
                if value is None:
                    raise _Unknown(f"{self.describe(run)} has no {metric} for bucket {bucket!r}")
            if not isinstance(value, int | float):
                raise _Unknown(f"{metric} is not a number in {self.describe(run)}: {value!r}")
            if math.isnan(value):
                raise _Unknown(f"{metric} is NaN in {self.describe(run)}")
            values.append(float(value))
        return _spread(values)

    def buckets(self, metric: str, rung: Rung) -> list[str]:
        names = {b for run in self.runs_at(rung) for b in run.buckets.get(metric, {})}
        if not names:
            raise _Unknown(f"no per-bucket values of {metric}{self.rung_text(rung, True)}")
        return sorted(names)

    def gain(self, rung: Rung) -> _Est:
        """The efficiency gain at a rung, with its interval."""
        self.check_rung(rung)
        gain = self.ev.gains.get(rung)
        if gain is None:
            raise _Unknown(
                f"no efficiency gain at rung {rung}; fit the baseline's scaling law "
                "and compute the gain first"
            )
        if math.isnan(gain.value):
            raise _Unknown(f"the efficiency gain at rung {rung} is NaN")
        return _Est(gain.value, gain.low, gain.high)

    def baseline(self, metric: str, rung: Rung, bucket: str | None) -> _Est:
        """The baseline's reference (its own rung's, else the rung-free one) with its spread."""
        if metric == GAIN:
            return _exact(1.0)  # the baseline's gain over itself
        refs = [r for r in self.ev.baseline if r.rung == rung and metric in r.metrics]
        refs = refs or [r for r in self.ev.baseline if r.rung is None and metric in r.metrics]
        for ref in refs:
            if not ref.finished:
                name = ref.run_id or f"at seed {ref.seed}"
                raise _Unknown(f"the baseline's run {name} has not finished")

        def pick(r: RunRecord) -> float | None:
            if bucket is not None and any(bucket in x.buckets.get(metric, {}) for x in refs):
                return r.buckets.get(metric, {}).get(bucket)
            return r.metrics.get(metric)

        point = [v for r in refs if r.seed is None and (v := pick(r)) is not None]
        seeded = [v for r in refs if r.seed is not None and (v := pick(r)) is not None]
        if not point and not seeded:
            raise _Unknown(
                f"the baseline has no reference value of {metric}"
                f"{self.rung_text(rung, len(self.ev.rungs) > 1)}"
            )
        if any(math.isnan(v) for v in point + seeded):
            raise _Unknown(f"the baseline's {metric} is NaN")
        if not point:
            return _spread(seeded)
        sd = statistics.stdev(seeded) if len(seeded) > 1 else 0.0
        return _Est(point[0], point[0] - sd, point[0] + sd)


def evaluate(rule: Rule | str, evidence: Evidence) -> Verdict:
    """Answer a rule from the evidence: yes, no or inconclusive, with the numbers.

    A comparison without ``at every/any rung`` is evaluated at the top rung. A metric
    stands for the mean over seeds with ± one sample standard deviation; a comparison
    whose intervals overlap, or that needs a missing or unfinished run, is inconclusive;
    ``and``, ``or`` and ``not`` follow three-valued logic.
    """
    tree = parse_rule(rule) if isinstance(rule, str) else rule
    rungs = evidence.rungs
    top = rungs[-1] if rungs else None
    answer, reasons = _Evaluator(evidence).rule(tree, top, shown=len(rungs) > 1)
    return Verdict(answer, tuple(reasons))
