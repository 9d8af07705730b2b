"""Pareto frontier under hard constraints, constraint parsing, MFU against PaLM."""

from __future__ import annotations

import json

import pytest

from stepstone.analysis import mfu, pareto_front, parse_constraint
from stepstone.analysis.flops import flops_6nd
from stepstone.errors import AnalysisError

RUNS = [
    {"id": "a", "acc": 0.70, "latency_ms": 20, "memory_gb": 4},
    {"id": "b", "acc": 0.75, "latency_ms": 40, "memory_gb": 8},
    {"id": "c", "acc": 0.74, "latency_ms": 60, "memory_gb": 8},  # dominated by b
    {"id": "d", "acc": 0.80, "latency_ms": 150, "memory_gb": 16},  # breaks latency <= 100
    {"id": "e", "acc": 0.78, "latency_ms": 90, "memory_gb": 30},
    {"id": "f", "acc": 0.60},  # no latency
]


def test_front_with_constraint() -> None:
    res = pareto_front(RUNS, quality="acc", cost="latency_ms", constraints=["latency_ms <= 100"])
    assert [p.id for p in res.front] == ["a", "b", "e"]
    dis = {d.id: d.reasons for d in res.disqualified}
    assert set(dis) == {"d", "f"}
    assert "breaks 'latency_ms <= 100'" in dis["d"][0]
    c = next(p for p in res.ranked if p.id == "c")
    assert not c.on_front and c.dominated_by == "b"
    assert res.best is not None and res.best.id == "e" and res.best.rank == 1
    json.dumps(res.to_dict(), allow_nan=False)


def test_front_without_constraints_and_two_costs() -> None:
    runs = [r for r in RUNS if r["id"] != "f"]
    assert [p.id for p in pareto_front(runs, quality="acc", cost="latency_ms").front] == [
        "a",
        "b",
        "e",
        "d",
    ]
    two = pareto_front(
        runs, quality="acc", cost=["latency_ms", "memory_gb"], constraints=["memory_gb < 20"]
    )
    assert {p.id for p in two.front} == {"a", "b", "d"}


def test_minimised_quality() -> None:
    runs = [
        {"id": "x", "loss": 2.0, "flops": 1.0},
        {"id": "y", "loss": 1.8, "flops": 2.0},
        {"id": "z", "loss": 2.1, "flops": 3.0},
    ]
    res = pareto_front(runs, quality="loss", cost="flops", maximize=False)
    assert [p.id for p in res.front] == ["x", "y"]
    assert res.best is not None and res.best.id == "y"


@pytest.mark.parametrize(
    ("text", "metric", "op", "value"),
    [
        pytest.param("latency_ms <= 100", "latency_ms", "<=", 100.0, id="le"),
        pytest.param("memory_gb<40", "memory_gb", "<", 40.0, id="lt-no-spaces"),
        pytest.param("  acc >= 0.5 ", "acc", ">=", 0.5, id="ge"),
        pytest.param("flops > 1e21", "flops", ">", 1e21, id="sci"),
        pytest.param("eval.gsm8k == -1.5", "eval.gsm8k", "==", -1.5, id="dotted-negative"),
        pytest.param("x != 0", "x", "!=", 0.0, id="ne"),
    ],
)
def test_parse_constraint(text: str, metric: str, op: str, value: float) -> None:
    c = parse_constraint(text)
    assert (c.metric, c.op, c.value) == (metric, op, value)


@pytest.mark.parametrize(
    "text", ["latency_ms", "latency_ms =< 100", "100 >= latency_ms", "latency_ms <= fast", ""]
)
def test_parse_constraint_refusals(text: str) -> None:
    with pytest.raises(AnalysisError, match="metric op number"):
        parse_constraint(text)


def test_all_disqualified_and_refusals() -> None:
    res = pareto_front(RUNS, quality="acc", cost="latency_ms", constraints=["latency_ms < 1"])
    assert res.front == () and res.best is None and len(res.disqualified) == len(RUNS)
    with pytest.raises(AnalysisError, match="No runs"):
        pareto_front([], quality="acc", cost="latency_ms")
    with pytest.raises(AnalysisError, match="cost metric"):
        pareto_front(RUNS, quality="acc", cost=[])


def test_mfu_palm_540b() -> None:
    # Chowdhery et al. 2022, App. B: 6N + 12·L·H·Q·T FLOPs per token, 238.3k tokens/s on
    # 6144 TPU v4 chips at 275 TFLOP/s peak gives 46.2% MFU
    n, layers, heads, head_dim, seq = 540.35e9, 118, 48, 256, 2048
    per_token = 6 * n + 12 * layers * heads * head_dim * seq
    res = mfu(per_token * 238.3e3, 1.0, 275e12, n_devices=6144)
    assert res.mfu == pytest.approx(0.462, abs=0.001)


def test_mfu_records_flops_method_and_refusals() -> None:
    res = mfu(flops_6nd(1e9, 1e9), 3600.0, 1e15)
    assert res.flops_method == "6ND" and res.mfu == pytest.approx(6e18 / 3600 / 1e15)
    with pytest.raises(AnalysisError, match="positive"):
        mfu(1e18, 0.0, 1e15)
    with pytest.raises(AnalysisError, match="n_devices"):
        mfu(1e18, 1.0, 1e15, n_devices=0)
