"""Stratified evaluation: per-bucket statistics, weakest bucket, coverage, comparisons."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from stepstone.analysis import compare_buckets, stratify
from stepstone.errors import AnalysisError


def records(seed: int = 0, shift: float = 0.0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    means = {"easy": 0.9, "medium": 0.7, "hard": 0.3}
    i = 0
    for level, mean in means.items():
        for _ in range(60):
            out.append(
                {
                    "id": f"q{i}",
                    "score": float(mean + shift + rng.normal(0, 0.05)),
                    "difficulty": level,
                    "length": int(rng.integers(10, 2000)),
                }
            )
            i += 1
    out.append({"id": "q-thin", "score": 0.5, "difficulty": "expert", "length": 5})
    return out


def test_stratify_buckets_weakest_and_thin() -> None:
    rep = stratify(records(), by="difficulty", expected={"difficulty": ["olympiad"]})
    stats = {b.bucket: b for b in rep.for_field("difficulty")}
    assert stats["hard"].mean == pytest.approx(0.3, abs=0.02)
    assert stats["hard"].count == 60 and not stats["hard"].thin
    assert stats["hard"].worst_5pct is not None and stats["hard"].worst_5pct < stats["hard"].mean
    assert stats["hard"].ci_low < stats["hard"].mean < stats["hard"].ci_high
    assert rep.weakest is not None and rep.weakest.bucket == "hard"  # the thin one is skipped
    cov = rep.coverage[0]
    assert cov.thin == ("expert",) and cov.empty == ("olympiad",)
    assert any("olympiad: no examples" in f for f in rep.findings)
    assert any("expert: only 1" in f for f in rep.findings)
    assert rep.findings[0].startswith("weakest bucket: difficulty=hard")
    json.dumps(rep.to_dict(), allow_nan=False)


def test_numeric_field_binned_automatically_and_explicitly() -> None:
    rep = stratify(records(), by="length")
    assert len(rep.for_field("length")) == 5  # quantile bins
    assert sum(b.count for b in rep.for_field("length")) == rep.overall.count
    explicit = stratify(records(), by="length", bins={"length": [0, 100, 1000, 5000]})
    labels = [b.bucket for b in explicit.for_field("length")]
    assert labels == ["[0, 100)", "[100, 1000)", "[1000, 5000]"]


def test_binary_correct_uses_wilson_interval() -> None:
    recs = [{"id": i, "correct": i % 4 != 0, "split": "a" if i < 40 else "b"} for i in range(80)]
    rep = stratify(recs, by="split", min_count=10)
    a = rep.for_field("split")[0]
    assert rep.metric == "correct" and a.mean == pytest.approx(0.75)
    assert a.worst_5pct is None
    # Wilson 95% for 30/40: (0.5980, 0.8581)
    assert (a.ci_low, a.ci_high) == pytest.approx((0.5980, 0.8581), abs=1e-4)


def test_lower_is_better_and_missing_fields() -> None:
    recs: list[dict[str, Any]] = [
        {"id": 1, "score": 3.0, "lang": "en"},
        {"id": 2, "score": 1.0, "lang": "fr"},
        {"id": 3, "score": 2.0},
        {"id": 4, "lang": "en"},
    ]
    rep = stratify(recs, by="lang", higher_is_better=False, min_count=1)
    assert rep.weakest is not None and rep.weakest.bucket == "en"
    assert rep.missing_metric == 1 and rep.coverage[0].missing_field == 1
    assert "(missing)" in [b.bucket for b in rep.buckets]


@pytest.mark.parametrize(
    ("recs", "by", "message"),
    [
        pytest.param([], "difficulty", "No records", id="empty"),
        pytest.param([{"id": 1, "x": 1}], "x", "neither", id="no-metric"),
        pytest.param([{"id": 1, "score": 1.0}], "score", "not a bucket field", id="reserved"),
        pytest.param([{"id": 1, "score": "high", "d": 1}], "d", "non-numeric", id="bad-score"),
        pytest.param([{"id": 1, "score": 1.0}], [], "at least one", id="no-field"),
    ],
)
def test_stratify_refusals(recs: list[dict[str, Any]], by: Any, message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        stratify(recs, by=by)


def test_compare_buckets_paired_by_id() -> None:
    a = records(seed=1)
    b = [dict(r) for r in a]
    for r in b:
        if r["difficulty"] == "hard":
            r["score"] -= 0.1
        elif r["difficulty"] == "easy":
            r["score"] += 0.02
    cmp = compare_buckets(a, b, by="difficulty")
    rows = {r.bucket: r for r in cmp.rows}
    assert rows["hard"].paired and rows["hard"].diff == pytest.approx(-0.1)
    assert rows["hard"].verdict == "b worse"
    assert rows["easy"].verdict == "b better"
    assert rows["expert"].verdict == "too few examples"
    assert cmp.largest_regression is not None and cmp.largest_regression.bucket == "hard"


def test_compare_buckets_unpaired_welch() -> None:
    a = records(seed=1)
    b = [{**r, "id": f"other-{r['id']}"} for r in records(seed=2, shift=0.05)]
    cmp = compare_buckets(a, b, by="difficulty")
    rows = {r.bucket: r for r in cmp.rows}
    assert not rows["medium"].paired
    assert rows["medium"].diff == pytest.approx(0.05, abs=0.03)
    assert rows["medium"].verdict == "b better"
    # pooled over mixed difficulties the spread hides what each bucket shows clearly
    assert cmp.overall.verdict == "no clear difference" and cmp.largest_regression is None


def test_compare_buckets_paired_columns_describe_the_paired_examples() -> None:
    """a has ids 0-9 (score 1.0), b has ids 5-14 (score 0.5 on 5-9, 0.0 on 10-14): only ids
    5-9 pair, so every column is of those five: means 1.0 and 0.5, diff -0.5, 10 left out."""
    a = [{"id": i, "score": 1.0, "g": "x"} for i in range(10)]
    b = [{"id": i, "score": 0.5 if i < 10 else 0.0, "g": "x"} for i in range(5, 15)]
    b[0]["score"] = 0.4  # a spread, so the paired interval has width
    row = compare_buckets(a, b, by="g").rows[0]
    assert row.paired and row.count_a == row.count_b == 5 and row.unmatched == 10
    assert row.mean_a == pytest.approx(1.0) and row.mean_b == pytest.approx(0.48)
    assert row.diff == pytest.approx(row.mean_b - row.mean_a) == pytest.approx(-0.52)
    assert row.ci_low < row.diff < row.ci_high
    assert row.verdict == "b worse"
