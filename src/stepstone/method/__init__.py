"""The research method: every rule of it in one place (the CLI and the dashboard call it).

This package holds the decision-rule language of a research question (see
:mod:`stepstone.method.rules` and docs/rules.md).
"""

from __future__ import annotations

from stepstone.method.rules import (
    GAIN,
    KEYWORDS,
    Aggregate,
    And,
    BaselineRef,
    BinOp,
    Comparison,
    Evidence,
    Expr,
    Gain,
    Metric,
    Neg,
    Not,
    Number,
    Or,
    Quantified,
    Rule,
    RunRecord,
    Verdict,
    WorstBucket,
    evaluate,
    metrics_used,
    parse_rule,
    uses_gain,
)

__all__ = [
    "GAIN",
    "KEYWORDS",
    "Aggregate",
    "And",
    "BaselineRef",
    "BinOp",
    "Comparison",
    "Evidence",
    "Expr",
    "Gain",
    "Metric",
    "Neg",
    "Not",
    "Number",
    "Or",
    "Quantified",
    "Rule",
    "RunRecord",
    "Verdict",
    "WorstBucket",
    "evaluate",
    "metrics_used",
    "parse_rule",
    "uses_gain",
]
