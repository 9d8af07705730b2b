"""The decision-rule language: parsing, canonical text, errors with positions, evaluation."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepstone.errors import RuleError, UsageError
from stepstone.method.rules import (
    Aggregate,
    And,
    BaselineRef,
    BinOp,
    Comparison,
    Evidence,
    Gain,
    Metric,
    Neg,
    Not,
    Number,
    Or,
    Quantified,
    RunFacts,
    Tally,
    Verdict,
    WorstBucket,
    evaluate,
    metrics_used,
    parse_rule,
    uses_gain,
)

# ----------------------------------------------------------------------------- parsing

CANONICAL = [
    ("gain >= 1.05 at every rung", "gain >= 1.05 at every rung"),
    ("latency_ms <= 1.0", "latency_ms <= 1"),
    ("val_loss <= baseline - 0.01", "val_loss <= baseline - 0.01"),
    (
        "mean over seeds of val_loss < baseline.val_loss",
        "mean over seeds of val_loss < baseline.val_loss",
    ),
    (
        "gain >= 1.05 at every rung and latency_ms <= 1.0",
        "gain >= 1.05 at every rung and latency_ms <= 1",
    ),
    ("eval/accuracy >= 0.9 or val_loss < 2.5", "eval/accuracy >= 0.9 or val_loss < 2.5"),
    ("min over seeds of train.loss > 0", "min over seeds of train.loss > 0"),
    ("max over seeds of (a - b) <= 1e-3", "max over seeds of (a - b) <= 0.001"),
    ("worst bucket of acc >= baseline - 0.02", "worst bucket of acc >= baseline - 0.02"),
    ("((a)) + (b * c) < (d)", "a + b * c < d"),
    ("(a + b) * c < d", "(a + b) * c < d"),
    ("a - (b - c) < a - b - c", "a - (b - c) < a - b - c"),
    ("a / (b * c) == 1", "a / (b * c) == 1"),
    ("-a < --b", "-a < --b"),
    ("+a < 1", "a < 1"),
    ("-(a + b) != 0", "-(a + b) != 0"),
    ("(a < 1)", "a < 1"),
    ("(a < 1) at any rung", "a < 1 at any rung"),
    ("(a < 1 and b < 2) at every rung", "(a < 1 and b < 2) at every rung"),
    ("a < 1 or b < 2 and c < 3", "a < 1 or b < 2 and c < 3"),
    ("(a < 1 or b < 2) and c < 3", "(a < 1 or b < 2) and c < 3"),
    ("a < 1 and (b < 2 and c < 3)", "a < 1 and (b < 2 and c < 3)"),
    ("not a < 1", "not a < 1"),
    ("not (a < 1 and b < 2)", "not (a < 1 and b < 2)"),
    ("not not a < 1", "not not a < 1"),
    ("a ≥ 1 and b ≤ 2 and c ≠ 3", "a >= 1 and b <= 2 and c != 3"),
    ("x<1e-3", "x < 0.001"),
    ("x < 2.5e10", "x < 25000000000"),
    ("x < 1e20", "x < 1e+20"),
    ("x < .5", "x < 0.5"),
    ("val_loss-0.01 < 1", "val_loss - 0.01 < 1"),
    ("top-k/acc > 0.5", "top-k/acc > 0.5"),
    ("top-1/acc > 0.5", "top - 1 / acc > 0.5"),
    ("`top-1/acc` > 0.5", "`top-1/acc` > 0.5"),
    ("`max` > 1 and `eval acc@1` > 0.5", "`max` > 1 and `eval acc@1` > 0.5"),
    ("baseline.`x y` < `x y`", "baseline.`x y` < `x y`"),
    ("val_loss - baseline <= -0.01", "val_loss - baseline <= -0.01"),
    ("gain >= baseline", "gain >= baseline"),
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL, ids=[c for c, _ in CANONICAL])
def test_canonical_text_round_trips(text: str, canonical: str) -> None:
    tree = parse_rule(text)
    assert str(tree) == canonical
    assert parse_rule(canonical) == tree
    assert str(parse_rule(canonical)) == canonical


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        (
            "val_loss <= baseline - 0.01",
            Comparison(
                "<=",
                Metric("val_loss"),
                BinOp("-", BaselineRef("val_loss", explicit=False), Number(0.01)),
            ),
        ),
        (
            "gain >= 1.05 at every rung and latency_ms <= 1.0",
            And(
                Quantified("every", Comparison(">=", Metric("gain"), Number(1.05))),
                Comparison("<=", Metric("latency_ms"), Number(1.0)),
            ),
        ),
        (
            "mean over seeds of val_loss < baseline.val_loss",
            Comparison(
                "<", Aggregate("mean", Metric("val_loss")), BaselineRef("val_loss", explicit=True)
            ),
        ),
        (
            "eval/accuracy >= 0.9 or not val_loss < 2.5",
            Or(
                Comparison(">=", Metric("eval/accuracy"), Number(0.9)),
                Not(Comparison("<", Metric("val_loss"), Number(2.5))),
            ),
        ),
        (
            "a + b * c < -d",
            Comparison(
                "<",
                BinOp("+", Metric("a"), BinOp("*", Metric("b"), Metric("c"))),
                Neg(Metric("d")),
            ),
        ),
        (
            "a - b - c == 0",
            Comparison(
                "==", BinOp("-", BinOp("-", Metric("a"), Metric("b")), Metric("c")), Number(0)
            ),
        ),
        (
            "a < 1 or b < 1 and c < 1",
            Or(
                Comparison("<", Metric("a"), Number(1)),
                And(
                    Comparison("<", Metric("b"), Number(1)), Comparison("<", Metric("c"), Number(1))
                ),
            ),
        ),
        (
            "not a < 1 and b < 1",
            And(
                Not(Comparison("<", Metric("a"), Number(1))),
                Comparison("<", Metric("b"), Number(1)),
            ),
        ),
        (
            "worst bucket of acc > baseline",
            Comparison(">", WorstBucket("acc"), BaselineRef("acc", explicit=False)),
        ),
        (
            "mean over seeds of a * 2 > 1",
            Comparison(">", BinOp("*", Aggregate("mean", Metric("a")), Number(2)), Number(1)),
        ),
    ],
    ids=[
        "baseline-bound",
        "quantifier-and",
        "aggregate",
        "or-not",
        "arith-precedence",
        "left-assoc",
        "and-binds-tighter",
        "not-binds-tighter",
        "worst-bucket",
        "aggregate-binds-tight",
    ],
)
def test_tree_shape(text: str, tree: Any) -> None:
    assert parse_rule(text) == tree


NAMES = st.sampled_from(["a", "val_loss", "eval/acc", "train.loss", "f1-macro", "max", "x y"])
NUMBERS = st.floats(min_value=0, max_value=1e20, allow_nan=False).map(Number)
METRICS = st.builds(Metric, NAMES)
OPS = st.sampled_from(["+", "-", "*", "/"])


def _arith(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Arithmetic over the leaves."""
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.builds(BinOp, OPS, inner, inner), st.builds(Neg, inner)),
        max_leaves=4,
    )


def _with(needed: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Arithmetic that holds at least one of ``needed`` (as the checker requires)."""
    return st.recursive(
        needed,
        lambda inner: st.one_of(
            st.builds(BinOp, OPS, inner, other),
            st.builds(BinOp, OPS, other, inner),
            st.builds(Neg, inner),
        ),
        max_leaves=3,
    )


AGGREGATES = st.builds(
    Aggregate,
    st.sampled_from(["mean", "min", "max"]),
    _with(METRICS, _arith(st.one_of(NUMBERS, METRICS))),
)
NAMED = st.one_of(METRICS, st.builds(BaselineRef, NAMES), AGGREGATES)
ANY_EXPR = _arith(st.one_of(NUMBERS, NAMED))
CMP = st.sampled_from(["<", "<=", ">", ">=", "==", "!="])
COMPARISONS = st.one_of(
    st.builds(Comparison, CMP, _with(NAMED, ANY_EXPR), ANY_EXPR),
    st.builds(Comparison, CMP, ANY_EXPR, _with(NAMED, ANY_EXPR)),
)
FLAT_RULES = st.recursive(
    COMPARISONS,
    lambda inner: st.one_of(
        st.builds(Not, inner), st.builds(And, inner, inner), st.builds(Or, inner, inner)
    ),
    max_leaves=3,
)
RULES = st.recursive(
    st.one_of(FLAT_RULES, st.builds(Quantified, st.sampled_from(["every", "any"]), FLAT_RULES)),
    lambda inner: st.one_of(
        st.builds(Not, inner), st.builds(And, inner, inner), st.builds(Or, inner, inner)
    ),
    max_leaves=3,
)


@settings(max_examples=150, deadline=None, database=None)
@given(RULES)
def test_any_tree_round_trips_through_its_text(tree: Any) -> None:
    assert parse_rule(str(tree)) == tree


def test_positions_do_not_affect_equality() -> None:
    assert parse_rule("a<1") == parse_rule("  a  <  1  ")


def test_trees_are_frozen() -> None:
    tree = parse_rule("a < 1")
    assert isinstance(tree, Comparison)
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.op = ">"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("rule", "position", "message"),
    [
        ("", 0, "the rule is empty; write a comparison such as 'val_loss <= 2.5'"),
        ("   ", 0, "the rule is empty"),
        ("gain 1.05", 5, "expected a comparison operator (<, <=, >, >=, ==, !=), found '1.05'"),
        ("gain", 4, "expected a comparison operator (<, <=, >, >=, ==, !=), found the end"),
        ("gain >=", 7, "expected a number, a metric name, 'baseline' or 'mean/min/max over seeds"),
        (
            "a < and",
            4,
            "expected a number, a metric name, 'baseline' or 'mean/min/max over "
            "seeds of', found 'and'",
        ),
        ("gain >= 1.05 at some rung", 16, "expected 'every' or 'any' after 'at', found 'some'"),
        ("gain >= 1.05 at every", 21, "expected 'rung' after 'at every', found the end"),
        ("gain >= 1.05 at any rungs", 20, "expected 'rung' after 'at any', found 'rungs'"),
        ("mean of x < 1", 5, "expected 'over' after 'mean', found 'of'"),
        ("min over runs of x < 1", 9, "expected 'seeds' after 'over', found 'runs'"),
        ("max over seeds x < 1", 15, "expected 'of' after 'seeds', found 'x'"),
        ("worst of x < 1", 6, "expected 'bucket' after 'worst', found 'of'"),
        ("worst bucket x < 1", 13, "expected 'of' after 'bucket', found 'x'"),
        ("worst bucket of (x) < 1", 16, "expected a metric name after 'worst bucket of'"),
        ("(a < 1", 6, "expected ')', found the end of the rule"),
        ("(a + 1 < 2", 10, "expected ')', found the end of the rule"),
        ("(a + 1) 2", 8, "expected a comparison operator"),
        ("a < 1 b < 2", 6, "expected 'and', 'or' or the end of the rule, found 'b'"),
        ("a < 1)", 5, "expected 'and', 'or' or the end of the rule, found ')'"),
        ("1 < a < 2", 6, "chained comparisons are not allowed; join them with 'and'"),
        ("a < 1 and", 9, "expected a number, a metric name"),
        ("a = 1", 2, "unexpected '='; write '==' to compare"),
        ("a => 1", 2, "unexpected '='; write '==' to compare"),
        ("!a < 1", 0, "unexpected '!'; write '!=' or 'not'"),
        ("a < $1", 4, "unexpected character '$'"),
        ("a < 1.5x", 7, "a number runs into a name; put a space between them"),
        ("a < 1e999", 4, "this number is too large"),
        ("`a < 1", 0, "a quoted name is not closed; end it with '`'"),
        ("`` < 1", 0, "a quoted name is empty"),
        (
            "baseline < 1",
            0,
            "'baseline' must refer to exactly one metric on the other side of "
            "the comparison (found none); write baseline.METRIC",
        ),
        (
            "a - b < baseline",
            8,
            "'baseline' must refer to exactly one metric on the other side "
            "of the comparison (found a and b); write baseline.METRIC",
        ),
        ("(baseline < 1)", 1, "'baseline' must refer to exactly one metric"),
        ("1 < 2", 0, "this comparison names no metric; compare a metric"),
        ("a < 1 and (2 > 1)", 11, "this comparison names no metric"),
        (
            "mean over seeds of baseline.x < 1",
            19,
            "'baseline' cannot be inside 'mean over "
            "seeds of'; compare the aggregate with the baseline instead",
        ),
        ("mean over seeds of min over seeds of x < 1", 19, "aggregators cannot be nested"),
        ("mean over seeds of gain > 1", 19, "gain has one value per rung, not per seed"),
        ("max over seeds of 3 > a", 0, "'max over seeds of' needs a metric"),
        ("worst bucket of gain > 1", 0, "gain has no per-bucket values"),
        ("worst bucket of a < worst bucket of b", 20, "only one 'worst bucket of' may appear"),
        ("(a < 1 at every rung) at any rung", 22, "a rung quantifier cannot sit inside another"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 40 and "'" not in v else None,
)
def test_parse_errors(rule: str, position: int, message: str) -> None:
    with pytest.raises(RuleError) as err:
        parse_rule(rule)
    assert err.value.position == position
    assert err.value.rule == rule
    assert str(err.value).startswith(message)
    if rule:  # RuleError shows where only when there is text to point into
        assert f" at position {position}:\n  {rule!r}\n" in str(err.value)


def test_parse_error_points_at_the_token() -> None:
    with pytest.raises(RuleError) as err:
        parse_rule("gain 1.05")
    lines = str(err.value).splitlines()
    assert lines[1] == "  'gain 1.05'"
    assert lines[2].index("^") == lines[1].index("1.05")  # under the token, as printed


def test_parse_rule_needs_text() -> None:
    with pytest.raises(UsageError, match="a decision rule is text, not int"):
        parse_rule(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "metrics", "gain"),
    [
        ("gain >= 1.05 at every rung", (), True),
        ("val_loss <= baseline - 0.01", ("val_loss",), False),
        ("mean over seeds of val_loss < baseline.train/loss", ("train/loss", "val_loss"), False),
        ("gain >= 1.05 at every rung and latency_ms <= 1.0", ("latency_ms",), True),
        ("eval/accuracy >= 0.9 or val_loss < 2.5", ("eval/accuracy", "val_loss"), False),
        ("worst bucket of acc > 0.5 and not b.c < 1", ("acc", "b.c"), False),
    ],
    ids=["gain-only", "baseline", "aggregate", "and", "or", "bucket-not"],
)
def test_metrics_used(rule: str, metrics: tuple[str, ...], gain: bool) -> None:
    tree = parse_rule(rule)
    assert metrics_used(tree) == metrics
    assert uses_gain(tree) is gain


# ----------------------------------------------------------------------------- evaluation


def ladder(**changes: Any) -> Evidence:
    """Three rungs, three seeds each; the candidate beats the baseline by a clear margin."""
    args: dict[str, Any] = {
        "runs": {
            rung: {s: {"val_loss": loss + 0.01 * s, "latency_ms": latency} for s in range(3)}
            for rung, loss, latency in ((1, 3.00, 0.5), (2, 2.70, 0.7), (3, 2.40, 0.9))
        },
        "baseline": {1: {"val_loss": 3.1}, 2: {"val_loss": 2.8}, 3: {"val_loss": 2.5}},
        "gains": {1: (1.2, 1.1, 1.3), 2: (1.15, 1.08, 1.22), 3: (1.1, 1.06, 1.14)},
    }
    args.update(changes)
    return Evidence.build(**args)


def answer(rule: str, evidence: Evidence) -> str:
    return evaluate(rule, evidence).answer


def test_gain_at_every_rung_yes() -> None:
    verdict = evaluate("gain >= 1.05 at every rung", ladder())
    assert verdict == Verdict(
        "yes",
        (
            "gain >= 1.05 at rung 1: 1.2 [1.1, 1.3] >= 1.05: yes",
            "gain >= 1.05 at rung 2: 1.15 [1.08, 1.22] >= 1.05: yes",
            "gain >= 1.05 at rung 3: 1.1 [1.06, 1.14] >= 1.05: yes",
            "gain >= 1.05 at every rung: yes (yes at rungs 1, 2, 3)",
        ),
    )


def test_gain_interval_straddling_the_threshold_is_inconclusive() -> None:
    gains = {1: (1.2, 1.1, 1.3), 2: (1.07, 1.02, 1.12), 3: (1.1, 1.06, 1.14)}
    verdict = evaluate("gain >= 1.05 at every rung", ladder(gains=gains))
    assert verdict.answer == "inconclusive"
    assert verdict.reasons[1] == (
        "gain >= 1.05 at rung 2: 1.07 [1.02, 1.12] >= 1.05: inconclusive "
        "(the 95% interval straddles the threshold)"
    )
    assert verdict.reasons[-1] == (
        "gain >= 1.05 at every rung: inconclusive (yes at rungs 1, 3; inconclusive at rung 2)"
    )


def test_gain_below_at_one_rung_is_no() -> None:
    gains = {1: (1.2, 1.1, 1.3), 2: (1.0, 0.95, 1.04), 3: (1.07, 1.02, 1.12)}
    verdict = evaluate("gain >= 1.05 at every rung", ladder(gains=gains))
    assert verdict.answer == "no"
    assert verdict.reasons[-1] == (
        "gain >= 1.05 at every rung: no (yes at rung 1; no at rung 2; inconclusive at rung 3)"
    )
    assert answer("gain >= 1.05 at any rung", ladder(gains=gains)) == "yes"


@pytest.mark.parametrize(
    ("gains", "expected"),
    [
        ({1: 1.0, 2: 1.0, 3: 1.0}, "no"),
        ({1: 1.0, 2: (1.05, 1.0, 1.1), 3: 1.0}, "inconclusive"),
        ({1: 1.0, 2: 1.0, 3: 1.2}, "yes"),
    ],
    ids=["none", "one-straddles", "one-passes"],
)
def test_gain_at_any_rung(gains: dict[int, Any], expected: str) -> None:
    assert answer("gain > 1.02 at any rung", ladder(gains=gains)) == expected


def test_unquantified_comparison_uses_the_top_rung() -> None:
    verdict = evaluate("latency_ms <= 1.0", ladder())
    assert verdict == Verdict("yes", ("latency_ms <= 1 at rung 3: 0.9 <= 1: yes",))
    runs = {1: {0: {"latency_ms": 2.0}}, 2: {0: {"latency_ms": 0.5}}}
    noise = {"latency_ms": (0.05, 5)}
    assert answer("latency_ms <= 1.0", Evidence.build(runs=runs, noise=noise)) == "yes"
    assert answer("latency_ms <= 1.0 at every rung", Evidence.build(runs=runs, noise=noise)) == "no"


def test_single_rung_reasons_name_no_rung() -> None:
    evidence = Evidence.build(runs={"main": {0: {"latency_ms": 1.3}}},
                              noise={"latency_ms": (0.05, 5)})
    assert evaluate("latency_ms <= 1.0", evidence) == Verdict(
        "no", ("latency_ms <= 1: 1.3 [1.16118, 1.43882] <= 1: no; one seed of latency_ms: its "
               "spread is the baseline's noise floor (SD 0.05, 5 seeds)",)
    )


def test_baseline_minus_margin() -> None:
    verdict = evaluate("val_loss <= baseline - 0.01", ladder())
    assert verdict.answer == "yes"
    assert verdict.reasons == (
        "val_loss <= baseline - 0.01 at rung 3: 2.41 [2.38516, 2.43484] <= 2.49: yes",
    )


def test_seed_spread_straddling_the_threshold_is_inconclusive() -> None:
    runs = {3: {0: {"val_loss": 2.46}, 1: {"val_loss": 2.52}}}
    verdict = evaluate("val_loss <= baseline - 0.01", ladder(runs=runs))
    assert verdict.answer == "inconclusive"
    assert verdict.reasons[0].endswith(
        "2.49 [2.10881, 2.87119] <= 2.49: inconclusive (the 95% interval straddles the threshold)"
    )


def test_one_seed_is_not_exact() -> None:
    """Defect: one seed counted as exact (2.489 vs 2.49 was yes)."""
    runs = {3: {0: {"val_loss": 2.489}}}
    verdict = evaluate("val_loss <= baseline - 0.01", ladder(runs=runs))
    assert verdict.answer == "inconclusive"
    assert "one seed of val_loss and no noise floor" in verdict.reasons[0]
    noisy = ladder(runs=runs, noise={"val_loss": (0.01, 4)})
    verdict = evaluate("val_loss <= baseline - 0.01", noisy)
    assert verdict.answer == "inconclusive"
    assert verdict.reasons[0].endswith(
        "the baseline's noise floor (SD 0.01, 4 seeds)")
    clear = ladder(runs={3: {0: {"val_loss": 2.30}}}, noise={"val_loss": (0.01, 4)})
    assert answer("val_loss <= baseline - 0.01", clear) == "yes"


def test_more_seeds_settle_a_true_effect() -> None:
    """Defect: 20 seeds whose t interval lies below the threshold stayed inconclusive."""
    runs = {3: {s: {"val_loss": 2.47 + (0.02 if s % 2 else -0.02)} for s in range(20)}}
    verdict = evaluate("val_loss <= baseline - 0.01", ladder(runs=runs))
    assert verdict.answer == "yes"
    two = {3: {s: {"val_loss": 2.47 + (0.02 if s % 2 else -0.02)} for s in range(2)}}
    assert answer("val_loss <= baseline - 0.01", ladder(runs=two)) == "inconclusive"


def test_seeds_that_pair_are_paired() -> None:
    """Defect: seeds shared with the baseline were not paired (the seed effect dominates)."""
    runs = {3: {s: {"val_loss": 2.4 + 0.1 * s} for s in range(3)}}
    baseline = {3: {s: {"val_loss": 2.45 + 0.1 * s + 0.001 * s * s} for s in range(3)}}
    verdict = evaluate("val_loss < baseline", ladder(runs=runs, baseline=baseline))
    assert verdict.answer == "yes"
    assert "paired on 3 seeds" in verdict.reasons[0]
    unpaired = {3: {s + 10: v for s, v in baseline[3].items()}}
    assert answer("val_loss < baseline", ladder(runs=runs, baseline=unpaired)) == "inconclusive"


def test_differences_add_squared_half_widths() -> None:
    """Defect: a difference of two intervals added their widths (MOVER adds squares)."""
    gains = {3: (1.3, 1.2, 1.4)}
    verdict = evaluate("gain - 0.1 * gain >= 1.05", ladder(gains=gains))
    assert verdict.answer == "yes"
    evidence = ladder(runs={3: {s: {"a": 1.0 + 0.01 * s, "b": 0.98 + 0.01 * s} for s in
                                (0, 1, 2)}}, baseline={}, gains={})
    verdict = evaluate("mean over seeds of a - mean over seeds of b > -0.02", evidence)
    assert "difference" not in verdict.reasons[0] or "paired" in verdict.reasons[0]


@pytest.mark.parametrize(
    ("rule", "expected", "shown"),
    [
        ("mean over seeds of val_loss < baseline.val_loss", "yes", "2.41 [2.38516, 2.43484] < 2.5"),
        ("min over seeds of val_loss < 2.41", "yes", "2.4 < 2.41"),
        ("max over seeds of val_loss < 2.41", "no", "2.42 < 2.41"),
        (
            "mean over seeds of (val_loss - latency_ms) > 1.45",
            "yes",
            "1.51 [1.48516, 1.53484] > 1.45",
        ),
        (
            "mean over seeds of (val_loss - latency_ms) > 1.5",
            "inconclusive",
            "1.51 [1.48516, 1.53484] > 1.5",
        ),
    ],
    ids=["mean", "min", "max", "mean-of-expression", "mean-of-expression-straddles"],
)
def test_aggregates(rule: str, expected: str, shown: str) -> None:
    verdict = evaluate(rule, ladder())
    assert verdict.answer == expected
    assert verdict.reasons[0].startswith(f"{parse_rule(rule)} at rung 3: {shown}: {expected}")


def test_baseline_per_seed_values_give_a_spread() -> None:
    baseline = {3: {0: {"val_loss": 2.4}, 1: {"val_loss": 2.6}}}
    verdict = evaluate("val_loss < baseline", ladder(baseline=baseline))
    assert verdict.answer == "inconclusive"
    assert "2.41 [2.38516, 2.43484] < 2.5 [1.22938, 3.77062]" in verdict.reasons[0]
    assert "(the 95% interval of the difference holds the threshold)" in verdict.reasons[0]


def test_baseline_reference_with_seed_spread_is_centred_on_the_reference() -> None:
    baseline = [
        RunFacts({"val_loss": 2.5}),
        RunFacts({"val_loss": 2.4}, seed=0),
        RunFacts({"val_loss": 2.6}, seed=1),
    ]
    verdict = evaluate("val_loss < baseline", ladder(baseline=baseline))
    assert "< 2.5 [1.22938, 3.77062]" in verdict.reasons[0]


def test_rung_free_baseline_applies_to_every_rung() -> None:
    verdict = evaluate("val_loss < baseline at every rung", ladder(baseline={"val_loss": 2.9}))
    assert [r.split(": ")[-1] for r in verdict.reasons[:3]] == ["no", "yes", "yes"]
    assert verdict.answer == "no"


def test_baseline_gain_is_one() -> None:
    assert answer("gain > baseline at every rung", ladder()) == "yes"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("latency_ms == 0.9", "yes"),
        ("latency_ms != 0.9", "no"),
        ("val_loss == 2.41", "inconclusive"),
        ("val_loss == 3", "no"),
        ("val_loss != 3", "yes"),
        ("latency_ms > 0.9", "no"),
        ("latency_ms >= 0.9", "yes"),
        ("latency_ms < 0.9", "no"),
        ("0.9 <= latency_ms", "yes"),
        ("latency_ms * 2 / 3 + 1 - 0.6 == 1", "yes"),
    ],
    ids=[
        "eq",
        "ne",
        "eq-interval",
        "eq-far",
        "ne-far",
        "gt-edge",
        "ge-edge",
        "lt-edge",
        "flip",
        "arith",
    ],
)
def test_comparison_operators(rule: str, expected: str) -> None:
    assert answer(rule, ladder()) == expected


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        (
            {"runs": {3: {0: {"latency_ms": 0.9}}}},
            "val_loss <= 2.5 at rung 3: inconclusive (val_loss was not logged by the run at "
            "rung 3, seed 0)",
        ),
        (
            {"runs": [RunFacts({"latency_ms": 0.9}, rung=3, seed=0, run_id="r7")]},
            "val_loss <= 2.5 at rung 3: inconclusive (val_loss was not logged by run r7)",
        ),
        (
            {"unfinished": [(3, 1)]},
            "val_loss <= 2.5 at rung 3: inconclusive (the run at rung 3, seed 1 has not finished)",
        ),
        (
            {"missing": [(3, 2)]},
            "val_loss <= 2.5 at rung 3: inconclusive (a planned run (rung 3, seed 2) is missing)",
        ),
        (
            {"missing": [(None, None)]},
            "val_loss <= 2.5 at rung 3: inconclusive (a planned run (rung None) is missing)",
        ),
        (
            {"runs": {3: {0: {"val_loss": float("nan")}}}},
            "val_loss <= 2.5 at rung 3: inconclusive (val_loss is NaN in the run at rung 3, "
            "seed 0)",
        ),
        (
            {"runs": {3: {0: {"val_loss": "low"}}}},
            "val_loss <= 2.5 at rung 3: inconclusive (val_loss is not a number in the run at "
            "rung 3, seed 0: 'low')",
        ),
        (
            {"runs": {}, "gains": {}},
            "val_loss <= 2.5: inconclusive (no runs in the evidence)",
        ),
        (
            {"rungs": [1, 2, 3, 4]},
            "val_loss <= 2.5 at rung 4: inconclusive (no runs at rung 4)",
        ),
    ],
    ids=[
        "not-logged",
        "not-logged-run-id",
        "unfinished",
        "missing",
        "missing-any-rung",
        "nan",
        "not-a-number",
        "no-runs",
        "rung-without-runs",
    ],
)
def test_missing_evidence_is_inconclusive(changes: dict[str, Any], reason: str) -> None:
    assert evaluate("val_loss <= 2.5", ladder(**changes)) == Verdict("inconclusive", (reason,))


@pytest.mark.parametrize(
    ("rule", "changes", "reason"),
    [
        (
            "gain >= 1.05",
            {"gains": {1: 1.2}},
            "gain >= 1.05 at rung 3: inconclusive (no efficiency gain was measured at rung 3)",
        ),
        (
            "gain >= 1.05",
            {"gains": {3: float("nan")}},
            "gain >= 1.05 at rung 3: inconclusive (the efficiency gain at rung 3 is undefined)",
        ),
        (
            "gain >= 1.05",
            {"unfinished": [(3, 0)]},
            "gain >= 1.05 at rung 3: inconclusive (the run at rung 3, seed 0 has not finished)",
        ),
        (
            "val_loss < baseline",
            {"baseline": {"train_loss": 1.0}},
            "val_loss < baseline at rung 3: inconclusive (the baseline has no reference value "
            "of val_loss at rung 3)",
        ),
        (
            "val_loss < baseline",
            {"baseline": {"val_loss": float("nan")}},
            "val_loss < baseline at rung 3: inconclusive (the baseline's val_loss is NaN)",
        ),
        (
            "val_loss < baseline",
            {"baseline": [RunFacts({"val_loss": 2.5}, rung=3, seed=0, finished=False)]},
            "val_loss < baseline at rung 3: inconclusive (the baseline's run at seed 0 has not "
            "finished)",
        ),
        (
            "val_loss / (latency_ms - 0.9) > 1",
            {},
            "val_loss / (latency_ms - 0.9) > 1 at rung 3: inconclusive (division by zero)",
        ),
        (
            "latency_ms / (val_loss - 2.41) > 1",
            {},
            "latency_ms / (val_loss - 2.41) > 1 at rung 3: inconclusive (a divisor may be zero)",
        ),
    ],
    ids=[
        "no-gain",
        "nan-gain",
        "gain-run-unfinished",
        "baseline-lacks-metric",
        "baseline-nan",
        "baseline-unfinished",
        "division-by-zero",
        "divisor-interval",
    ],
)
def test_other_inconclusive_reasons(rule: str, changes: dict[str, Any], reason: str) -> None:
    assert evaluate(rule, ladder(**changes)) == Verdict("inconclusive", (reason,))


TRUTH = {"y": "t < 1", "n": "f < 1", "i": "u < 1"}  # yes, no, inconclusive (u is not logged)
WORD = {"y": "yes", "n": "no", "i": "inconclusive"}
AND = {
    "yy": "y",
    "yn": "n",
    "yi": "i",
    "ny": "n",
    "nn": "n",
    "ni": "n",
    "iy": "i",
    "in": "n",
    "ii": "i",
}
OR = {
    "yy": "y",
    "yn": "y",
    "yi": "y",
    "ny": "y",
    "nn": "n",
    "ni": "i",
    "iy": "y",
    "in": "i",
    "ii": "i",
}
LOGIC = Evidence.build(runs={0: {0: {"t": 0.0, "f": 2.0}}}, noise={"t": (0.1, 5), "f": (0.1, 5)})


@pytest.mark.parametrize(("pair", "result"), sorted(AND.items()), ids=sorted(AND))
def test_three_valued_and(pair: str, result: str) -> None:
    rule = f"{TRUTH[pair[0]]} and {TRUTH[pair[1]]}"
    verdict = evaluate(rule, LOGIC)
    assert verdict.answer == WORD[result]
    assert len(verdict.reasons) == 2  # both sides are always reported


@pytest.mark.parametrize(("pair", "result"), sorted(OR.items()), ids=sorted(OR))
def test_three_valued_or(pair: str, result: str) -> None:
    assert answer(f"{TRUTH[pair[0]]} or {TRUTH[pair[1]]}", LOGIC) == WORD[result]


@pytest.mark.parametrize(
    ("value", "result"), [("y", "n"), ("n", "y"), ("i", "i")], ids=WORD.values()
)
def test_three_valued_not(value: str, result: str) -> None:
    assert answer(f"not {TRUTH[value]}", LOGIC) == WORD[result]


def test_quantified_group() -> None:
    rule = "(gain >= 1.05 and latency_ms <= 0.8) at every rung"
    verdict = evaluate(rule, ladder())
    assert verdict.answer == "no"
    assert verdict.reasons[-1] == f"{rule}: no (yes at rungs 1, 2; no at rung 3)"


def test_quantifier_without_rungs() -> None:
    assert evaluate("gain > 1 at every rung", Evidence()) == Verdict(
        "inconclusive", ("gain > 1 at every rung: inconclusive (the evidence has no rungs)",)
    )


# ----------------------------------------------------------------------------- buckets


def bucketed(acc: dict[str, list[float]], base: dict[str, Any] | None = None,
             trials: int = 1000) -> Evidence:
    """Pass/fail tallies per bucket and seed (``trials`` examples each)."""
    runs = [
        RunFacts({"acc": 0.9}, rung=1, seed=s, buckets={"acc": {
            b: Tally(round(v[s] * trials), trials) for b, v in acc.items()}})
        for s in range(len(next(iter(acc.values()))))
    ]
    baseline = [RunFacts({"acc": 0.88}, buckets={"acc": base} if base else {})]
    return Evidence.build(runs=runs, baseline=baseline)


def test_worst_bucket_yes_names_the_tightest_bucket() -> None:
    evidence = bucketed({"easy": [0.95], "hard": [0.84]})
    assert evaluate("worst bucket of acc >= 0.8", evidence) == Verdict(
        "yes",
        ("worst bucket of acc >= 0.8: yes in all 2 buckets; tightest 'hard': "
         "0.84 [0.815983, 0.861415] >= 0.8: yes; Wilson intervals",),
    )


def test_worst_bucket_no_lists_failing_buckets() -> None:
    evidence = bucketed({"easy": [0.95], "hard": [0.7], "mid": [0.76]})
    assert evaluate("worst bucket of acc >= 0.8", evidence) == Verdict(
        "no",
        (
            "worst bucket of acc >= 0.8, bucket 'hard': 0.7 [0.670876, 0.727593] >= 0.8: no; "
            "Wilson intervals",
            "worst bucket of acc >= 0.8, bucket 'mid': 0.76 [0.732567, 0.785443] >= 0.8: no; "
            "Wilson intervals",
        ),
    )


def test_worst_bucket_pools_seeds_into_one_wilson_interval() -> None:
    few = bucketed({"easy": [0.95], "hard": [0.82]}, trials=100)
    assert answer("worst bucket of acc >= 0.8", few) == "inconclusive"
    many = bucketed({"easy": [0.95] * 10, "hard": [0.86] * 10}, trials=100)
    assert answer("worst bucket of acc >= 0.8", many) == "yes"


def test_worst_bucket_against_baseline_buckets() -> None:
    evidence = bucketed({"easy": [0.95], "hard": [0.6]},
                        base={"easy": Tally(970, 1000), "hard": Tally(550, 1000)})
    verdict = evaluate("worst bucket of acc >= baseline - 0.1", evidence)
    assert verdict.answer == "yes"
    assert "tightest 'easy'" in verdict.reasons[0]


def test_worst_bucket_of_plain_values_needs_seeds_or_a_noise_floor() -> None:
    runs = [RunFacts({}, rung=1, seed=s, buckets={"acc": {"a": 0.9 + 0.001 * s}})
            for s in range(3)]
    assert answer("worst bucket of acc >= 0.8", Evidence.build(runs=runs)) == "yes"
    one = Evidence.build(runs=runs[:1])
    assert "no noise floor" in evaluate("worst bucket of acc >= 0.8", one).reasons[0]


@pytest.mark.parametrize(
    ("evidence", "reason"),
    [
        (
            Evidence.build(runs={1: {0: {"acc": 0.9}}}),
            "worst bucket of acc >= 0.8: inconclusive (no per-bucket values of acc at rung 1 (log "
            "evaluation records with run.log_eval))",
        ),
        (
            Evidence.build(
                runs=[
                    RunFacts({}, rung=1, seed=0, buckets={"acc": {"a": 0.9, "b": 0.9}}),
                    RunFacts({}, rung=1, seed=1, buckets={"acc": {"a": 0.9}}),
                ]
            ),
            "worst bucket of acc >= 0.8, bucket 'b': inconclusive (the run at seed 1 has no acc "
            "for bucket 'b')",
        ),
    ],
    ids=["no-buckets", "bucket-missing-in-a-seed"],
)
def test_worst_bucket_missing(evidence: Evidence, reason: str) -> None:
    assert evaluate("worst bucket of acc >= 0.8", evidence) == Verdict("inconclusive", (reason,))


# ----------------------------------------------------------------------------- evidence


def test_evaluate_takes_text_or_tree() -> None:
    rule = "val_loss <= baseline - 0.01 and gain >= 1.05 at every rung"
    assert evaluate(rule, ladder()) == evaluate(parse_rule(rule), ladder())


def test_build_from_records_equals_build_from_mapping() -> None:
    records = [
        RunFacts({"x": 1.0}, rung=1, seed=0),
        RunFacts({"x": 2.0}, rung=1, seed=1),
    ]
    assert Evidence.build(runs=records) == Evidence.build(runs={1: {0: {"x": 1.0}, 1: {"x": 2.0}}})


@pytest.mark.parametrize(
    ("baseline", "records"),
    [
        ({"x": 1.0}, (RunFacts({"x": 1.0}),)),
        ({2: {"x": 1.0}}, (RunFacts({"x": 1.0}, rung=2),)),
        (
            {2: {0: {"x": 1.0}, 1: {"x": 3.0}}},
            (RunFacts({"x": 1.0}, rung=2, seed=0), RunFacts({"x": 3.0}, rung=2, seed=1)),
        ),
    ],
    ids=["flat", "per-rung", "per-rung-per-seed"],
)
def test_baseline_shapes(baseline: dict[Any, Any], records: tuple[RunFacts, ...]) -> None:
    assert Evidence.build(baseline=baseline).baseline == records


def test_gain_shapes() -> None:
    evidence = Evidence.build(gains={1: 1.1, 2: (1.2, 1.1, 1.3), 3: Gain(1.0, 0.9, 1.1)})
    assert evidence.gains == {
        1: Gain(1.1, 1.1, 1.1),
        2: Gain(1.2, 1.1, 1.3),
        3: Gain(1.0, 0.9, 1.1),
    }


@pytest.mark.parametrize(
    ("kwargs", "rungs"),
    [
        ({"runs": {3: {0: {}}, 1: {0: {}}, 2: {0: {}}}}, (1, 2, 3)),
        ({"runs": {"s": {0: {}}, "l": {0: {}}, "m": {0: {}}}}, ("s", "l", "m")),
        ({"runs": {1: {0: {}}}, "gains": {2: 1.0}, "missing": [(3, 0)]}, (1, 2, 3)),
        ({"runs": {3: {0: {}}, 1: {0: {}}}, "rungs": [3, 1]}, (3, 1)),
        ({"runs": {1: {0: {}}}, "missing": [(None, 4)]}, (1,)),
    ],
    ids=["ints-sorted", "names-in-order", "from-gains-and-missing", "explicit", "any-rung-missing"],
)
def test_rung_order(kwargs: dict[str, Any], rungs: tuple[Any, ...]) -> None:
    assert Evidence.build(**kwargs).rungs == rungs


def test_unfinished_marks_or_adds_records() -> None:
    evidence = Evidence.build(runs={1: {0: {"x": 1.0}}}, unfinished=[(1, 0), (1, 1)])
    assert evidence.runs == (
        RunFacts({"x": 1.0}, rung=1, seed=0, finished=False),
        RunFacts({}, rung=1, seed=1, finished=False),
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: Evidence(runs=(RunFacts({}, 1, 0), RunFacts({}, 1, 0))),
            "two runs at rung 1, seed 0; give each run its own seed",
        ),
        (lambda: Gain(1.0, 1.1, 1.2), "a gain needs low <= value <= high, got 1.0 [1.1, 1.2]"),
        (
            lambda: Evidence.build(baseline={1: {"x": 1.0}, "y": 2.0}),
            "a baseline is {metric: value}, {rung: {metric: value}} or "
            "{rung: {seed: {metric: value}}}; do not mix the shapes",
        ),
    ],
    ids=["duplicate-run", "gain-out-of-interval", "mixed-baseline"],
)
def test_evidence_errors(make: Any, message: str) -> None:
    with pytest.raises(UsageError) as err:
        make()
    assert str(err.value) == message


def test_verdict_to_dict() -> None:
    assert Verdict("no", ("a",)).to_dict() == {"answer": "no", "reasons": ["a"]}


def test_the_rule_language_exports_exactly_its_names() -> None:
    import stepstone.method.rules as rules

    assert set(rules.__all__) == {
        "GAIN", "KEYWORDS", "Aggregate", "And", "Answer", "BaselineRef", "BinOp",
        "Comparison", "Evidence", "Expr", "Gain", "Metric", "Neg", "Node", "Not", "Number",
        "Or", "Quantified", "Rule", "RunFacts", "Rung", "Seed", "Verdict", "WorstBucket",
        "NoiseFloor", "Scores", "Sigma", "Tally", "Unsettled", "bounds", "evaluate", "metrics_used",
        "parse_rule", "uses_gain",
    }


@pytest.mark.parametrize(
    "text, expected",
    [
        ("latency_ms <= 1.0", [("latency_ms", "<=", 1.0)]),
        ("2 > memory_gb and gain >= 1.05 at every rung",
         [("memory_gb", "<", 2.0), ("gain", ">=", 1.05)]),
        ("val_loss <= baseline - 0.01", []),
    ],
    ids=["metric-first", "number-first-flipped", "relative-to-baseline"],
)
def test_bounds_lists_fixed_thresholds_metric_first(text, expected):
    from stepstone.method.rules import bounds

    assert bounds(parse_rule(text)) == expected


def test_rules_in_units_of_the_noise_floor() -> None:
    tree = parse_rule("delta eval/loss <= -2 sigma")
    assert str(tree) == "eval/loss - baseline.eval/loss <= -(2 * sigma)"
    assert parse_rule(str(tree)) == tree
    runs = {3: {s: {"eval/loss": 2.40 + 0.001 * s} for s in range(3)}}
    base = {3: {s: {"eval/loss": 2.50 + 0.001 * s} for s in range(3)}}
    noisy = Evidence.build(runs=runs, baseline=base, noise={"eval/loss": (0.02, 5)})
    assert answer("delta eval/loss <= -2 sigma", noisy) == "yes"
    assert answer("delta eval/loss <= -6 sigma", noisy) == "no"
    verdict = evaluate("delta eval/loss <= -2 sigma", Evidence.build(runs=runs, baseline=base))
    assert verdict.answer == "inconclusive"
    assert "no noise floor of eval/loss" in verdict.reasons[0]
    with pytest.raises(RuleError, match="'sigma' must refer to exactly one metric"):
        parse_rule("a - b < sigma")


def test_every_rung_ranges_over_the_planned_rungs() -> None:
    """Defect: a question whose top rung never ran was yes at every rung."""
    evidence = ladder(rungs=(1, 2, 3, 4))
    verdict = evaluate("gain >= 1.05 at every rung", evidence)
    assert verdict.answer == "inconclusive"
    assert verdict.reasons[3].startswith(
        "gain >= 1.05 at rung 4: inconclusive (no efficiency gain was measured at rung 4")
    missing = ladder(missing=[(3, 1)])
    assert "a planned run (rung 3, seed 1) is missing" in evaluate(
        "gain >= 1.05 at every rung", missing).reasons[2]


def test_abandoned_runs_are_named_in_the_verdict() -> None:
    gone = RunFacts({}, rung=3, seed=7, run_id="r-x", reason="diverged")
    verdict = evaluate("gain >= 1.05 at every rung", ladder(abandoned=[gone]))
    assert verdict.reasons[-1] == "run r-x at rung 3, seed 7 was abandoned (diverged): left out"


def test_a_gain_with_a_caveat_cannot_settle() -> None:
    gains = {3: Gain(2.0, 0.0, float("inf"), "no interval: the law has 3 parameters fitted to 3 "
                     "points")}
    verdict = evaluate("gain >= 1.05", ladder(gains=gains))
    assert verdict.answer == "inconclusive"
    assert "fitted to 3 points" in verdict.reasons[0]
    exact = {3: Gain(2.0, 2.0, 2.0, "one seed and no noise floor: the interval ignores seed noise")}
    assert answer("gain >= 1.9", ladder(gains=exact)) == "inconclusive"


def test_an_inconclusive_mean_over_seeds_is_sized_for_power() -> None:
    from stepstone.method.rules import Unsettled

    runs = {3: {0: {"val_loss": 2.46}, 1: {"val_loss": 2.48}, 2: {"val_loss": 2.50}}}
    verdict = evaluate("val_loss <= 2.5", Evidence.build(runs=runs))
    assert verdict.answer == "inconclusive"
    (item,) = verdict.unsettled
    assert isinstance(item, Unsettled)
    assert (item.rung, item.seeds, item.paired, item.fixed_var) == (3, 3, False, 0.0)
    assert item.distance == pytest.approx(0.02)
    assert item.sd == pytest.approx(0.02)  # the seeds' sample SD
    assert evaluate("val_loss <= 2.6", Evidence.build(runs=runs)).unsettled == ()
