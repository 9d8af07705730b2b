"""Optimization headroom: the roofline on known cases, the peak table, and `stepstone headroom`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from _cli import cli
from stepstone.analysis import device_peak, estimate_step_cost, roofline
from stepstone.analysis.headroom import PEAKS, elementwise_cost, matmul_cost
from stepstone.errors import AnalysisError
from stepstone.store import open_lab

H100 = PEAKS["H100"]


def test_large_matmul_is_compute_bound() -> None:
    cost = matmul_cost(8192, 8192, 8192, bytes_per_element=2)
    assert cost.flops == 2 * 8192**3
    assert cost.bytes == 3 * 8192**2 * 2
    # at 600 TFLOP/s achieved on an H100 (989.4 dense bf16 peak, 3.35 TB/s)
    t = cost.flops / 600e12
    r = roofline(flops=cost.flops, bytes_moved=cost.bytes, step_time_s=t,
                 peak_flops=H100.bf16_flops, peak_bandwidth=H100.bandwidth, device="H100")
    assert r.arithmetic_intensity == pytest.approx(8192 / 3)  # 2n³ / 6n² FLOP per byte
    assert r.ridge_point == pytest.approx(989.4e12 / 3.35e12)
    assert r.bound == "compute"
    assert r.mfu == pytest.approx(600 / 989.4)
    assert r.attainable_flops == H100.bf16_flops
    assert r.headroom == pytest.approx(989.4 / 600)
    assert r.min_step_time_s == pytest.approx(cost.flops / 989.4e12)


def test_elementwise_add_is_memory_bound() -> None:
    n = 2**28
    cost = elementwise_cost(n, n_inputs=2, bytes_per_element=4)  # fp32 c = a + b
    assert cost.flops == n and cost.bytes == 3 * 4 * n
    # at 3.0 TB/s achieved on the H100 figures
    t = cost.bytes / 3.0e12
    r = roofline(flops=cost.flops, bytes_moved=cost.bytes, step_time_s=t,
                 peak_flops=H100.fp32_flops, peak_bandwidth=H100.bandwidth)
    assert r.arithmetic_intensity == pytest.approx(1 / 12)
    assert r.bound == "memory"
    assert r.bandwidth_utilization == pytest.approx(3.0 / 3.35)
    assert r.attainable_flops == pytest.approx(3.35e12 / 12)
    assert r.mfu < 0.01  # a tiny MFU, yet no headroom: the memory roof is the limit
    assert r.headroom < 1.5 and "little headroom" in r.verdict


def test_slow_step_has_headroom() -> None:
    r = roofline(flops=1e12, bytes_moved=1e9, step_time_s=0.1, peak_flops=100e12,
                 peak_bandwidth=1e12)
    # intensity 1000 > ridge 100: compute-bound; 10 TFLOP/s achieved of 100
    assert r.bound == "compute" and r.mfu == pytest.approx(0.1)
    assert r.headroom == pytest.approx(10.0) and "10.0x" in r.verdict
    assert r.to_dict()["bound"] == "compute"


def test_refusals_and_table() -> None:
    with pytest.raises(AnalysisError, match="positive"):
        roofline(flops=0, bytes_moved=1, step_time_s=1, peak_flops=1, peak_bandwidth=1)
    with pytest.raises(AnalysisError, match="No peak figures"):
        device_peak("Voodoo2")
    assert device_peak("NVIDIA H100 80GB HBM3").name == "H100"
    assert device_peak("AMD Instinct MI300X").name == "MI300X"
    assert device_peak("Tesla T4").name == "T4"
    assert device_peak("a100-sxm4-80gb").flops("fp32") == 19.5e12
    # the form factor the name says: a PCIe card is not an SXM part
    pcie = device_peak("NVIDIA H100 PCIe")
    assert (pcie.name, pcie.bf16_flops, pcie.bandwidth) == ("H100 PCIe", 756.5e12, 2.0e12)
    assert device_peak("NVIDIA H100 80GB HBM3").bandwidth == 3.35e12  # the SXM5 part
    assert device_peak("NVIDIA H100 NVL").name == "H100 NVL"
    assert device_peak("Tesla V100-PCIE-16GB").bf16_flops == 112e12
    assert device_peak("NVIDIA A100 80GB PCIe").bandwidth == 1.935e12
    assert device_peak("NVIDIA A100-SXM4-40GB").bandwidth == 1.555e12
    with pytest.raises(AnalysisError, match="No peak figures"):
        device_peak("NVIDIA L40S")  # a model of its own, not an L4
    for peak in PEAKS.values():
        assert peak.bf16_flops >= peak.fp32_flops > 0 and peak.bandwidth > 0 and peak.source


def test_estimate_from_shape() -> None:
    cost = estimate_step_cost(n_params=1e8, tokens_per_step=2**16, n_layers=12, d_model=768,
                              seq_len=1024, n_heads=12)
    assert cost.flops == pytest.approx(2**16 * (6e8 + 12 * 12 * 768 * 1024))
    assert cost.bytes > 1e8 * 34  # weights, grads and Adam state at least
    infer = estimate_step_cost(n_params=1e8, tokens_per_step=1, n_layers=12, d_model=768,
                               seq_len=1024, training=False)
    # decoding one token reads every weight once: deeply memory-bound on any GPU
    r = roofline(flops=infer.flops, bytes_moved=infer.bytes, step_time_s=1e-3,
                 peak_flops=H100.bf16_flops, peak_bandwidth=H100.bandwidth)
    assert r.bound == "memory"


SHAPE = {"n_layers": 2, "d_model": 64, "seq_len": 32, "n_heads": 2, "batch_size": 8}


def make_run(lab: Path, run_id: str, config: dict, summary: dict,
             hardware: dict | None = None) -> None:
    with open_lab(lab) as opened:
        now = time.time()
        opened.runs.create({"id": run_id, "name": "mqar", "project": "t", "status": "finished",
                            "created_at": now, "ended_at": now + 10}, config)
        opened.runs.set_summary(run_id, summary)
        if hardware is not None:
            opened.runs.update(run_id, env={"hardware": hardware})


def test_headroom_command(lab: Path) -> None:
    make_run(lab, "run00001", {**SHAPE, "steps": 10, "precision": "bf16"},
             {"n_params": 1e5, "tokens": 2560, "flops": 1.536e9, "train/time_s": 1.0})
    code, out, err = cli(lab, "headroom", "run00001", "--device", "H100", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["flops"] == pytest.approx(1.536e8)  # the run's flops over its 10 steps
    assert data["step_time_s"] == pytest.approx(0.1)
    assert data["peak_flops"] == H100.bf16_flops  # bf16 from the config
    assert "estimated" in data["origin"]["bytes"]
    cost = estimate_step_cost(n_params=1e5, tokens_per_step=256, n_layers=2, d_model=64,
                              seq_len=32, n_heads=2, bytes_per_param=2)
    assert data["bytes"] == pytest.approx(cost.bytes)
    # 1.5e8 FLOPs over ~6e6 bytes: ~26 FLOP/B, far below the H100's ridge of 295
    assert data["arithmetic_intensity"] == pytest.approx(1.536e8 / cost.bytes)
    assert data["arithmetic_intensity"] < 30 and data["bound"] == "memory"
    assert data["headroom"] > 1
    code, out, err = cli(lab, "headroom", "run00001", "--flops", "1e12", "--bytes", "1e9",
                         "--step-time", "0.1", "--peak-flops", "1e14",
                         "--peak-bandwidth", "1e12")
    assert code == 0, err
    assert "compute-bound" in out and "10x" in out.replace(" ", "").replace("10.0x", "10x")
    # intensity 1 FLOP/B against a ridge of 100: memory-bound
    code, out, err = cli(lab, "headroom", "run00001", "--flops", "1e9", "--bytes", "1e9",
                         "--step-time", "0.1", "--peak-flops", "1e14",
                         "--peak-bandwidth", "1e12", "--json")
    assert code == 0, err
    assert json.loads(out)["bound"] == "memory"
    code, _, err = cli(lab, "headroom", "run00001", "--device", "Voodoo2")
    assert code == 1 and "No peak figures" in err


def test_headroom_reads_exact_keys(lab: Path) -> None:
    # the training steps are train.max_steps, not eval.steps; the shape is under model
    make_run(lab, "run00002", {"train": {"max_steps": 10, "batch_size": 8},
                               "eval": {"steps": 1000, "n_layers": 48},
                               "model": {k: SHAPE[k] for k in ("n_layers", "d_model",
                                                               "seq_len", "n_heads")}},
             {"n_params": 1e5, "flops": 1.536e9, "train/time_s": 1.0})
    code, out, err = cli(lab, "headroom", "run00002", "--device", "A100", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["flops"] == pytest.approx(1.536e8) and data["origin"]["flops"] == "flops / 10 steps"
    assert data["step_time_s"] == pytest.approx(0.1)
    cost = estimate_step_cost(n_params=1e5, tokens_per_step=256, n_layers=2, d_model=64,
                              seq_len=32, n_heads=2, bytes_per_param=4)  # fp32: no precision
    assert data["bytes"] == pytest.approx(cost.bytes)


def test_headroom_takes_the_device_the_run_recorded(lab: Path) -> None:
    from stepstone.sdk.capture import hardware

    summary = {"flops_per_step": 1e12, "bytes_per_step": 1e9, "step_time_s": 0.01}
    make_run(lab, "gpu00001", {"precision": "bf16"}, summary,
             {"cpu": "AMD EPYC 7B13", "cpu_count": 32, "gpus": [{"name": "NVIDIA H100 PCIe"}]})
    code, out, err = cli(lab, "headroom", "gpu00001", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["device"] == "H100 PCIe"
    assert (data["peak_flops"], data["peak_bandwidth"]) == (756.5e12, 2.0e12)
    assert data["mfu"] == pytest.approx(100e12 / 756.5e12)
    # a CPU run on another machine: its peaks cannot be measured here
    make_run(lab, "cpu00001", {"device": "cpu"}, summary,
             {"cpu": "Imaginary CPU 9000", "cpu_count": 999,
              "gpus": [{"name": "NVIDIA H100 80GB HBM3"}]})
    code, out, err = cli(lab, "headroom", "cpu00001")
    assert code == 2 and "Imaginary CPU 9000" in err and "--peak-flops" in err
    code, out, err = cli(lab, "headroom", "cpu00001", "--peak-flops", "2e12",
                         "--peak-bandwidth", "1e11", "--json")
    assert code == 0, err
    assert json.loads(out)["origin"]["peaks"] == "given"
    # a run that recorded nothing about its hardware: ask
    make_run(lab, "none0001", {}, summary)
    code, _, err = cli(lab, "headroom", "none0001")
    assert code == 2 and "records no device" in err
    # a CPU run of this kind of machine is measured here, and --device cpu asks for it
    make_run(lab, "cpu00002", {}, summary, hardware())
    code, out, err = cli(lab, "headroom", "cpu00002", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["device"] == "CPU" and "the run's CPU model" in data["origin"]["peaks"]
    code, out, err = cli(lab, "headroom", "cpu00001", "--device", "cpu", "--json")
    assert code == 0, err
    assert "as --device cpu asked" in json.loads(out)["origin"]["peaks"]
