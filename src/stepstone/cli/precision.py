"""``stepstone precision``: what low-precision formats do to an array (weights,
activations), or a downstream metric compared between precisions over the seeds of a lab's
runs.

Lab reading lives in :mod:`stepstone.method.selection`; the numbers come from
:mod:`stepstone.analysis`; tables from :mod:`stepstone.cli.analysis_common`.
"""

from __future__ import annotations

from typing import Any

import click

from stepstone.cli.analysis_common import (
    TABLE_STYLES,
    direction_option,
    echo_table,
    higher_is_better,
    selection_options,
)
from stepstone.cli.common import echo, json_option, lab_option, print_json
from stepstone.display import interval
from stepstone.errors import UsageError


@click.command("precision")
@click.argument("path", metavar="[FILE.npy]", required=False)
@click.option("--format", "formats", multiple=True,
              help="FILE: number format to check (repeatable): fp16, bf16, fp8_e4m3, "
                   "fp8_e5m2, int8, int8_per_channel (default: all).")
@click.option("--channel-axis", type=int, default=0, show_default=True,
              help="FILE: axis of the per-channel int8 scales.")
@selection_options
@click.option("--by", "by", default="precision", show_default=True, metavar="KEY",
              help="Runs: config key holding each run's precision (dotted for nested "
                   "configs, e.g. train.precision).")
@click.option("--metric", metavar="KEY",
              help="Runs: summary key of the downstream metric, e.g. eval/accuracy.")
@click.option("--reference", metavar="PRECISION",
              help="Runs: the precision the others are held against, e.g. bf16.")
@click.option("--max-drop", type=float, metavar="X",
              help="Runs: the largest drop of --metric you accept, in its units, e.g. 0.01.")
@direction_option
@click.option("--table", "style", type=click.Choice(TABLE_STYLES), default="markdown",
              show_default=True, help="Table style: Markdown, or LaTeX for a paper.")
@lab_option
@json_option
def precision_cmd(path: str | None, formats: tuple[str, ...], channel_axis: int,
                  question: str | None, baseline: str | None, tag: str | None,
                  project: str | None, run_refs: tuple[str, ...], by: str,
                  metric: str | None, reference: str | None, max_drop: float | None,
                  higher: bool | None, style: str, lab: str | None, as_json: bool) -> None:
    """What low precision does: to an array of numbers, or to a downstream metric of runs.

    FILE (a .npy/.npz saved with numpy: weights, activations): percentile ranges of the
    values, and per format the fraction that overflows, underflows or loses precision, the
    mean relative error and the SQNR.

    Runs (chosen with --question/--baseline/--tag/--project/--run): grouped by the
    precision in their config (--by), a downstream metric of each precision over its seeds
    (mean, spread) against --reference. The drop is paired on the seeds both ran (config
    `seed`) when they share two or more, else Welch; the verdict is non-inferiority:
    accept when the whole interval of the drop is within --max-drop, reject when it is
    wholly beyond it, else inconclusive (run more seeds).

    \b
    Example:
      stepstone precision layer3_weights.npy
      stepstone precision acts.npy --format fp16 --format bf16 --format fp8_e4m3 --json
      stepstone precision --tag quant --by precision --metric eval/accuracy \\
        --reference bf16 --max-drop 0.01
    """
    selected = bool(question or baseline or tag or project or run_refs)
    if (path is None) == (not selected):
        raise UsageError("give an array file (FILE.npy), or choose runs with --question, "
                         "--baseline, --tag, --project or --run (not both)")
    if path is not None:
        given = [flag for flag, value in (("--metric", metric), ("--reference", reference),
                                          ("--max-drop", max_drop), ("--higher-is-better/"
                                           "--lower-is-better", higher)) if value is not None]
        if given or by != "precision":
            raise UsageError(f"{', '.join(given) or '--by'} compares runs, not an array "
                             f"file: drop it, or drop {path} and choose runs")
        _array_report(path, formats, channel_axis, style, as_json)
        return
    if formats or channel_axis != 0:
        raise UsageError("--format and --channel-axis check an array file: give FILE.npy, or "
                         "drop them to compare runs")
    if metric is None or reference is None or max_drop is None:
        raise UsageError("comparing runs needs --metric KEY, --reference PRECISION and "
                         "--max-drop X (the largest drop you accept, in the metric's units), "
                         "e.g. --metric eval/accuracy --reference bf16 --max-drop 0.01")
    if not max_drop >= 0:
        raise UsageError(f"--max-drop is the largest acceptable drop, 0 or more; got {max_drop}")
    _compare_runs(dict(question=question, baseline=baseline, tag=tag, project=project,
                       run_ids=run_refs), by, metric, reference, max_drop,
                  higher_is_better(metric, higher), style, lab, as_json)


def _array_report(path: str, formats: tuple[str, ...], channel_axis: int, style: str,
                  as_json: bool) -> None:
    from stepstone.analysis import precision_report
    from stepstone.analysis.precision import FORMATS
    from stepstone.cli import inputs

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise UsageError(f"unknown format {', '.join(bad)}: use {', '.join(FORMATS)}")
    values = inputs.load_array(path)
    chosen = list(formats) or [f for f in FORMATS  # per-channel needs channels
                               if values.ndim >= 2 or f != "int8_per_channel"]
    rep = precision_report(values, formats=chosen, channel_axis=channel_axis)
    if as_json:
        print_json({"file": path, "shape": list(values.shape), "report": rep.to_dict()})
        return
    echo(f"{path}: {rep.n_values} values, shape {tuple(values.shape)}, absmax "
               f"{rep.absmax:.4g}, mean {rep.mean:.4g}, std {rep.std:.4g}, {rep.n_zero} zeros")
    for r in rep.ranges:
        echo(f"  p{r.low_pct:g}–p{r.high_pct:g}: [{r.low:.4g}, {r.high:.4g}]")
    echo()
    echo_table([[f.format, f"{f.overflow_fraction:.3%}", f"{f.underflow_fraction:.3%}",
                 f"{f.precision_loss_fraction:.3%}", f.mean_relative_error, f.sqnr_db,
                 f.detail] for f in rep.formats],
               ["format", "overflow", "underflow", "precision loss", "mean rel. error",
                "SQNR (dB)", "detail"], style, "Precision report")


def _compare_runs(filters: dict[str, Any], by: str, metric: str, reference: str,
                  max_drop: float, hib: bool, style: str, lab: str | None,
                  as_json: bool) -> None:
    from stepstone.analysis import compare_precisions
    from stepstone.method import selection as aio
    from stepstone.store.lab import open_lab

    with open_lab(lab) as opened:
        sel = aio.select_runs(opened, **filters)
    groups, no_key = aio.config_groups(sel.runs, by)
    if not groups:
        raise UsageError(f"no selected run has the config key {by!r}: name the key that "
                         "holds each run's precision with --by KEY (e.g. train.precision)")
    results, no_metric = aio.precision_results(groups, metric, reference)
    comp = compare_precisions(results, reference=reference, max_drop=max_drop,
                              higher_is_better=hib, metric=metric)
    skipped = aio.Selection(sel.source, sel.runs, [*sel.skipped, *no_key, *no_metric])
    if as_json:
        print_json({"source": sel.source, "by": by,
                    "runs": {name: [r.id for r in runs] for name, runs in groups.items()},
                    "skipped": [{"run": r, "reason": w} for r, w in skipped.skipped],
                    "comparison": comp.to_dict()})
        return
    conf = f"{comp.confidence:.0%} CI"
    rows = [[r.precision, r.n, r.mean, r.std, r.drop, interval(r.ci_low, r.ci_high),
             "–" if r.verdict == "reference" else
             (f"paired, {r.n_paired} seeds" if r.paired else "Welch"), r.verdict]
            for r in comp.rows]
    echo_table(rows, [by, "seeds", "mean", "std", "drop", f"drop {conf}", "test", "verdict"],
               style, f"{metric} by {by} against {reference} ({'higher' if hib else 'lower'} "
                      f"is better; accept a drop up to {max_drop:g})")
    for r in comp.rows:
        if r.note:
            echo(f"- {r.precision}: {r.note}")
    if skipped.skipped:
        echo(skipped.skipped_line())
