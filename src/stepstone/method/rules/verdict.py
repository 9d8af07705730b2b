"""Answering a decision rule from the evidence, with three-valued logic.

:func:`evaluate` answers a rule with ``yes``, ``no`` or ``inconclusive`` and the numbers
behind each comparison; :func:`metrics_used` and :func:`uses_gain` say what it reads.
The evaluation rules are in docs/rules.md.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from stepstone.method.rules.facts import Evidence, Rung, RunRecord
from stepstone.method.rules.syntax import parse_rule
from stepstone.method.rules.tree import (
    GAIN,
    And,
    BaselineRef,
    BinOp,
    Comparison,
    Expr,
    Metric,
    Neg,
    Not,
    Number,
    Quantified,
    Rule,
    WorstBucket,
    _walk,
)

Answer = Literal["yes", "no", "inconclusive"]


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
