"""Answering a decision rule from the evidence, with three-valued logic.

:func:`evaluate` answers a rule with ``yes``, ``no`` or ``inconclusive`` and the numbers
behind each comparison; :func:`metrics_used` and :func:`uses_gain` say what it reads.
The evaluation rules are in docs/rules.md.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from stepstone.method.rules.facts import Evidence, RunFacts, Rung, Scores, Tally
from stepstone.method.rules.intervals import critical, mean_interval, mover_sum, wilson
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
    Sigma,
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
class Unsettled:
    """An inconclusive comparison of a mean over seeds, sized for a power analysis: the
    distance of its difference from the threshold, the per-seed SD of the side measured on
    seeds, its seeds, and the variance more of those seeds would not remove (the other side's)."""

    rung: Any
    distance: float
    sd: float
    seeds: int
    fixed_var: float
    paired: bool


@dataclass(frozen=True)
class Verdict:
    """The answer to a rule, with one readable reason per comparison made (``unsettled``:
    its inconclusive comparisons of means over seeds, for a power analysis)."""

    answer: Answer
    reasons: tuple[str, ...]
    unsettled: tuple[Unsettled, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``{"answer", "reasons"}`` for JSON output."""
        return {"answer": self.answer, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class _Est:
    """A value with its interval at the evidence's confidence (low == high when exact).

    ``seeds`` holds per-seed values when the value is a mean over seeds (so that two sides
    measured on the same seeds are paired); ``caveat`` says why it cannot settle a comparison;
    ``notes`` what a reason should say about it (where a one-seed spread came from)."""

    value: float
    low: float
    high: float
    seeds: Mapping[Any, float] | None = None
    caveat: str = ""
    notes: tuple[str, ...] = ()

    @property
    def exact(self) -> bool:
        return self.low == self.high

    def triple(self) -> tuple[float, float, float]:
        return (self.value, self.low, self.high)

    def __str__(self) -> str:
        if self.exact:
            return _num(self.value)
        return f"{_num(self.value)} [{_num(self.low)}, {_num(self.high)}]"


class _Unknown(Exception):
    """A value the evidence cannot give; the message is the reason."""


def _num(x: float) -> str:
    return f"{x:.6g}"


def _exact(x: float) -> _Est:
    return _Est(x, x, x)


def _merge(a: _Est, b: _Est) -> dict[str, Any]:
    caveat = "; ".join(c for c in dict.fromkeys((a.caveat, b.caveat)) if c)
    return {"caveat": caveat, "notes": tuple(dict.fromkeys(a.notes + b.notes))}


def _seeds(a: _Est, b: _Est, op: Callable[[float, float], float]) -> Mapping[Any, float] | None:
    """Per-seed values of ``a op b``: both per seed on the same seeds, or one side exact."""
    if a.seeds is not None and b.seeds is not None:
        if set(a.seeds) != set(b.seeds):
            return None
        return {s: op(a.seeds[s], b.seeds[s]) for s in a.seeds}
    if a.seeds is not None and b.exact:
        return {s: op(v, b.value) for s, v in a.seeds.items()}
    if b.seeds is not None and a.exact:
        return {s: op(a.value, v) for s, v in b.seeds.items()}
    return None


def _scale(a: _Est, k: float) -> _Est:
    ends = (a.low * k, a.high * k)
    seeds = {s: v * k for s, v in a.seeds.items()} if a.seeds is not None else None
    return _Est(a.value * k, min(ends), max(ends), seeds, a.caveat, a.notes)


def _arith(op: str, a: _Est, b: _Est) -> _Est:
    """``a op b``. Sums and differences of independent values combine their intervals by
    MOVER (squared half-widths add); a product or quotient of two uncertain positive values
    by MOVER on the log scale, else by the corners of their intervals (conservative)."""
    if op in ("+", "-"):
        sign = 1.0 if op == "+" else -1.0
        other = b.triple() if op == "+" else (-b.value, -b.high, -b.low)
        value, low, high = mover_sum(a.triple(), other)
        seeds = _seeds(a, b, lambda x, y: x + sign * y)
        return _Est(value, low, high, seeds, **_merge(a, b))
    if op == "/":
        if b.low <= 0 <= b.high:
            raise _Unknown("division by zero" if b.exact else "a divisor may be zero")
        if b.exact:
            return _scale(a, 1.0 / b.value)
        b = _Est(1 / b.value, 1 / b.high, 1 / b.low, None, b.caveat, b.notes)
    if b.exact:
        return _scale(a, b.value)
    if a.exact:
        return _scale(b, a.value)
    value = a.value * b.value
    if a.low > 0 and b.low > 0:
        logs = mover_sum(tuple(map(math.log, a.triple())),  # type: ignore[arg-type]
                         tuple(map(math.log, b.triple())))  # type: ignore[arg-type]
        return _Est(value, math.exp(logs[1]), math.exp(logs[2]), **_merge(a, b))
    corners = [a.low * b.low, a.low * b.high, a.high * b.low, a.high * b.high]
    return _Est(value, min(corners), max(corners), **_merge(a, b))


def _difference(a: _Est, b: _Est, confidence: float) -> tuple[_Est, str]:
    """``a - b`` with its interval, and how it was formed: paired (a t interval of the per-seed
    differences) when both sides are means over the same 2+ seeds, else MOVER."""
    if a.seeds is not None and b.seeds is not None and set(a.seeds) == set(b.seeds) \
            and len(a.seeds) >= 2 and not (a.exact and b.exact):
        diffs = [a.seeds[s] - b.seeds[s] for s in a.seeds]
        _, low, high = mean_interval(diffs, confidence)
        return _Est(a.value - b.value, low, high, **_merge(a, b)), f"paired on {len(diffs)} seeds"
    return _arith("-", a, b), ""


def _compare(op: str, a: _Est, b: _Est, confidence: float) -> tuple[Answer, str]:
    """Compare two values by the interval of their difference: yes or no when the whole
    interval agrees, else inconclusive; (answer, what the difference was)."""
    d, how = _difference(a, b, confidence)
    shown = "" if (a.exact or b.exact) and not how else (
        f"difference {d}" + (f", {how}" if how else ""))
    low, high = d.low, d.high
    if op in ("==", "!="):
        if low == high:
            same = d.value == 0
        elif low > 0 or high < 0:
            same = False
        else:
            return "inconclusive", shown
        return ("yes" if same == (op == "==") else "no"), shown
    if op in (">", ">="):
        low, high, op = -high, -low, "<" if op == ">" else "<="
    if (high < 0) if op == "<" else (high <= 0):
        return "yes", shown
    if (low >= 0) if op == "<" else (low > 0):
        return "no", shown
    return "inconclusive", shown


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
        self.conf = evidence.confidence
        self.unsettled: list[Unsettled] = []

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
        """Evaluate the body at each rung of the ladder (the planned rungs: a rung with no
        runs is evaluated, and found missing); every = and, any = or."""
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
        answer, how = _compare(node.op, left, right, self.conf)
        shown = f"{left} {node.op} {right}"
        if how:
            shown += f" ({how})"
        notes = "".join(f"; {n}" for n in dict.fromkeys(left.notes + right.notes))
        caveat = "; ".join(c for c in dict.fromkeys((left.caveat, right.caveat)) if c)
        if caveat:
            return "inconclusive", f"{shown}: inconclusive ({caveat}){notes}", 0.0
        if answer == "inconclusive":
            self.size(rung, left, right, how)
            why = (f"the {self.conf:.0%} interval of the difference holds the threshold"
                   if how or not (left.exact or right.exact)
                   else f"the {self.conf:.0%} interval straddles the threshold")
            return answer, f"{shown}: inconclusive ({why}){notes}", 0.0
        margin = min(abs(left.low - right.high), abs(right.low - left.high))
        return answer, f"{shown}: {answer}{notes}", margin

    def size(self, rung: Rung, left: _Est, right: _Est, how: str) -> None:
        """Record an inconclusive comparison of a mean over seeds for the power analysis: the
        per-seed SD from its t interval, the other side's variance as what seeds keep."""
        sided = [(e, o) for e, o in ((left, right), (right, left)) if e.seeds]
        if not sided:
            return
        own, other = sided[0]
        k = len(own.seeds or ())
        d, _ = _difference(left, right, self.conf)
        if how:  # paired: the per-seed differences
            half, fixed = (d.high - d.low) / 2, 0.0
        else:
            half = (own.high - own.low) / 2
            z = critical(self.conf, math.inf)
            fixed = ((other.high - other.low) / 2 / z) ** 2
        dof = k - 1 if k >= 2 else math.inf
        sd = half / critical(self.conf, dof) * math.sqrt(k)
        if sd > 0 and math.isfinite(sd):
            self.unsettled.append(Unsettled(rung, abs(d.value), sd, k, fixed, bool(how)))

    def expr(self, node: Expr, rung: Rung, seed: object, bucket: str | None) -> _Est:
        if isinstance(node, Number):
            return _exact(node.value)
        if isinstance(node, Sigma):
            return self.sigma(node.metric)
        if isinstance(node, Metric):
            if node.name == GAIN:
                return self.gain(rung)
            return self.values(node.name, rung, seed, None)
        if isinstance(node, WorstBucket):
            return self.values(node.metric, rung, seed, bucket)
        if isinstance(node, BaselineRef):
            return self.baseline(node.metric, rung, bucket)
        if isinstance(node, Neg):
            return _scale(self.expr(node.operand, rung, seed, bucket), -1.0)
        if isinstance(node, BinOp):
            left = self.expr(node.left, rung, seed, bucket)
            return _arith(node.op, left, self.expr(node.right, rung, seed, bucket))
        seeds = [run.seed for run in self.runs_at(rung)]
        per_seed = {s: self.expr(node.operand, rung, s, bucket).value for s in seeds}
        if node.func == "mean":
            name = node.operand.name if isinstance(node.operand, Metric) else str(node.operand)
            return self.seed_mean(name, per_seed, rung)
        pick = min if node.func == "min" else max
        return _exact(pick(per_seed.values()))

    def describe(self, run: RunFacts) -> str:
        if run.run_id:
            return f"run {run.run_id}"
        where = [f"rung {run.rung}"] if len(self.ev.rungs) > 1 else []
        where += [f"seed {run.seed}"] if run.seed is not None else []
        return f"the run at {', '.join(where)}" if where else "the run"

    def check_rung(self, rung: Rung) -> list[RunFacts]:
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

    def runs_at(self, rung: Rung) -> list[RunFacts]:
        runs = self.check_rung(rung)
        if not runs:
            raise _Unknown(
                f"no runs at rung {rung}" if self.ev.rungs else "no runs in the evidence"
            )
        return runs

    def noise_sd(self, metric: str, rung: Rung) -> tuple[float, int, str] | None:
        """The seed-to-seed SD of ``metric`` for a one-seed value: the baseline's noise floor,
        else the spread of the baseline's own seeds at the rung; (sd, seeds, where)."""
        floor = self.ev.noise.get(metric)
        if floor is not None and floor.n >= 2 and math.isfinite(floor.sd):
            return floor.sd, floor.n, "the baseline's noise floor"
        seeded = [v for r in self.ev.baseline if r.rung == rung and r.seed is not None
                  and isinstance(v := r.metrics.get(metric), int | float) and math.isfinite(v)]
        if len(seeded) >= 2:
            return statistics.stdev(seeded), len(seeded), "the baseline's seeds at this rung"
        return None

    def seed_mean(self, metric: str, values: Mapping[Any, float], rung: Rung) -> _Est:
        """The mean over seeds with its t interval; one seed takes its spread from the noise
        floor (and says so), and without one its seed noise is unknown (a caveat)."""
        if len(values) >= 2:
            mean, low, high = mean_interval(list(values.values()), self.conf)
            return _Est(mean, low, high, dict(values))
        (value,) = values.values()
        noise = self.noise_sd(metric, rung)
        if noise is None:
            return _Est(value, value, value, dict(values), caveat=(
                f"one seed of {metric} and no noise floor: its seed noise is unknown; run more "
                "seeds or measure the baseline's noise floor"))
        sd, n, where = noise
        half = critical(self.conf, n - 1) * sd
        note = f"one seed of {metric}: its spread is {where} (SD {sd:.3g}, {n} seeds)"
        return _Est(value, value - half, value + half, dict(values), notes=(note,))

    def values(self, metric: str, rung: Rung, seed: object, bucket: str | None) -> _Est:
        """A metric of the runs at a rung: one seed's value, or the mean over seeds with its
        interval; in a bucket, pooled over seeds (Wilson for pass/fail, t for scores)."""
        runs = self.runs_at(rung)
        if seed is not _ALL_SEEDS:
            runs = [r for r in runs if r.seed == seed]
        if bucket is not None:
            return self.bucket_value(metric, bucket, runs, rung)
        values: dict[Any, float] = {}
        for run in runs:
            value = run.metrics.get(metric)
            if value is None:
                raise _Unknown(f"{metric} was not logged by {self.describe(run)}")
            if not isinstance(value, int | float):
                raise _Unknown(f"{metric} is not a number in {self.describe(run)}: {value!r}")
            if math.isnan(value):
                raise _Unknown(f"{metric} is NaN in {self.describe(run)}")
            values[run.seed] = float(value)
        if seed is not _ALL_SEEDS:
            return _exact(next(iter(values.values())))
        return self.seed_mean(metric, values, rung)

    def bucket_value(self, metric: str, bucket: str, runs: list[RunFacts],
                     rung: Rung) -> _Est:
        """One bucket of ``metric`` over ``runs``: pass/fail tallies pooled into a Wilson
        interval, per-example scores into a t interval, plain values as a mean over seeds."""
        found = [run.buckets.get(metric, {}).get(bucket) for run in runs]
        missing = [run for run, v in zip(runs, found, strict=True) if v is None]
        if missing:
            raise _Unknown(f"{self.describe(missing[0])} has no {metric} for bucket {bucket!r}")
        return _pooled(metric, bucket, found, {r.seed: v for r, v in zip(runs, found,
                                                                         strict=True)},
                       self, rung)

    def buckets(self, metric: str, rung: Rung) -> list[str]:
        names = {b for run in self.runs_at(rung) for b in run.buckets.get(metric, {})}
        if not names:
            raise _Unknown(f"no per-bucket values of {metric}{self.rung_text(rung, True)} "
                           "(log evaluation records with run.log_eval)")
        return sorted(names)

    def gain(self, rung: Rung) -> _Est:
        """The efficiency gain at a rung, with its interval (and its caveat, if any)."""
        self.check_rung(rung)
        gain = self.ev.gains.get(rung)
        if gain is None:
            raise _Unknown(f"no efficiency gain was measured at rung {rung}")
        if math.isnan(gain.value):
            raise _Unknown(f"the efficiency gain at rung {rung} is undefined"
                           + (f": {gain.note}" if gain.note else ""))
        return _Est(gain.value, gain.low, gain.high, caveat=gain.caveat)

    def sigma(self, metric: str) -> _Est:
        """The baseline's noise floor of ``metric`` (its seed-to-seed SD), a unit."""
        floor = self.ev.noise.get(metric)
        if floor is None or not math.isfinite(floor.sd):
            raise _Unknown(f"no noise floor of {metric} for the baseline; measure it "
                           "(stepstone baseline noise) to use sigma")
        return _exact(floor.sd)

    def baseline(self, metric: str, rung: Rung, bucket: str | None) -> _Est:
        """The baseline's reference (its own rung's, else the rung-free one) with its interval:
        a reference value (seed None) is exact unless seeded records give its spread; seeded
        runs alone give their mean over seeds."""
        if metric == GAIN:
            return _exact(1.0)  # the baseline's gain over itself
        refs = [r for r in self.ev.baseline if r.rung == rung and metric in r.metrics]
        refs = refs or [r for r in self.ev.baseline if r.rung is None and metric in r.metrics]
        if bucket is not None:
            in_bucket = [r for r in self.ev.baseline if r.rung == rung
                         and bucket in r.buckets.get(metric, {})]
            in_bucket = in_bucket or [r for r in self.ev.baseline if r.rung is None
                                      and bucket in r.buckets.get(metric, {})]
            if in_bucket:
                for ref in in_bucket:
                    self.finished_ref(ref)
                found = [r.buckets[metric][bucket] for r in in_bucket]
                return _pooled(metric, bucket, found,
                               {r.seed: v for r, v in zip(in_bucket, found, strict=True)},
                               self, rung)
        for ref in refs:
            self.finished_ref(ref)
        point = [v for r in refs if r.seed is None and (v := r.metrics.get(metric)) is not None]
        seeded = {r.seed: v for r in refs if r.seed is not None
                  and (v := r.metrics.get(metric)) is not None}
        if not point and not seeded:
            raise _Unknown(
                f"the baseline has no reference value of {metric}"
                f"{self.rung_text(rung, len(self.ev.rungs) > 1)}"
            )
        if any(math.isnan(v) for v in point + list(seeded.values())):
            raise _Unknown(f"the baseline's {metric} is NaN")
        if not point:
            return self.seed_mean(metric, seeded, rung)
        if len(seeded) < 2:
            return _exact(point[0])
        _, low, high = mean_interval(list(seeded.values()), self.conf)
        half = (high - low) / 2.0
        return _Est(point[0], point[0] - half, point[0] + half)

    def finished_ref(self, ref: RunFacts) -> None:
        if not ref.finished:
            name = ref.run_id or f"at seed {ref.seed}"
            raise _Unknown(f"the baseline's run {name} has not finished")


def _pooled(metric: str, bucket: str, found: list[Any], per_seed: Mapping[Any, Any],
            ev: _Evaluator, rung: Rung) -> _Est:
    """A bucket's value over seeds: Tally → Wilson over all trials, Scores → t over all
    examples, plain numbers → the mean over seeds."""
    conf = ev.conf
    if all(isinstance(v, Tally) for v in found):
        wins = sum(v.successes for v in found)
        trials = sum(v.trials for v in found)
        if trials == 0:
            raise _Unknown(f"bucket {bucket!r} of {metric} has no examples")
        return _Est(*wilson(wins, trials, conf), notes=("Wilson intervals",))
    if all(isinstance(v, Scores) for v in found):
        values = [x for v in found for x in v.values]
        if len(values) < 2:
            raise _Unknown(f"bucket {bucket!r} of {metric} has fewer than 2 examples")
        return _Est(*mean_interval(values, conf))
    if any(isinstance(v, Tally | Scores) for v in found):
        raise _Unknown(f"bucket {bucket!r} of {metric} mixes pass/fail and scores")
    return ev.seed_mean(f"{metric}[{bucket}]", {s: float(v) for s, v in per_seed.items()}, rung)


def evaluate(rule: Rule | str, evidence: Evidence) -> Verdict:
    """Answer a rule from the evidence: yes, no or inconclusive, with the numbers.

    A comparison without ``at every/any rung`` is evaluated at the top rung. A metric
    stands for the mean over seeds with its t interval at the evidence's confidence (one
    seed: the noise floor's spread, or inconclusive without one); a comparison is decided
    by the interval of the difference of its sides (paired when both are means over the same
    seeds); one that needs a missing or unfinished run is inconclusive; ``and``, ``or`` and
    ``not`` follow three-valued logic. Abandoned runs are named in the reasons.
    """
    tree = parse_rule(rule) if isinstance(rule, str) else rule
    rungs = evidence.rungs
    top = rungs[-1] if rungs else None
    evaluator = _Evaluator(evidence)
    answer, reasons = evaluator.rule(tree, top, shown=len(rungs) > 1)
    for run in evidence.abandoned:
        where = f" at rung {run.rung}" if run.rung is not None else ""
        seed = f", seed {run.seed}" if run.seed is not None else ""
        why = f" ({run.reason})" if run.reason else ""
        reasons.append(f"run {run.run_id or '?'}{where}{seed} was abandoned{why}: left out")
    return Verdict(answer, tuple(reasons), tuple(evaluator.unsettled))
