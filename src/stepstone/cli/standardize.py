"""``stepstone suite | headroom | curve``: standardize what was learned.

Evaluation suites hold later runs to what answered a question (rules in
:mod:`stepstone.method.suites`); ``headroom`` puts a run's step on the roofline
(:mod:`stepstone.analysis.headroom`); ``curve`` draws a metric against an inference-time knob
(:mod:`stepstone.analysis.testtime`). The glue that reads a lab for the last two lives here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stepstone.cli.common import json_option, lab_option, print_json, print_table
from stepstone.errors import NotFoundError, UsageError
from stepstone.method import suites as suite_rules
from stepstone.method.sections import TRAINING_SECTIONS
from stepstone.store.lab import Lab, open_lab
from stepstone.store.runs import RunRecord, flatten

if TYPE_CHECKING:
    from stepstone.analysis.headroom import Headroom
    from stepstone.analysis.testtime import TestTimeCurve


# ----------------------------------------------------------------------------- suites
@click.group("suite")
def suite_group() -> None:
    """Evaluation suites: the checks every later run of a baseline tier is held to.

    \b
    Example:
      stepstone suite create recall --from q1
      stepstone suite check 3f9k2a1b
    """


@suite_group.command("create")
@click.argument("name")
@click.option("--from", "question", help="Distill it from this answered question.")
@click.option("--file", "spec_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A suite written by hand (YAML or JSON with a list of checks).")
@click.option("--tier", help="The baseline tier it attaches to (default: the question's).")
@click.option("--constraint", "constraints", multiple=True, metavar="'METRIC OP NUMBER'",
              help="A hard constraint to add, e.g. 'latency_ms <= 1.0' (with --from).")
@click.option("--eval", "eval_name", help="The eval set whose buckets to distill (with --from).")
@click.option("--rung", help="When the question's runs span a ladder: the rung (scale) the "
                             "suite is for (default: the largest; with --from).")
@lab_option
@json_option
def suite_create(name: str, question: str | None, spec_file: Path | None, tier: str | None,
                 constraints: tuple[str, ...], eval_name: str | None, rung: str | None,
                 lab: str | None, as_json: bool) -> None:
    """Create a suite (or its next dated version: a suite is never edited in place).

    \b
    Example:
      stepstone suite create recall --from q1 --constraint "latency_ms <= 1.0"
      stepstone suite create recall --file recall.yaml --tier small
    """
    if (question is None) == (spec_file is None):
        raise UsageError("give --from QUESTION to distill a suite, or --file SPEC for one "
                         "written by hand")
    with open_lab(lab) as opened:
        if question is not None:
            row = suite_rules.distill(opened, name, question, tier=tier,
                                      constraints=constraints, eval_name=eval_name, rung=rung)
        else:
            if constraints or eval_name or rung:
                raise UsageError("--constraint, --eval and --rung go with --from; write them "
                                 "in the file")
            assert spec_file is not None
            row = suite_rules.create(opened, name, spec_file, tier=tier)
    if as_json:
        print_json(row)
        return
    click.echo(f"suite {row['version']} created" + (f" for tier {row['tier']}" if row["tier"]
                                                    else " (attached to no tier)")
               + (f" at rung {row['spec']['rung']}" if row["spec"].get("rung") is not None
                  else "")
               + (f", replacing {row['parent']}" if row["parent"] else ""))
    for check in row["spec"]["checks"]:
        click.echo(f"  {suite_rules.check_text(check)}  ({check.get('kind')})")


@suite_group.command("list")
@lab_option
@json_option
def suite_list(lab: str | None, as_json: bool) -> None:
    """Every suite version, with its tier and where it came from.

    \b
    Example:
      stepstone suite list --json
    """
    with open_lab(lab) as opened:
        rows = opened.suites.list()
        current = {n: (opened.suites.current(n) or {}).get("version")
                   for n in opened.suites.names()}
    for row in rows:
        row["current"] = current.get(row["name"]) == row["version"]
        row["checks"] = len(row["spec"]["checks"])
    if as_json:
        print_json(rows)
        return
    print_table(rows, ("version", "tier", "question_id", "parent", "checks", "current"),
                title=f"{len(rows)} suite versions")


@suite_group.command("show")
@click.argument("suite")
@lab_option
@json_option
def suite_show(suite: str, lab: str | None, as_json: bool) -> None:
    """One suite (a name means its newest version): checks and the runs checked against it.

    \b
    Example:
      stepstone suite show recall
      stepstone suite show recall@2026-11-21 --json
    """
    with open_lab(lab) as opened:
        row = suite_rules.get(opened, suite)
        newest: dict[str, dict[str, Any]] = {}
        for check in opened.suites.checks(suite_version=row["version"]):
            newest[check["run_id"]] = check
    row["runs"] = [{"run_id": k, "passed": v["passed"], "results": v["results"]}
                   for k, v in newest.items()]
    if as_json:
        print_json(row)
        return
    click.echo(f"{row['version']}  tier: {row['tier'] or 'none'}  parent: {row['parent'] or 'none'}"
               + (f"  from: {row['question_id']}" if row["question_id"] else ""))
    spec = row["spec"]
    if spec.get("description"):
        click.echo(f"  {spec['description']}")
    if spec.get("rung") is not None:
        ladder = ", ".join(map(str, spec.get("rungs") or [spec["rung"]]))
        click.echo(f"  holds rung {spec['rung']} (of {ladder}): runs of other scales are not "
                   "checked")
    for check in spec["checks"]:
        basis = f"  ({check['basis']})" if check.get("basis") else ""
        click.echo(f"  [{check['kind']}] {suite_rules.check_text(check)}{basis}")
    for bucket in spec.get("buckets") or []:
        means = ", ".join(f"{k}: {v:.3g}" for k, v in bucket["means"].items())
        click.echo(f"  buckets of {bucket['field']} ({bucket['stat']}): {means}; "
                   f"worst {bucket['worst']}")
    for run in row["runs"]:
        click.echo(f"  run {run['run_id']}: {'PASS' if run['passed'] else 'FAIL'}")


@suite_group.command("check")
@click.argument("run")
@click.option("--suite", help="Check against this suite (default: every suite of the run's tier).")
@lab_option
@json_option
def suite_check(run: str, suite: str | None, lab: str | None, as_json: bool) -> None:
    """Check a run against its tier's suites (or one suite): pass / fail per check, with the
    numbers; a suite of another scale is skipped. Exits 1 when a check fails.

    \b
    Example:
      stepstone suite check 3f9k2a1b
      stepstone suite check 3f9k2a1b --suite recall --json
    """
    with open_lab(lab) as opened:
        results = suite_rules.check_run(opened, run, suite=suite)
    if as_json:
        print_json(results)
    elif not results:
        click.echo(f"run {run} has no suites to pass: its baseline tier has none attached")
    else:
        for line in suite_rules.lines(results):
            click.echo(line.replace("**", ""))
    if any(r["passed"] is False for r in results):
        raise SystemExit(1)


# ----------------------------------------------------------------------------- headroom
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


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def config_number(config: Mapping[str, Any], key: str) -> float | None:
    """The finite number at exactly the dotted path ``key`` of ``config``, or None. No suffix
    matching: ``steps`` is the top-level key only (never ``eval.steps``), ``train.steps`` that
    path."""
    return _finite(flatten(config).get(key))


_MODEL = ("model",)
_DATA = ("data", *TRAINING_SECTIONS)
"""Where headroom reads a shape key (``model.d_model``) or a data key (``data.batch_size``)
in a config, besides the top level; the step count is read from the training sections."""


def _lookup(run: RunRecord, *names: str, sections: Sequence[str] = ()) -> float | None:
    """A positive number from the run's summary key ``name``, else its config at ``name`` or
    ``SECTION.name`` for one of ``sections`` (exact keys: see :func:`config_number`)."""
    for name in names:
        number = _finite(run.summary.get(name))
        if number is not None and number > 0:
            return number
    for name in names:
        for key in (name, *(f"{section}.{name}" for section in sections)):
            number = config_number(run.config, key)
            if number is not None and number > 0:
                return number
    return None


def _precision(run: RunRecord) -> str:
    from stepstone.method.lints import precision_of

    fmt, _ = precision_of(run.config)
    return fmt or "fp32"


def recorded_device(run: RunRecord) -> str | None:
    """The device ``run`` trained on, from what it recorded: ``cpu`` when its config's
    ``device`` (top level or a training section) says so, else its first captured GPU's name,
    else ``cpu`` when its captured hardware has no GPU and its config names no accelerator;
    None when it is not known."""
    flat = flatten(run.config)
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
    from stepstone.method.runs import planned_steps

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
    click.echo(f"{record.name} ({record.id}) on {result.device}: {result.verdict}")
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


# ----------------------------------------------------------------------------- curves
def curve_points(lab: Lab, run_id: str, knob: str, metric: str | None = None
                 ) -> tuple[str, list[float], list[float], float | None]:
    """The metric, knob values, metric values and training value of ``run_id``'s curve over
    ``knob`` (eval set ``testtime/<knob>``; see :meth:`stepstone.Run.log_curve`)."""
    name = f"testtime/{knob}"
    if name not in lab.evals.names(run_id):
        have = [n.split("/", 1)[1] for n in lab.evals.names(run_id) if n.startswith("testtime/")]
        raise NotFoundError(f"run {run_id} has no test-time curve over {knob!r}"
                            + (f" (it has {', '.join(have)})" if have else
                               ": log one with run.log_curve(knob, value, metrics)"))
    records = lab.evals.records(run_id, name)
    named = sorted({str(r["metric"]) for r in records if "metric" in r})
    if named:
        if metric is None:
            if len(named) > 1:
                raise UsageError(f"the curve over {knob} has several metrics "
                                 f"({', '.join(named)}): choose one with --metric")
            metric = named[0]
        elif metric not in named:
            raise NotFoundError(f"the curve over {knob} has no metric {metric!r} "
                                f"(it has {', '.join(named)})")
        records = [r for r in records if r.get("metric") == metric]
    use_correct = (metric in (None, "accuracy", "correct") and bool(records)
                   and all("correct" in r for r in records) and not named)
    metric = metric or ("accuracy" if use_correct else "score")
    groups: dict[float, list[float]] = {}
    train: float | None = None
    for rec in records:
        at = rec.get("knob_value", rec.get("step"))
        if at is None:
            continue
        value = (1.0 if rec.get("correct") else 0.0) if use_correct else rec.get("score")
        if value is None:
            continue
        groups.setdefault(float(at), []).append(float(value))
        if rec.get("train_value") is not None:
            train = float(rec["train_value"])
    if not groups:
        raise NotFoundError(f"run {run_id}'s curve over {knob} has no points with a knob value")
    knobs = sorted(groups)
    values = [sum(groups[k]) / len(groups[k]) for k in knobs]
    return metric, knobs, values, train


def _train_value(run: RunRecord, key: str) -> float:
    value = config_number(run.config, key)
    if value is None:
        raise UsageError(f"run {run.id}'s config has no number at {key!r}: give the exact "
                         "dotted key that holds the knob's training value (e.g. "
                         "model.recursion_steps), or the value itself")
    return value


def run_curves(lab: Lab, refs: Sequence[str], knob: str, metric: str | None = None,
               train_value: float | str | None = None
               ) -> list[tuple[RunRecord, TestTimeCurve]]:
    """One test-time curve per run. The training value: ``train_value`` (a number, or the
    dotted config key that holds it in each run, e.g. ``model.recursion_steps``), else the
    one logged with the curve, else none. No config key is guessed from the knob's name: a
    config's ``steps`` is usually the training-step count, not the knob."""
    from stepstone.analysis import testtime_curve
    from stepstone.method.baselines import lower_is_better

    out = []
    for ref in refs:
        run = lab.runs.get(ref)
        name, knobs, values, logged = curve_points(lab, run.id, knob, metric)
        tv = _train_value(run, train_value) if isinstance(train_value, str) else train_value
        if tv is None:
            tv = logged
        out.append((run, testtime_curve(knobs, values, train_value=tv, knob=knob, metric=name,
                                        higher_is_better=not lower_is_better(name))))
    return out


def _number_or_key(text: str | None) -> float | str | None:
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        raise UsageError(f"--train-value is a finite number or a config key, not {text!r}")
    return number


def plot_curves(curves: Sequence[tuple[RunRecord, TestTimeCurve]], path: Path) -> Path:
    """A PNG (or any matplotlib format by suffix) of the curves, knob on a log2 axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for run, curve in curves:
        xs = [p.knob for p in curve.points]
        line = ax.plot(xs, [p.mean for p in curve.points], marker="o", label=run.name)[0]
        if curve.train_value is not None:
            ax.axvline(curve.train_value, linestyle="--", color=line.get_color(), alpha=0.5)
    knob, metric = curves[0][1].knob, curves[0][1].metric
    if all(p.knob > 0 for _, c in curves for p in c.points):
        ax.set_xscale("log", base=2)
    ax.set_xlabel(f"{knob} (dashed: the training value)")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} against {knob}")
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
    finally:
        plt.close(fig)
    return path


@click.command("curve")
@click.argument("runs", nargs=-1, required=True)
@click.option("--knob", required=True, help="The inference-time knob (steps, samples, context...).")
@click.option("--metric", help="The metric (default: the only one logged).")
@click.option("--train-value", metavar="NUMBER|KEY",
              help="The knob's value in training: a number, or the exact dotted config key "
                   "that holds it in each run (e.g. model.recursion_steps). Default: the "
                   "value logged with the curve.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write a figure here (.png, .svg, .pdf).")
@lab_option
@json_option
def curve_cmd(runs: tuple[str, ...], knob: str, metric: str | None, train_value: str | None,
              plot_path: Path | None, lab: str | None, as_json: bool) -> None:
    """Test-time compute curves: a metric against an inference-time knob, for one run or
    several, with the trend beyond the value used in training.

    \b
    Example:
      stepstone curve 3f9k2a1b --knob steps --metric accuracy
      stepstone curve run-a run-b --knob num_kv_pairs --plot curve.png --json
      stepstone curve run-a run-b --knob steps --train-value model.recursion_steps
    """
    with open_lab(lab) as opened:
        curves = run_curves(opened, runs, knob, metric, _number_or_key(train_value))
    if plot_path is not None:
        plot_curves(curves, plot_path)
    if as_json:
        print_json({"curves": [{"run_id": run.id, "name": run.name, **curve.to_dict()}
                               for run, curve in curves],
                    "plot": str(plot_path) if plot_path else None})
        return
    knobs = sorted({p.knob for _, c in curves for p in c.points})
    table: list[dict[str, Any]] = []
    for k in knobs:
        row: dict[str, Any] = {knob: f"{k:g}"}
        for run, curve in curves:
            point = next((p for p in curve.points if p.knob == k), None)
            mark = " (train)" if curve.train_value == k else ""
            row[run.name] = "" if point is None else f"{point.mean:.4g}{mark}"
        table.append(row)
    print_table(table, (knob, *[run.name for run, _ in curves]),
                title=f"{curves[0][1].metric} against {knob}")
    for run, curve in curves:
        click.echo(f"{run.name}: {curve.summary}")
    if plot_path is not None:
        click.echo(f"figure: {plot_path}")
