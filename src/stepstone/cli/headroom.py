"""``stepstone headroom``: where a run's step sits on the roofline
(:mod:`stepstone.analysis.headroom`); the glue that reads the figures from a lab's run lives
here."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import click

from stepstone.cli.common import echo, json_option, lab_option, print_json, print_table
from stepstone.configs import flatten
from stepstone.configs.sections import TRAINING_SECTIONS
from stepstone.errors import UsageError
from stepstone.method.selection import config_number, number
from stepstone.store.lab import open_lab
from stepstone.store.runs import RunRecord

if TYPE_CHECKING:
    from stepstone.analysis.headroom import Headroom


def measure_cpu_peaks(seconds: float = 0.5) -> tuple[float, float]:
    """This machine's CPU rates: FLOP/s of a float32 numpy matmul (n = 1024) and bytes/s of
    a 64 MiB copy (read + write), the best of a few repeats within about ``seconds``."""
    import numpy as np

    n = 1024
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    src = np.ones(16 * 2**20, dtype=np.float32)
    dst = np.empty_like(src)
    best_mm = best_copy = math.inf
    deadline = time.perf_counter() + seconds
    for i in range(20):
        start = time.perf_counter()
        a @ b
        best_mm = min(best_mm, time.perf_counter() - start)
        start = time.perf_counter()
        np.copyto(dst, src)
        best_copy = min(best_copy, time.perf_counter() - start)
        if i >= 2 and time.perf_counter() > deadline:
            break
    return 2.0 * n**3 / best_mm, 2.0 * src.nbytes / best_copy



_MODEL = ("model",)
_DATA = ("data", *TRAINING_SECTIONS)
"""Where headroom reads a shape key (``model.d_model``) or a data key (``data.batch_size``)
in a config, besides the top level; the step count is read from the training sections."""


def _lookup(run: RunRecord, *names: str, sections: Sequence[str] = ()) -> float | None:
    """A positive number from the run's summary key ``name``, else its config at ``name`` or
    ``SECTION.name`` for one of ``sections`` (exact keys: see :func:`config_number`)."""
    for name in names:
        found = number(run.summary, name)
        if found is not None and found > 0:
            return found
    for name in names:
        for key in (name, *(f"{section}.{name}" for section in sections)):
            found = config_number(run.config, key)
            if found is not None and found > 0:
                return found
    return None


def _precision(run: RunRecord) -> str:
    from stepstone.configs.precision import precision_of

    fmt, _ = precision_of(run.config)
    return fmt or "fp32"


def recorded_device(run: RunRecord) -> str | None:
    """The device ``run`` trained on, from what it recorded: ``cpu`` when its config's
    ``device`` (top level or a training section) says so, else its first captured GPU's name,
    else ``cpu`` when its captured hardware has no GPU and its config names no accelerator;
    None when it is not known."""
    flat = flatten(run.config, strict=False)
    said = next((str(flat[key]).lower() for key in
                 ("device", *(f"{section}.device" for section in TRAINING_SECTIONS))
                 if isinstance(flat.get(key), str)), "")
    if said.startswith("cpu"):
        return "cpu"
    hardware = (run.env or {}).get("hardware") or {}
    gpus = hardware.get("gpus") or []
    if gpus:
        first = gpus[0]
        return str(first.get("name") if isinstance(first, Mapping) else first)
    if hardware and not said.startswith(("cuda", "gpu", "mps", "xpu")):
        return "cpu"
    return None


def _same_cpu(run: RunRecord) -> None:
    """Refuse to measure this machine's CPU for a run that ran on another kind of CPU."""
    from stepstone.sdk.capture import hardware

    theirs = (run.env or {}).get("hardware") or {}
    mine = hardware()
    if (theirs.get("cpu"), theirs.get("cpu_count")) != (mine.get("cpu"), mine.get("cpu_count")):
        raise UsageError(
            f"run {run.id} ran on a CPU ({theirs.get('cpu') or 'unknown'} x"
            f"{theirs.get('cpu_count') or '?'}) other than this machine's ({mine.get('cpu')} x"
            f"{mine.get('cpu_count')}): its peaks cannot be measured here. Pass that machine's "
            "--peak-flops and --peak-bandwidth, or --device cpu to measure this one anyway")


def run_headroom(
    run: RunRecord, *, flops: float | None = None, bytes_moved: float | None = None,
    step_time: float | None = None, peak_flops: float | None = None,
    peak_bandwidth: float | None = None, device: str | None = None,
    precision: str | None = None, cpu_peaks: tuple[float, float] | None = None,
) -> tuple[Headroom, dict[str, str]]:
    """The roofline of ``run``'s step and where each number came from. Figures not given
    come from the run: ``flops_per_step``/``bytes_per_step``/``step_time_s`` in its summary or
    config, else the totals over its steps, else an estimate from the model shape."""
    from stepstone.analysis import estimate_step_cost, roofline
    from stepstone.analysis.headroom import device_peak

    origin: dict[str, str] = {}
    from stepstone.method.schedule import planned_steps

    steps = _lookup(run, "steps")  # the summary's count, else the schedule's configured length
    planned = planned_steps(run)
    if steps is None and planned is not None:
        steps = float(planned[1])
    if steps is None and run.last_step is not None:
        steps = float(run.last_step + 1)
    precision = precision or _precision(run)
    if step_time is None:
        step_time = _lookup(run, "step_time_s")
        origin["step_time"] = "summary step_time_s"
        if step_time is None and steps:
            total = _lookup(run, "train/time_s", "time_s") or run.duration
            if total:
                step_time = total / steps
                origin["step_time"] = f"training time / {steps:g} steps"
    else:
        origin["step_time"] = "given"
    if step_time is None:
        raise UsageError(f"run {run.id} has no step time: log step_time_s (or train/time_s and "
                         "steps), or pass --step-time")
    if flops is None:
        flops = _lookup(run, "flops_per_step")
        origin["flops"] = "flops_per_step"
        if flops is None and steps and _lookup(run, "flops"):
            flops = float(_lookup(run, "flops") or 0) / steps
            origin["flops"] = f"flops / {steps:g} steps"
    else:
        origin["flops"] = "given"
    if bytes_moved is None:
        bytes_moved = _lookup(run, "bytes_per_step")
        origin["bytes"] = "bytes_per_step"
    else:
        origin["bytes"] = "given"
    if flops is None or bytes_moved is None:
        n_params = _lookup(run, "n_params", sections=_MODEL)
        shape = {k: _lookup(run, k, sections=_MODEL) for k in ("n_layers", "d_model", "n_heads")}
        shape["seq_len"] = _lookup(run, "seq_len", sections=(*_MODEL, *_DATA))
        batch = _lookup(run, "batch_size", sections=_DATA)
        tokens = None
        if steps and _lookup(run, "tokens"):
            tokens = float(_lookup(run, "tokens") or 0) / steps
        elif batch and shape["seq_len"]:
            tokens = batch * shape["seq_len"]
        missing = [k for k, v in {"n_params": n_params, "tokens per step": tokens,
                                  **shape}.items() if v is None and k != "n_heads"]
        if missing:
            raise UsageError(f"run {run.id} gives no {'FLOPs' if flops is None else 'bytes'} per "
                             f"step and its shape is incomplete (no {', '.join(missing)}): "
                             "pass --flops and --bytes")
        cost = estimate_step_cost(
            n_params=float(n_params or 0), tokens_per_step=float(tokens or 0),
            n_layers=int(shape["n_layers"] or 0), d_model=int(shape["d_model"] or 0),
            seq_len=int(shape["seq_len"] or 0), n_heads=int(shape["n_heads"] or 1),
            bytes_per_param=2.0 if precision in ("fp16", "bf16") else 4.0)
        if flops is None:
            flops, origin["flops"] = cost.flops, f"estimated from the shape ({cost.method})"
        if bytes_moved is None:
            bytes_moved, origin["bytes"] = cost.bytes, f"estimated from the shape ({cost.method})"
    name = device
    if name is None and (peak_flops is None or peak_bandwidth is None):
        name = recorded_device(run)
    if name is not None and name.lower() != "cpu":
        peak = device_peak(name)
        peak_flops = peak_flops or peak.flops(precision)
        peak_bandwidth = peak_bandwidth or peak.bandwidth
        origin["peaks"] = f"{peak.name} ({peak.source}), {precision}"
        name = peak.name
    elif peak_flops is None or peak_bandwidth is None:
        if name is None:
            raise UsageError(f"run {run.id} records no device (no captured hardware): pass "
                             "--device (a device of the peak table) or --peak-flops and "
                             "--peak-bandwidth")
        if device is None:
            _same_cpu(run)
        measured = cpu_peaks or measure_cpu_peaks()
        peak_flops = peak_flops or measured[0]
        peak_bandwidth = peak_bandwidth or measured[1]
        origin["peaks"] = ("this machine's CPU, measured (numpy float32 matmul and a 64 MiB "
                           "copy)" + (", as --device cpu asked" if device else
                                      ": the run's CPU model and core count"))
        name = "CPU"
    else:
        origin["peaks"] = "given"
    return roofline(flops=flops, bytes_moved=bytes_moved, step_time_s=step_time,
                    peak_flops=peak_flops, peak_bandwidth=peak_bandwidth,
                    device=name or "given"), origin


def _si(value: float, unit: str) -> str:
    for factor, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


@click.command("headroom")
@click.argument("run")
@click.option("--flops", type=float, help="FLOPs per step (default: from the run, or estimated).")
@click.option("--bytes", "bytes_moved", type=float, help="Bytes moved per step.")
@click.option("--step-time", type=float, help="Seconds per step (default: from the run).")
@click.option("--peak-flops", type=float, help="The device's peak FLOP/s.")
@click.option("--peak-bandwidth", type=float, help="The device's peak memory bandwidth, bytes/s.")
@click.option("--device", help="A device of the peak table (A100, H100, H100 PCIe, H200, V100, "
                               "L4, T4, MI300X, M2...) or cpu (this machine's, measured). "
                               "Default: the device the run recorded.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]),
              help="The precision whose peak applies (default: the run's config).")
@lab_option
@json_option
def headroom_cmd(run: str, flops: float | None, bytes_moved: float | None,
                 step_time: float | None, peak_flops: float | None,
                 peak_bandwidth: float | None, device: str | None, precision: str | None,
                 lab: str | None, as_json: bool) -> None:
    """Where a run's step sits on the roofline: compute- or memory-bound, MFU, and how much
    faster it could go on its device (a slow model with headroom, or one without).

    \b
    Example:
      stepstone headroom 3f9k2a1b --device H100
      stepstone headroom 3f9k2a1b --flops 4.1e12 --bytes 2.2e10 --step-time 0.05 --device A100
    """
    with open_lab(lab) as opened:
        record = opened.runs.get(run)
    result, origin = run_headroom(record, flops=flops, bytes_moved=bytes_moved,
                                  step_time=step_time, peak_flops=peak_flops,
                                  peak_bandwidth=peak_bandwidth, device=device,
                                  precision=precision)
    if as_json:
        print_json({"run_id": record.id, **result.to_dict(), "origin": origin})
        return
    echo(f"{record.name} ({record.id}) on {result.device}: {result.verdict}")
    rows = [
        ("FLOPs per step", _si(result.flops, "FLOP"), origin.get("flops")),
        ("bytes per step", _si(result.bytes, "B"), origin.get("bytes")),
        ("step time", f"{result.step_time_s:.4g} s", origin.get("step_time")),
        ("arithmetic intensity", f"{result.arithmetic_intensity:.3g} FLOP/B",
         f"ridge point {result.ridge_point:.3g} FLOP/B"),
        ("achieved", _si(result.achieved_flops, "FLOP/s"), f"MFU {result.mfu:.2%}"),
        ("bandwidth", _si(result.achieved_bandwidth, "B/s"),
         f"{result.bandwidth_utilization:.2%} of {_si(result.peak_bandwidth, 'B/s')}"),
        ("peak", _si(result.peak_flops, "FLOP/s"), origin.get("peaks")),
        ("bound", result.bound, f"roofline use {result.roofline_utilization:.2%}"),
        ("headroom", f"{result.headroom:.3g}x", f"min step time {result.min_step_time_s:.3g} s"),
    ]
    print_table([{"quantity": a, "value": b, "note": c} for a, b, c in rows],
                ("quantity", "value", "note"))
