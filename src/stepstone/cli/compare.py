"""``stepstone compare`` and ``stepstone stratify``: two runs, or two arms over seeds, and a
run's per-example evaluation bucket by bucket.

Lab reading lives in :mod:`stepstone.method.selection`; the numbers come from
:mod:`stepstone.analysis`; tables from :mod:`stepstone.cli.analysis_common`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import click

from stepstone.cli.analysis_common import (
    direction_option,
    echo_table,
    higher_is_better,
    table_option,
)
from stepstone.cli.common import echo, json_option, lab_option, print_json
from stepstone.display import interval
from stepstone.errors import UsageError


# -- compare -----------------------------------------------------------------------------------
def _noise_floor(opened_lab: str | None, runs: Sequence[Any], metric: str) -> Any:
    """The noise floor of ``metric`` on the baseline version the runs name (None: none)."""
    from stepstone.method import evidence
    from stepstone.store.lab import open_lab

    versions = [r.baseline for r in runs if r.baseline]
    if not versions:
        return None
    with open_lab(opened_lab) as opened:
        return evidence.version_floor(opened, versions[0], metric)


@click.command("compare")
@click.argument("runs", nargs=-1)
@click.option("--a-tag", help="Arm A: runs with this tag (matched to arm B by seed).")
@click.option("--b-tag", help="Arm B: runs with this tag.")
@click.option("--metric", default="val_loss", show_default=True, help="Summary key to compare.")
@direction_option
@click.option("--loss-key", default="val_loss", show_default=True,
              help="The loss for the loss-vs-downstream divergence check.")
@click.option("--eval", "evals", multiple=True, metavar="KEY",
              help="Downstream eval key (repeatable; default: the summary keys starting with "
                   "'eval' that every compared run has). With two or more, each eval is shown "
                   "with their average, e.g. --eval eval/arc --eval eval/mmlu.")
@table_option
@lab_option
@json_option
def compare_cmd(runs: tuple[str, ...], a_tag: str | None, b_tag: str | None, metric: str,
                higher: bool | None, loss_key: str, evals: tuple[str, ...], style: str,
                lab: str | None, as_json: bool) -> None:
    """Compare run B with run A, or arm B with arm A on the same seeds.

    With two runs: the metric of each and the difference, with its 95% interval when the
    runs' baseline version has a noise floor of the metric (each run carries it as its seed
    noise; without one there is no interval). With --a-tag/--b-tag: the paired
    comparison over common seeds, each arm's seed variance and the minimum detectable
    effect. With two or more downstream evals: each eval of each side (its mean and interval
    over the seeds) next to their average. Both: whether the validation loss improved while
    a downstream eval got worse.

    \b
    Example:
      stepstone compare 3f9k2a1b 7c1d0e2f --metric val_loss
      stepstone compare --a-tag baseline --b-tag swiglu --metric eval/accuracy --json
      stepstone compare --a-tag baseline --b-tag swiglu --eval eval/arc --eval eval/mmlu
    """
    from stepstone.analysis import (
        loss_eval_divergence,
        minimum_detectable_effect,
        paired_comparison,
        seed_variance,
    )
    from stepstone.errors import AnalysisError
    from stepstone.method import selection as aio
    from stepstone.store.lab import open_lab

    arms = a_tag is not None or b_tag is not None
    if arms and (runs or a_tag is None or b_tag is None):
        raise UsageError("give two runs, or both --a-tag and --b-tag (not both forms)")
    if not arms and len(runs) != 2:
        raise UsageError("give two runs (RUN_A RUN_B), or --a-tag and --b-tag")
    hib = higher_is_better(metric, higher)
    with open_lab(lab) as opened:
        if arms:
            run_a = aio.select_runs(opened, tag=a_tag).runs
            run_b = aio.select_runs(opened, tag=b_tag).runs
            name_a, name_b = f"tag:{a_tag}", f"tag:{b_tag}"
        else:
            run_a = [opened.runs.get(runs[0])]
            run_b = [opened.runs.get(runs[1])]
            name_a, name_b = run_a[0].name, run_b[0].name
    payload: dict[str, Any] = {"metric": metric, "higher_is_better": hib, "a": name_a,
                               "b": name_b}
    out_lines: list[str] = []
    if arms:
        va, vb = aio.arm_values(run_a, metric), aio.arm_values(run_b, metric)
        comp = paired_comparison(va, vb, higher_is_better=hib)
        sa, sb = seed_variance(list(va.values())), seed_variance(list(vb.values()))
        diffs = [vb[s] - va[s] for s in comp.seeds]
        sd = float(seed_variance(diffs).std) if len(diffs) >= 2 else math.nan
        mde = (minimum_detectable_effect(sd, comp.n, paired_design=True)
               if math.isfinite(sd) and sd > 0 else None)
        payload.update(paired=comp.to_dict(), seed_variance={"a": sa.to_dict(),
                                                             "b": sb.to_dict()},
                       minimum_detectable_effect=mde.to_dict() if mde else None)
        tables = [
            ([[name_a, sa.n, sa.mean, sa.std, interval(sa.ci_low, sa.ci_high)],
              [name_b, sb.n, sb.mean, sb.std, interval(sb.ci_low, sb.ci_high)]],
             ["arm", "seeds", "mean", "std", f"{sa.confidence:.0%} CI"],
             f"{metric} over seeds"),
            ([[comp.n, comp.mean_diff, interval(comp.ci_low, comp.ci_high), comp.p_value,
               comp.wilcoxon_p, comp.effect_size_dz, f"{comp.wins}/{comp.losses}/{comp.ties}",
               comp.verdict]],
             ["pairs", "mean b − a", f"{comp.confidence:.0%} CI", "paired t p", "Wilcoxon p",
              "d_z", "wins/losses/ties", "verdict"],
             f"Paired comparison of {metric} (b − a, "
             f"{'higher' if hib else 'lower'} is better)"),
        ]
        if mde is not None:
            out_lines.append(f"minimum detectable effect with {mde.n} pairs (α={mde.alpha}, "
                             f"power {mde.power:.0%}): {mde.effect:.4g} "
                             f"({mde.effect_in_std:.3g} σ of the differences)")
    else:
        a, b = run_a[0], run_b[0]
        xa, xb = aio.number(a.summary, metric), aio.number(b.summary, metric)
        if xa is None or xb is None:
            missing = a.name if xa is None else b.name
            raise AnalysisError(f"run {missing} has no {metric!r} in its summary")
        better = (xb > xa) == hib if xb != xa else None
        floor = _noise_floor(opened_lab=lab, runs=(a, b), metric=metric)
        if floor is None:
            note = ("one run per side and no noise floor of the baseline: no interval; "
                    "compare arms over seeds with --a-tag/--b-tag, or measure the noise floor "
                    "(stepstone baseline noise)")
            low = high = None
        else:
            from stepstone.analysis._common import t_interval

            low, high = t_interval(xb - xa, floor.sd * math.sqrt(2.0), floor.n - 1, 0.95)
            note = (f"one run per side: each carries the baseline's noise floor (SD "
                    f"{floor.sd:.3g} over {floor.n} seeds); 95% t interval of b − a")
            better = better if (low > 0 or high < 0) else None
        payload.update(value_a=xa, value_b=xb, diff=xb - xa, ci_low=low, ci_high=high,
                       b_better=better, note=note)
        tables = [([[name_a, xa, "–", "–"], [name_b, xb, xb - xa, interval(low, high)]],
                   ["run", metric, "b − a", "95% CI"],
                   f"{metric} ({'higher' if hib else 'lower'} is better)")]
        out_lines.append(note)
    summaries_a = [r.summary for r in run_a]
    summaries_b = [r.summary for r in run_b]
    keys = _eval_keys(aio, run_a + run_b, evals, loss_key)
    hib_evals = {k: higher_is_better(k, None) for k in keys}
    averages = None
    if len(keys) >= 2:
        averages = EvalAverages(keys, hib_evals, summaries_a, summaries_b)
        payload["evals"] = averages.to_dict()
    both = [*summaries_a, *summaries_b]
    div = None
    if keys and all(aio.number(s, loss_key) is not None for s in both):
        # seed -> value: the two sides pair on the seeds both ran
        before = {k: aio.arm_values(run_a, k) for k in (loss_key, *keys)}
        after = {k: aio.arm_values(run_b, k) for k in (loss_key, *keys)}
        div = loss_eval_divergence(before, after, loss_key=loss_key, labels=(name_a, name_b),
                                   higher_is_better=hib_evals)
        payload["divergence"] = div.to_dict()
    if as_json:
        print_json(payload)
        return
    for rows, cols, title in tables:
        echo_table(rows, cols, style, title)
    for line in out_lines:
        echo(line)
    if averages is not None:
        echo()
        averages.echo(style, name_a, name_b, arms)
    if div is not None:
        echo()
        echo_table([[c.name, c.before, c.after, c.change, interval(c.ci_low, c.ci_high),
                     "WORSE" if c.worse else ("better" if c.better else "–")]
                    for c in div.changes],
                   ["eval", name_a, name_b, "change", "CI", ""], style,
                   f"{loss_key}: {div.loss_before:.4g} → {div.loss_after:.4g}")
        if div.detected:
            echo(f"DIVERGENCE: {loss_key} improved while {', '.join(div.worsened)} "
                       "got worse")
        else:
            echo("no loss-vs-downstream divergence")


def _eval_keys(aio: Any, runs: Sequence[Any], named: Sequence[str], loss_key: str) -> list[str]:
    """The evals to read: those named (every compared run must have each), else the summary
    keys starting with ``eval`` that every compared run has."""
    summaries = [r.summary for r in runs]
    if not named:
        return list(aio.eval_keys(summaries, loss_key))
    for key in named:
        lacking = [r.name for r in runs if aio.number(r.summary, key) is None]
        if lacking:
            raise UsageError(f"--eval {key!r}: no number under that key in the summary of "
                             f"{', '.join(lacking)}; name keys every compared run has "
                             "(`stepstone show RUN` lists its summary)")
    return list(dict.fromkeys(named))


class EvalAverages:
    """Each eval of both sides next to their average (:func:`stepstone.analysis.average_evals`).

    Only evals of one direction are averaged: when the evals mix scores (higher is better)
    with losses, errors or perplexities, the average covers the scores and the others are
    shown but left out of it (an average of an accuracy and a loss means nothing)."""

    def __init__(self, keys: Sequence[str], hib: Mapping[str, bool],
                 summaries_a: Sequence[Mapping[str, Any]],
                 summaries_b: Sequence[Mapping[str, Any]]) -> None:
        from stepstone.analysis import average_evals

        mixed = len(set(hib.values())) > 1
        self.averaged = [k for k in keys if hib[k] or not mixed]
        self.left_out = [k for k in keys if k not in self.averaged]
        self.sides = []  # per side: every eval's row, and the average (None: under 2 evals)
        for summaries in (summaries_a, summaries_b):
            values = {k: [float(s[k]) for s in summaries] for k in keys}
            avg = (average_evals({k: values[k] for k in self.averaged},
                                 name=f"average of {len(self.averaged)}")
                   if len(self.averaged) >= 2 else None)
            self.sides.append((average_evals(values), avg))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"averaged": self.averaged, "not_averaged": self.left_out}
        for side, (every, avg) in zip("ab", self.sides, strict=True):
            out[side] = {"rows": [r.to_dict() for r in every.rows],
                         "average": avg.average.to_dict() if avg else None,
                         "note": avg.note if avg else None}
        return out

    def echo(self, style: str, name_a: str, name_b: str, arms: bool) -> None:
        (every_a, avg_a), (every_b, avg_b) = self.sides
        pairs = list(zip(every_a.rows, every_b.rows, strict=True))
        if avg_a is not None and avg_b is not None:
            pairs.append((avg_a.average, avg_b.average))
        if arms:
            conf = f"{every_a.confidence:.0%} CI"
            rows = [[ra.name, ra.mean, interval(ra.ci_low, ra.ci_high), rb.mean,
                     interval(rb.ci_low, rb.ci_high), rb.mean - ra.mean] for ra, rb in pairs]
            cols = ["eval", "a mean", f"a {conf}", "b mean", f"b {conf}", "b − a"]
        else:
            rows = [[ra.name, ra.mean, rb.mean, rb.mean - ra.mean] for ra, rb in pairs]
            cols = ["eval", "a", "b", "b − a"]
        echo_table(rows, cols, style, f"Evals and their average (a = {name_a}, b = {name_b})")
        if arms and avg_a is not None and avg_b is not None:
            echo(f"average: {avg_a.note}" if avg_a.note == avg_b.note
                       else f"average: a: {avg_a.note}; b: {avg_b.note}")
        if self.left_out:
            echo(f"not in the average (lower is better): {', '.join(self.left_out)}")


# -- stratify ----------------------------------------------------------------------------------
@click.command("stratify")
@click.argument("run")
@click.option("--by", "by", multiple=True, metavar="FIELD",
              help="Bucket field (repeatable; default: every field of the records).")
@click.option("--against", metavar="REF", help="Set RUN against the reference run REF bucket "
              "by bucket (RUN − REF; better and worse are said of RUN).")
@click.option("--name", help="Eval set name (default: the run's only one, or 'eval').")
@click.option("--metric", help="Record key to score (default: score, else correct).")
@click.option("--lower-is-better", is_flag=True, help="Lower scores are better.")
@click.option("--min-count", type=int, default=30, show_default=True,
              help="Buckets with fewer examples are flagged thin.")
@table_option
@lab_option
@json_option
def stratify_cmd(run: str, by: tuple[str, ...], against: str | None, name: str | None,
                 metric: str | None, lower_is_better: bool, min_count: int, style: str,
                 lab: str | None, as_json: bool) -> None:
    """Per-bucket evaluation of a run's per-example records (from run.log_eval).

    Per bucket: count, mean, std, the 5th-percentile worst case and an interval; the
    weakest bucket is marked and thin buckets are flagged. With --against REF, RUN is set
    against the reference REF bucket by bucket (RUN − REF, paired on common example ids):
    a bucket where RUN is clearly worse is a regression.

    \b
    Example:
      stepstone stratify 3f9k2a1b --by difficulty
      stepstone stratify FEATURE_RUN --by length --against BASELINE_RUN --json
    """
    from stepstone.analysis import compare_buckets, stratify
    from stepstone.analysis.stratify import regression_text
    from stepstone.method import selection as aio
    from stepstone.store.lab import open_lab

    with open_lab(lab) as opened:
        recs = aio.eval_records(opened, run, name)
        recs_ref = aio.eval_records(opened, against, name) if against else None
    fields = list(by) or aio.bucket_fields(recs)
    if not fields:
        raise UsageError("the records carry no field to bucket by: log fields such as "
                         "'difficulty' with each record")
    hib = not lower_is_better
    if recs_ref is not None:  # a = the reference, b = RUN
        comp = compare_buckets(recs_ref, recs, fields, metric=metric, higher_is_better=hib)
        if as_json:
            print_json(comp.to_dict())
            return
        worst = comp.largest_regression
        rows = [[r.field, r.bucket, r.count_a, r.count_b, r.mean_a, r.mean_b, r.diff,
                 interval(r.ci_low, r.ci_high), "paired" if r.paired else "Welch",
                 ("**" + r.verdict + "**") if r is worst and style == "markdown" else r.verdict]
                for r in (*comp.rows, comp.overall)]
        echo_table(rows, ["field", "bucket", "n a (ref)", "n b (run)", "mean a", "mean b",
                          "b − a", f"{comp.confidence:.0%} CI", "test", "verdict"], style,
                   f"{comp.metric}: {run} (b) against {against} (a)")
        text = regression_text(comp, run, str(against))
        echo(f"regression: {text}" if text else f"no bucket where {run} is clearly "
                   f"worse than {against}")
        return
    rep = stratify(recs, fields, metric=metric, higher_is_better=hib, min_count=min_count)
    if as_json:
        print_json(rep.to_dict())
        return
    weak = rep.weakest

    def mark(b: Any) -> str:
        text = str(b.bucket)
        if weak is not None and b.field == weak.field and b.bucket == weak.bucket:
            return f"**{text}** (weakest)" if style == "markdown" else f"{text} (weakest)"
        return text + (" (thin)" if b.thin else "")

    brows: list[list[Any]] = [[b.field, mark(b), b.count, b.mean, b.std, b.worst_5pct,
             interval(b.ci_low, b.ci_high)] for b in (*rep.buckets, rep.overall)]
    echo_table(brows, ["field", "bucket", "count", "mean", "std", "worst 5%",
                      f"{rep.confidence:.0%} CI"], style,
               f"{rep.metric} by {', '.join(fields)} ({len(recs)} examples)")
    for line in rep.findings:
        echo(f"- {line}")
