"""pass@k: the unbiased estimator against published values, averages, curves."""

from __future__ import annotations

from math import comb

import pytest

from stepstone.analysis import pass_at_k, pass_at_k_curve, pass_at_k_problems
from stepstone.errors import AnalysisError


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        pytest.param(10, 3, 5, 0.916667, id="n10-c3-k5"),
        pytest.param(200, 10, 10, 0.408548, id="n200-c10-k10"),
        pytest.param(10, 0, 1, 0.0, id="none-correct"),
        pytest.param(10, 10, 1, 1.0, id="all-correct"),
        pytest.param(10, 6, 5, 1.0, id="n-c-below-k"),
        pytest.param(100, 37, 1, 0.37, id="pass1-is-fraction"),
    ],
)
def test_pass_at_k_published(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=5e-7)


@pytest.mark.parametrize(("n", "c", "k"), [(20, 5, 3), (50, 1, 10), (30, 29, 2)])
def test_product_form_equals_binomial_form(n: int, c: int, k: int) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), rel=1e-12)


def test_large_n_is_stable() -> None:
    value = pass_at_k(100000, 3, 1000)
    assert 0 < value < 1
    assert value == pytest.approx(1 - (1 - 1000 / 100000) ** 3, rel=1e-3)


@pytest.mark.parametrize(
    ("n", "c", "k", "message"),
    [
        pytest.param(5, 2, 10, "at least 10 samples", id="k-above-n"),
        pytest.param(5, 6, 1, "between 0 and n", id="c-above-n"),
        pytest.param(5, -1, 1, "between 0 and n", id="negative-c"),
        pytest.param(5, 2, 0, "at least 1", id="k-zero"),
        pytest.param(5.0, 2, 1, "integers", id="float-n"),
    ],
)
def test_pass_at_k_refusals(n: int, c: int, k: int, message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        pass_at_k(n, c, k)


def test_problems_mean_and_interval() -> None:
    res = pass_at_k_problems(10, [3, 0, 10, 5], 5)
    assert res.per_problem[0] == pytest.approx(0.916667, abs=5e-7)
    assert res.mean == pytest.approx(sum(res.per_problem) / 4)
    assert 0 <= res.ci_low <= res.mean <= res.ci_high <= 1
    with pytest.raises(AnalysisError, match="one per problem"):
        pass_at_k_problems([10, 10], [1], 1)


def test_curve_sets_early_pass_at_k_against_later_pass_at_1() -> None:
    curve = pass_at_k_curve(
        {"step-1k": (100, [5, 10, 0, 20]), "step-10k": (100, [40, 50, 30, 60])},
        ks=(1, 10, 100),
    )
    early_k10 = curve.value("step-1k", 10)
    late_k1 = curve.value("step-10k", 1)
    assert late_k1 == pytest.approx(0.45)
    assert early_k10 > late_k1  # sampling the early model already reaches what training buys
    assert curve.value("step-1k", 100) == pytest.approx(0.75)
    with pytest.raises(AnalysisError, match="No pass@5"):
        curve.value("step-1k", 5)


def test_curve_skips_k_above_samples() -> None:
    curve = pass_at_k_curve({"a": (5, [1, 2])}, ks=(1, 10))
    assert [p.k for p in curve.points] == [1]
    with pytest.raises(AnalysisError, match="lower ks"):
        pass_at_k_curve({"a": (5, [1])}, ks=(10,))
