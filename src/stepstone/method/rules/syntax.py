"""Reading a decision rule: tokenizer, recursive-descent parser and the checks after it.

:func:`parse_rule` turns the text into a frozen syntax tree (:mod:`.tree`) or raises
RuleError with the 0-based position of the problem. The grammar is in docs/rules.md.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, Literal

from stepstone.errors import RuleError, UsageError
from stepstone.method.rules.tree import (
    _NAME,
    GAIN,
    KEYWORDS,
    Aggregate,
    And,
    BaselineRef,
    BinOp,
    Comparison,
    Expr,
    Metric,
    Neg,
    Not,
    Number,
    Or,
    Quantified,
    Rule,
    Sigma,
    WorstBucket,
    _children,
    _walk,
)

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
            if self.is_kw("sigma"):  # `2 sigma`: that many noise floors
                return BinOp("*", Number(tok.value), Sigma(pos=self.take().pos))
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
        if self.is_kw("sigma"):
            self.take()
            return Sigma(pos=tok.pos)
        if self.is_kw("delta"):
            self.take()
            if self.tok.kind != "name":
                raise self.error("expected a metric name after 'delta'")
            name = self.take()
            return BinOp("-", Metric(name.value, pos=name.pos),
                         BaselineRef(name.value, explicit=True, pos=tok.pos))
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
    try:
        return _Checker(text).rule(_Parser(text).rule())
    except RecursionError:
        raise RuleError("this rule nests too deeply to read (hundreds of parentheses, signs or "
                        "'and'/'or' in a row); write it flatter") from None


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
        """Give each bare ``baseline`` and ``sigma`` the one metric it refers to."""
        if isinstance(node, Sigma):
            if len(names) != 1:
                found = " and ".join(names) if names else "none"
                raise self.fail("'sigma' must refer to exactly one metric in the comparison "
                                f"(found {found})", node.pos)
            return replace(node, metric=names[0])
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
