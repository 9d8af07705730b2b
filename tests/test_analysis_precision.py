"""Precision formats: exact rounding, overflow/underflow/precision loss, precision comparisons."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stepstone.analysis import compare_precisions, precision_report
from stepstone.analysis.precision import FLOAT_FORMATS, round_to_float
from stepstone.errors import AnalysisError


def bf16_reference(x: np.ndarray) -> np.ndarray:
    """bfloat16 by bit manipulation of float32 (round to nearest even)."""
    bits = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16
    return rounded.astype(np.uint32).view(np.float32).astype(np.float64)


def test_fp16_rounding_matches_numpy_float16() -> None:
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            rng.normal(0, 1, 20000),
            rng.normal(0, 1e-6, 5000),
            np.exp(rng.uniform(-20, 11, 5000)),
            [2.0**-25, 3 * 2.0**-26, 65504.0],
        ]
    )
    ours = round_to_float(x, FLOAT_FORMATS["fp16"])
    ref = x.astype(np.float16).astype(np.float64)
    finite = np.isfinite(ref)
    np.testing.assert_array_equal(ours[finite], ref[finite])


def test_bf16_rounding_matches_bit_reference() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, 20000), np.exp(rng.uniform(-80, 80, 5000))])
    x = x.astype(np.float32).astype(np.float64)  # bf16 comes from float32
    np.testing.assert_array_equal(round_to_float(x, FLOAT_FORMATS["bf16"]), bf16_reference(x))


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        pytest.param("fp8_e4m3", 448.0, 448.0, id="e4m3-max"),
        pytest.param("fp8_e4m3", 464.0, 448.0, id="e4m3-tie-to-even-stays"),
        pytest.param("fp8_e4m3", 2.0**-9, 2.0**-9, id="e4m3-min-subnormal"),
        pytest.param("fp8_e4m3", 2.0**-10, 0.0, id="e4m3-half-min-subnormal-ties-to-zero"),
        pytest.param("fp8_e4m3", 0.3, 0.3125, id="e4m3-0.3"),
        pytest.param("fp8_e5m2", 57344.0, 57344.0, id="e5m2-max"),
        pytest.param("fp8_e5m2", 2.0**-16, 2.0**-16, id="e5m2-min-subnormal"),
        pytest.param("fp8_e5m2", 0.3, 0.3125, id="e5m2-0.3"),
        pytest.param("fp8_e5m2", 1.1, 1.0, id="e5m2-1.1"),
    ],
)
def test_fp8_values(fmt: str, value: float, expected: float) -> None:
    assert round_to_float(np.array([value]), FLOAT_FORMATS[fmt])[0] == expected


def test_fractions_for_each_format() -> None:
    x = np.array([1.0, 500.0, 70000.0, 1e-3, 1e-8, 1e-30, 0.0, -2.0])
    rep = precision_report(x, formats=["fp16", "bf16", "fp8_e4m3", "fp8_e5m2"])
    n = x.size
    fp16 = rep.format("fp16")
    assert fp16.overflow_fraction == pytest.approx(1 / n)  # 70000 > 65504
    assert fp16.underflow_fraction == pytest.approx(2 / n)  # 1e-8 and 1e-30 flush to zero
    assert fp16.precision_loss_fraction == 0.0
    bf16 = rep.format("bf16")
    assert bf16.overflow_fraction == 0 and bf16.underflow_fraction == 0
    e4m3 = rep.format("fp8_e4m3")
    assert e4m3.overflow_fraction == pytest.approx(2 / n)  # 500 and 70000 > 448
    assert e4m3.underflow_fraction == pytest.approx(2 / n)
    assert e4m3.precision_loss_fraction == pytest.approx(1 / n)  # 1e-3: subnormal, kept as 2^-9
    e5m2 = rep.format("fp8_e5m2")
    assert e5m2.overflow_fraction == pytest.approx(1 / n)
    assert e5m2.underflow_fraction == pytest.approx(2 / n)
    assert e5m2.precision_loss_fraction == 0.0  # 1e-3 is still normal in e5m2 (>= 2^-14)
    assert rep.n_zero == 1 and rep.absmax == 70000.0
    json.dumps(rep.to_dict(), allow_nan=False)


def test_percentile_ranges() -> None:
    x = np.arange(1001, dtype=float)
    rep = precision_report(x, formats=["bf16"])
    r5, r01 = rep.ranges
    assert (r5.low, r5.high) == (50.0, 950.0)
    assert (r01.low, r01.high) == pytest.approx((1.0, 999.0))
    assert r5.width == 900.0


def test_int8_per_tensor_and_per_channel() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, (4, 256))
    w[0] *= 100.0  # one loud channel ruins the per-tensor scale
    rep = precision_report(w, formats=["int8", "int8_per_channel"])
    tensor, channel = rep.format("int8"), rep.format("int8_per_channel")
    assert tensor.overflow_fraction == 0 and channel.overflow_fraction == 0
    assert tensor.underflow_fraction > 0.2  # quiet channels round to zero
    assert channel.underflow_fraction < 0.02
    assert channel.sqnr_db > tensor.sqnr_db
    assert channel.precision_loss_fraction < tensor.precision_loss_fraction
    assert "4 scale(s)" in channel.detail
    clipped = precision_report(w, formats=["int8"], int8_clip_percentile=99.0).format("int8")
    assert clipped.overflow_fraction == pytest.approx(0.01, abs=0.002)


def test_precision_report_refusals() -> None:
    with pytest.raises(AnalysisError, match="non-finite"):
        precision_report([1.0, float("inf")])
    with pytest.raises(AnalysisError, match="Unknown format"):
        precision_report([1.0], formats=["fp4"])
    with pytest.raises(AnalysisError, match="2-D"):
        precision_report([1.0, 2.0], formats=["int8_per_channel"])
    with pytest.raises(AnalysisError, match="empty"):
        precision_report([])


def test_compare_precisions_verdicts() -> None:
    res = compare_precisions(
        {
            "bf16": {0: 0.700, 1: 0.710, 2: 0.705, 3: 0.702},
            "fp8": {0: 0.699, 1: 0.709, 2: 0.705, 3: 0.701},  # paired, tiny drop
            "int4": [0.60, 0.61, 0.62],  # unpaired, large drop
            "int8": [0.65, 0.75],  # too noisy to tell
        },
        reference="bf16",
        max_drop=0.01,
    )
    rows = {r.precision: r for r in res.rows}
    assert rows["bf16"].verdict == "reference"
    assert rows["fp8"].paired and rows["fp8"].verdict == "accept"
    assert rows["fp8"].drop == pytest.approx(0.00075)
    assert not rows["int4"].paired and rows["int4"].verdict == "reject"
    assert rows["int8"].verdict == "inconclusive"
    json.dumps(res.to_dict(), allow_nan=False)


def test_compare_precisions_lower_is_better_and_refusals() -> None:
    res = compare_precisions(
        {"bf16": [2.00, 2.01, 2.02], "fp8": [2.30, 2.31, 2.32]},
        reference="bf16",
        max_drop=0.05,
        higher_is_better=False,
    )
    fp8 = res.rows[1]
    assert fp8.drop == pytest.approx(0.30) and fp8.verdict == "reject"
    with pytest.raises(AnalysisError, match="reference"):
        compare_precisions({"fp8": [1.0]}, reference="bf16", max_drop=0.1)
    with pytest.raises(AnalysisError, match="max_drop"):
        compare_precisions({"bf16": [1.0]}, reference="bf16", max_drop=-1)


def test_compare_precisions_paired_says_which_seeds_the_drop_uses() -> None:
    """fp8 ran seeds 0-3, bf16 seeds 0-5: the drop is over seeds 0-3 (0.01 on each), while
    n, mean and std are over fp8's own four seeds, and the row says so."""
    ref = {s: 0.70 + 0.01 * s for s in range(6)}
    fp8 = {s: ref[s] - 0.01 for s in range(4)}
    res = compare_precisions({"bf16": ref, "fp8": fp8}, reference="bf16", max_drop=0.02)
    row = {r.precision: r for r in res.rows}["fp8"]
    assert row.paired and row.n_paired == 4 and row.n == 4
    assert row.drop == pytest.approx(0.01)
    assert row.mean == pytest.approx(np.mean(list(fp8.values())))
    assert "over the 4 seeds both ran" in row.note and row.verdict == "accept"
    whole = compare_precisions({"bf16": ref, "fp8": {s: v - 0.01 for s, v in ref.items()}},
                               reference="bf16", max_drop=0.02)
    assert {r.precision: r for r in whole.rows}["fp8"].note == ""
