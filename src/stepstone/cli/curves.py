"""``stepstone curve``: a metric against an inference-time knob, per run
(:mod:`stepstone.analysis.testtime`); the glue that reads the curves from a lab lives here."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from stepstone.cli.common import echo, json_option, lab_option, print_json, print_table
from stepstone.errors import NotFoundError, UsageError
from stepstone.method.selection import config_number
from stepstone.store.lab import Lab, open_lab
from stepstone.store.runs import RunRecord

if TYPE_CHECKING:
    from stepstone.analysis.testtime import TestTimeCurve


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
    records = [r.to_dict() for r in lab.evals.records(run_id, name)]
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
        echo(f"{run.name}: {curve.summary}")
    if plot_path is not None:
        echo(f"figure: {plot_path}")
