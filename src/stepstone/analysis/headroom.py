"""Optimization headroom: the roofline of one training (or inference) step.

From the FLOPs and the bytes moved per step, the measured step time and the device's peaks,
:func:`roofline` gives

* the **arithmetic intensity** ``I = FLOPs / bytes`` and the device's **ridge point**
  ``peak FLOP/s / peak bytes/s``: a step with ``I`` below the ridge is **memory-bound**
  (its attainable rate is ``I · bandwidth``), above it **compute-bound** (Williams,
  Waterman & Patterson 2009, *Roofline: an insightful visual performance model*);
* the achieved FLOP/s and bytes/s, **MFU** (achieved FLOP/s over the peak; Chowdhery et al.
  2022) and the fraction of the bandwidth used;
* the **roofline utilisation** (achieved over attainable FLOP/s) and the **headroom**: how
  many times faster the step could run at the roof, ``step time / max(FLOPs / peak FLOP/s,
  bytes / peak bandwidth)``. A slow step at 90% of its roof has no headroom (change the
  model or the hardware); one at 10% has 10x (fuse kernels, raise the batch, fix the data
  path).

:func:`estimate_step_cost` estimates FLOPs and bytes per step of a dense transformer from its
shape when they were not measured; :func:`matmul_cost` and :func:`elementwise_cost` give the
textbook figures of the two kernels that bracket every model.

The peak table (:data:`PEAKS`) holds dense (no sparsity) vendor figures; the CPU has no entry:
its peaks are measured by the caller (``stepstone headroom`` times a numpy matmul and a copy)
and passed in, since this module does no I/O and no timing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from stepstone.errors import AnalysisError

from ._common import ResultMixin
from .pareto import over_peak

TERA = 1e12


@dataclass(frozen=True)
class DevicePeak(ResultMixin):
    """A device's peak dense FLOP/s by precision and its memory bandwidth (bytes/s)."""

    name: str
    bf16_flops: float  # dense tensor-core / matrix rate at 16 bits (fp16 where no bf16)
    fp32_flops: float  # plain fp32 (no TF32)
    bandwidth: float  # bytes per second
    source: str

    def flops(self, precision: str = "bf16") -> float:
        """The peak for ``precision`` (``bf16``/``fp16``/``16``: the 16-bit rate, else fp32)."""
        p = precision.lower()
        if p in ("bf16", "fp16", "16", "half", "bfloat16", "float16", "16-mixed", "bf16-mixed"):
            return self.bf16_flops
        return self.fp32_flops


PEAKS: dict[str, DevicePeak] = {
    # NVIDIA A100 Tensor Core GPU datasheet (SXM4 80GB): BF16 312 TFLOPS dense, FP32 19.5,
    # HBM2e 2,039 GB/s.
    "A100": DevicePeak("A100", 312 * TERA, 19.5 * TERA, 2.039e12,
                       "NVIDIA A100 datasheet (SXM4 80GB)"),
    # The same datasheet, A100 40GB (SXM4 or PCIe): same compute, HBM2 1,555 GB/s.
    "A100 40GB": DevicePeak("A100 40GB", 312 * TERA, 19.5 * TERA, 1.555e12,
                            "NVIDIA A100 datasheet (40GB)"),
    # The same datasheet, A100 80GB PCIe: same compute, HBM2e 1,935 GB/s.
    "A100 PCIe": DevicePeak("A100 PCIe", 312 * TERA, 19.5 * TERA, 1.935e12,
                            "NVIDIA A100 datasheet (80GB PCIe)"),
    # NVIDIA H100 datasheet (SXM5): BF16 1,979 TFLOPS with sparsity = 989.4 dense, FP32 66.9,
    # HBM3 3.35 TB/s.
    "H100": DevicePeak("H100", 989.4 * TERA, 66.9 * TERA, 3.35e12,
                       "NVIDIA H100 datasheet (SXM5)"),
    # The same datasheet, H100 PCIe: BF16 1,513 TFLOPS with sparsity = 756.5 dense, FP32 51,
    # HBM2e 2.0 TB/s.
    "H100 PCIe": DevicePeak("H100 PCIe", 756.5 * TERA, 51 * TERA, 2.0e12,
                            "NVIDIA H100 datasheet (PCIe)"),
    # The same datasheet, H100 NVL (per GPU): BF16 1,671 TFLOPS with sparsity = 835.5 dense,
    # FP32 60, HBM3 3.9 TB/s.
    "H100 NVL": DevicePeak("H100 NVL", 835.5 * TERA, 60 * TERA, 3.9e12,
                           "NVIDIA H100 datasheet (NVL)"),
    # NVIDIA H200 datasheet (SXM): same compute as H100 SXM, HBM3e 4.8 TB/s.
    "H200": DevicePeak("H200", 989.4 * TERA, 66.9 * TERA, 4.8e12,
                       "NVIDIA H200 datasheet (SXM)"),
    # The same datasheet, H200 NVL: BF16 1,671 TFLOPS with sparsity = 835.5 dense, FP32 60,
    # HBM3e 4.8 TB/s.
    "H200 NVL": DevicePeak("H200 NVL", 835.5 * TERA, 60 * TERA, 4.8e12,
                           "NVIDIA H200 datasheet (NVL)"),
    # NVIDIA V100 datasheet (SXM2): FP16 tensor 125 TFLOPS (no BF16), FP32 15.7, HBM2 900 GB/s.
    "V100": DevicePeak("V100", 125 * TERA, 15.7 * TERA, 900e9,
                       "NVIDIA V100 datasheet (SXM2)"),
    # The same datasheet, V100 PCIe: FP16 tensor 112 TFLOPS, FP32 14, HBM2 900 GB/s.
    "V100 PCIe": DevicePeak("V100 PCIe", 112 * TERA, 14 * TERA, 900e9,
                            "NVIDIA V100 datasheet (PCIe)"),
    # NVIDIA L4 datasheet: BF16 242 TFLOPS with sparsity = 121 dense, FP32 30.3, GDDR6 300 GB/s.
    "L4": DevicePeak("L4", 121 * TERA, 30.3 * TERA, 300e9, "NVIDIA L4 datasheet"),
    # NVIDIA T4 datasheet: FP16 tensor 65 TFLOPS (no BF16), FP32 8.1, GDDR6 320 GB/s.
    "T4": DevicePeak("T4", 65 * TERA, 8.1 * TERA, 320e9, "NVIDIA T4 datasheet"),
    # AMD Instinct MI300X datasheet: BF16 1,307.4 TFLOPS dense, FP32 163.4 (matrix),
    # HBM3 5.3 TB/s.
    "MI300X": DevicePeak("MI300X", 1307.4 * TERA, 163.4 * TERA, 5.3e12,
                         "AMD Instinct MI300X datasheet"),
    # Apple M2 (10-core GPU): 3.6 TFLOPS FP32 (Apple, M2 announcement, June 2022; the GPU has no
    # faster 16-bit matrix rate), unified LPDDR5 memory 100 GB/s.
    "M2": DevicePeak("M2", 3.6 * TERA, 3.6 * TERA, 100e9, "Apple M2 announcement (10-core GPU)"),
}
"""Keyed by model, then model and form factor (``H100 PCIe``): a bare model is the SXM part."""


def device_peak(name: str) -> DevicePeak:
    """The table entry of the device ``name`` names: its model is one word of the name
    (``"NVIDIA H100 80GB HBM3"`` → H100, ``"NVIDIA L40S"`` matches no ``L4``), and a form
    factor the name also says picks that variant (``"NVIDIA H100 PCIe"``, ``"Tesla
    V100-PCIE-16GB"`` → the PCIe figures; ``A100-SXM4-40GB`` → the 40GB part's; without
    one, the SXM part's)."""
    words = set(re.findall(r"[A-Z0-9]+", name.upper()))
    for key, peak in PEAKS.items():
        model, *form = key.upper().split()
        if form or model not in words:
            continue
        variants = [p for k, p in PEAKS.items() if k.upper().split()[0] == model
                    and len(k.split()) > 1 and set(k.upper().split()[1:]) <= words]
        return variants[0] if variants else peak
    raise AnalysisError(
        f"No peak figures for device {name!r}; known: {', '.join(PEAKS)}. Pass the peaks "
        "explicitly (peak FLOP/s and bandwidth)."
    )


@dataclass(frozen=True)
class StepCost(ResultMixin):
    """FLOPs and bytes moved by one step, and how they were obtained."""

    flops: float
    bytes: float
    method: str


@dataclass(frozen=True)
class Headroom(ResultMixin):
    """Where a step sits on the roofline, and how much faster it could go."""

    device: str
    flops: float
    bytes: float
    step_time_s: float
    peak_flops: float
    peak_bandwidth: float
    arithmetic_intensity: float  # FLOPs per byte
    ridge_point: float  # FLOPs per byte where the roofs meet
    bound: str  # "compute" or "memory"
    achieved_flops: float  # FLOP/s
    achieved_bandwidth: float  # bytes/s
    mfu: float
    bandwidth_utilization: float
    attainable_flops: float  # min(peak, intensity · bandwidth)
    roofline_utilization: float  # achieved / attainable
    min_step_time_s: float
    headroom: float  # step_time / min_step_time: the speed-up left at the roof
    verdict: str


def _positive(name: str, value: float) -> float:
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise AnalysisError(f"The roofline needs a positive, finite {name}; got {value}.")
    return v


def roofline(
    *,
    flops: float,
    bytes_moved: float,
    step_time_s: float,
    peak_flops: float,
    peak_bandwidth: float,
    device: str = "given",
    headroom_threshold: float = 1.5,
) -> Headroom:
    """The roofline of one step: intensity, bound, MFU, bandwidth use and the headroom left.

    ``flops`` and ``bytes_moved`` are per step; ``step_time_s`` the measured time of a step;
    the peaks are per device for the precision used. A step whose headroom (possible
    speed-up at the roof) is below ``headroom_threshold`` is called one without headroom.
    """
    f = _positive("FLOPs per step", flops)
    b = _positive("bytes per step", bytes_moved)
    t = _positive("step time", step_time_s)
    pf = _positive("peak FLOP/s", peak_flops)
    pb = _positive("peak bandwidth", peak_bandwidth)
    if headroom_threshold < 1:
        raise AnalysisError(f"headroom_threshold must be 1 or more; got {headroom_threshold}.")
    intensity = f / b
    ridge = pf / pb
    bound = "compute" if intensity >= ridge else "memory"
    achieved_f, achieved_b = f / t, b / t
    attainable = min(pf, intensity * pb)
    min_time = max(f / pf, b / pb)
    headroom = t / min_time
    use = achieved_f / attainable
    roof = "peak FLOP/s" if bound == "compute" else "memory bandwidth"
    impossible = over_peak(achieved_f / pf)
    if impossible is not None:
        verdict = impossible
    elif headroom < headroom_threshold:
        verdict = (f"{bound}-bound at {use:.0%} of its roof ({roof}): little headroom; "
                   "a faster step needs less work or a faster device")
    else:
        verdict = (f"{bound}-bound at {use:.0%} of its roof ({roof}): up to {headroom:.1f}x "
                   "faster is possible on this device")
    return Headroom(
        device=device, flops=f, bytes=b, step_time_s=t, peak_flops=pf, peak_bandwidth=pb,
        arithmetic_intensity=intensity, ridge_point=ridge, bound=bound,
        achieved_flops=achieved_f, achieved_bandwidth=achieved_b, mfu=achieved_f / pf,
        bandwidth_utilization=achieved_b / pb, attainable_flops=attainable,
        roofline_utilization=use, min_step_time_s=min_time, headroom=headroom, verdict=verdict,
    )


def matmul_cost(m: int, n: int, k: int, bytes_per_element: float = 2.0) -> StepCost:
    """``(m×k)·(k×n)``: ``2mnk`` FLOPs; reads both inputs and writes the output once."""
    for name, v in (("m", m), ("n", n), ("k", k), ("bytes_per_element", bytes_per_element)):
        _positive(name, v)
    flops = 2.0 * m * n * k
    moved = (m * k + k * n + m * n) * float(bytes_per_element)
    return StepCost(flops, moved, f"matmul {m}x{k}x{n}")


def elementwise_cost(n: int, *, n_inputs: int = 2, flops_per_element: float = 1.0,
                     bytes_per_element: float = 4.0) -> StepCost:
    """An elementwise op on ``n`` values: reads ``n_inputs`` arrays, writes one."""
    _positive("n", n)
    _positive("bytes_per_element", bytes_per_element)
    if n_inputs < 1:
        raise AnalysisError(f"n_inputs must be at least 1; got {n_inputs}.")
    return StepCost(float(n) * flops_per_element, float(n) * (n_inputs + 1) * bytes_per_element,
                    f"elementwise on {n} values")


def estimate_step_cost(
    *,
    n_params: float,
    tokens_per_step: float,
    n_layers: int,
    d_model: int,
    seq_len: int,
    n_heads: int = 1,
    bytes_per_param: float = 2.0,
    training: bool = True,
) -> StepCost:
    """FLOPs and bytes of one step of a dense decoder-only transformer, from its shape.

    FLOPs per token: ``6N + 12·L·d·T`` in training (PaLM, Chowdhery et al. 2022, App. B),
    ``2N + 4·L·d·T`` at inference. Bytes: the weights are read three times in training
    (forward, two backward matmuls) and once at inference at ``bytes_per_param``; training
    also writes and reads the gradients and reads and writes an Adam state in fp32 (master
    weights, two moments: 24 bytes a parameter); activations follow Korthikanti et al. 2022
    (eq. 1: ``s·b·h·(34 + 5·a·s/h)`` bytes a layer at 16 bits), written in the forward pass
    and read in the backward. A model of the traffic, not a measurement: give measured
    figures when you have them.
    """
    n = _positive("n_params", n_params)
    tok = _positive("tokens per step", tokens_per_step)
    for name, v in (("n_layers", n_layers), ("d_model", d_model), ("seq_len", seq_len),
                    ("n_heads", n_heads), ("bytes_per_param", bytes_per_param)):
        _positive(name, v)
    if training:
        flops = tok * (6.0 * n + 12.0 * n_layers * d_model * seq_len)
        weights = n * (5.0 * bytes_per_param + 24.0)
        scale = bytes_per_param / 2.0
        acts = 2.0 * tok * d_model * n_layers * (34.0 + 5.0 * n_heads * seq_len / d_model) * scale
        method = "6N+12LdT per token; weights, grads, Adam state, activations (Korthikanti)"
    else:
        flops = tok * (2.0 * n + 4.0 * n_layers * d_model * seq_len)
        weights = n * bytes_per_param
        acts = 2.0 * tok * d_model * n_layers * bytes_per_param
        method = "2N+4LdT per token; weights once, activations in and out"
    return StepCost(flops, weights + acts, method)
