"""The decision-rule language of a research question: parse, check, evaluate.

A rule says, before any run, what evidence answers the question::

    gain >= 1.05 at every rung
    val_loss <= baseline - 0.01
    mean over seeds of val_loss < baseline.val_loss and latency_ms <= 1.0

:func:`parse_rule` turns the text into a frozen syntax tree (``str(tree)`` gives the
canonical text back); :func:`evaluate` answers it from an :class:`Evidence` with
``yes``, ``no`` or ``inconclusive`` and the numbers behind each comparison. The grammar
and the evaluation rules are in docs/rules.md.

The package holds one concept per module: :mod:`.tree` (syntax tree nodes and their
canonical text), :mod:`.syntax` (tokenizer, parser and checks: :func:`parse_rule`),
:mod:`.facts` (:class:`Evidence`, :class:`RunFacts`, :class:`Gain`) and :mod:`.verdict`
(:func:`evaluate` and :class:`Verdict`). Import from ``stepstone.method.rules``.
"""

from __future__ import annotations

from stepstone.method.rules.facts import (
    Evidence,
    Gain,
    NoiseFloor,
    RunFacts,
    Rung,
    Scores,
    Seed,
    Tally,
)
from stepstone.method.rules.syntax import parse_rule
from stepstone.method.rules.tree import (
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
    Node,
    Not,
    Number,
    Or,
    Quantified,
    Rule,
    Sigma,
    WorstBucket,
    bounds,
)
from stepstone.method.rules.verdict import (
    Answer,
    Unsettled,
    Verdict,
    evaluate,
    metrics_used,
    uses_gain,
)

__all__ = [
    "GAIN",
    "KEYWORDS",
    "Aggregate",
    "And",
    "Answer",
    "BaselineRef",
    "BinOp",
    "Comparison",
    "Evidence",
    "Expr",
    "Gain",
    "Metric",
    "Neg",
    "Node",
    "NoiseFloor",
    "Not",
    "Number",
    "Or",
    "Quantified",
    "Rule",
    "RunFacts",
    "Rung",
    "Scores",
    "Seed",
    "Sigma",
    "Tally",
    "Unsettled",
    "Verdict",
    "WorstBucket",
    "bounds",
    "evaluate",
    "metrics_used",
    "parse_rule",
    "uses_gain",
]
