"""``stepstone fit | gain | compare | stratify | pareto | precision``: the analysis on a lab.

Tables are Markdown by default (paste into a paper or a PR), LaTeX with ``--table latex``;
``--json`` prints the analysis results as plain JSON. Lab reading lives in
:mod:`stepstone.analysis_io`; the numbers come from :mod:`stepstone.analysis`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from stepstone.cells import fmt, interval
from stepstone.cli.common import json_option, lab_option, print_json
from stepstone.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])
TABLE_STYLES = ("markdown", "latex")
FORMS = ("compute", "power", "chinchilla")


# -- tables ------------------------------------------------------------------------------------
_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "∞": r"$\infty$", "–": "--", "≥": r"$\geq$",
                  "≤": r"$\leq$", "±": r"$\pm$"}


def _latex(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def render_table(rows: Sequence[Sequence[Any]], columns: Sequence[str], style: str,
                 title: str = "") -> str:
    """Rows as a Markdown table (numbers right-aligned) or a LaTeX booktabs tabular."""
    cells = [[c if isinstance(c, str) else fmt(c) for c in row] for row in rows]
    numeric = [all(_numberlike(r[i]) for r in cells) and bool(cells) for i in range(len(columns))]
    if style == "latex":
        spec = "".join("r" if n else "l" for n in numeric)
        lines = []
        if title:
            lines.append(f"% {title}")
        lines += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
                  " & ".join(_latex(c) for c in columns) + r" \\", r"\midrule"]
        lines += [" & ".join(_latex(c) for c in row) + r" \\" for row in cells]
        lines += [r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines)
    lines = [f"**{title}**", ""] if title else []
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("| " + " | ".join("---:" if n else "---" for n in numeric) + " |")
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines)


def _numberlike(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == "–"
    return True


def _echo_table(rows: Sequence[Sequence[Any]], columns: Sequence[str], style: str,
                title: str = "") -> None:
    click.echo(render_table(rows, columns, style, title))
    click.echo()


def table_option(func: F) -> F:
    return click.option("--table", "--format", "style", type=click.Choice(TABLE_STYLES),
                        default="markdown", show_default=True,
                        help="Table style: Markdown, or LaTeX (booktabs) for a paper.")(func)


def selection_options(func: F) -> F:
    """``--question/--baseline/--tag/--project/--run``: which runs to read."""
    for opt in reversed((
        click.option("--question", help="Runs of this question."),
        click.option("--baseline", help="Runs of this baseline."),
        click.option("--tag", help="Runs with this tag."),
        click.option("--project", help="Runs of this project."),
        click.option("--run", "run_refs", multiple=True, metavar="ID",
                     help="This run (repeatable)."),
    )):
        func = opt(func)
    return func


def _hib(metric: str, flag: bool | None) -> bool:
    """Higher is better unless told, or unless the metric is a loss/perplexity/error."""
    if flag is not None:
        return flag
    low = metric.lower()
    return not any(w in low for w in ("loss", "perplexity", "ppl", "error", "latency"))


# -- fit ---------------------------------------------------------------------------------------
@click.command("fit")
@selection_options
@click.option("--form", type=click.Choice(FORMS), default="compute", show_default=True,
              help="compute: E + A·C^-α; power: a·C^b; chinchilla: E + A/N^α + B/D^β.")
@click.option("--metric", default="val_loss", show_default=True, help="Summary key of the loss.")
@click.option("--from", "from_file", metavar="FILE", help="Read points from a .csv/.parquet "
              "file instead of the lab (one row per run).")
@click.option("--n-col", default="n_params", show_default=True, help="File column of N.")
@click.option("--d-col", default="tokens", show_default=True, help="File column of D.")
@click.option("--c-col", default="flops", show_default=True,
              help="File column of C (6·N·D when absent).")
@click.option("--loss-col", default="loss", show_default=True, help="File column of the loss.")
@click.option("--bootstrap", "n_bootstrap", type=int, default=1000, show_default=True,
              help="Bootstrap refits for the intervals.")
@click.option("--holdout", type=int, default=None,
              help="Largest-compute runs held out for the extrapolation check "
                   "(default: about a fifth; 0: off).")
@click.option("--label", help="Name to store the fit under (default: its source).")
@click.option("--budget", type=float, help="Chinchilla: print the compute-optimal N, D and "
              "loss at this FLOPs budget.")
@click.option("--no-save", is_flag=True, help="Do not store the fit in the lab.")
@table_option
@lab_option
@json_option
def fit_cmd(question: str | None, baseline: str | None, tag: str | None, project: str | None,
            run_refs: tuple[str, ...], form: str, metric: str, from_file: str | None,
            n_col: str, d_col: str, c_col: str, loss_col: str, n_bootstrap: int,
            holdout: int | None, label: str | None, budget: float | None, no_save: bool,
            style: str, lab: str | None, as_json: bool) -> None:
    """Fit a scaling law to finished runs (N, D, C and the loss from their summaries).

    Runs give `n_params`, `tokens` and `flops` (else C = 6·N·D) in their summary, and the
    loss under --metric. Prints the parameters with bootstrap intervals, the residuals and
    the held-out extrapolation error, and stores the fit (its id is printed) for
    `stepstone gain --baseline-fit`. --baseline B alone fits B's own runs (kind baseline)
    when it has any, as `decide` does, not the feature runs that name B.

    \b
    Example:
      stepstone fit --baseline transformer-v1 --form chinchilla --budget 1e21
      stepstone fit --question q3 --metric val_loss --label base-law --json
      stepstone fit --from ladder.csv --n-col N --d-col D --loss-col loss --form chinchilla
    """
    from stepstone import analysis_io as aio
    from stepstone.store.lab import open_lab

    if budget is not None and form != "chinchilla":
        raise UsageError("--budget needs --form chinchilla (an (N, D) law)")
    need_nd = form == "chinchilla"
    if from_file:
        points = aio.points_from_file(from_file, n_col=n_col, d_col=d_col, c_col=c_col,
                                      loss_col=loss_col, need_nd=need_nd)
        source = f"file:{from_file}"
        run_ids: list[str] = []
    if from_file and no_save:
        fit = _fit_or_refuse(aio, points, form, n_bootstrap, holdout)
        fit_id = None
    else:
        with open_lab(lab) as opened:
            if not from_file:
                sel = aio.select_runs(opened, question=question, baseline=baseline, tag=tag,
                                      project=project, run_ids=run_refs)
                if baseline and not (question or tag or run_refs):
                    _own_runs_only(opened, sel, baseline)
                points = aio.scaling_points(sel, metric, need_nd=need_nd)
                source = sel.source
                run_ids = points.labels
            _refuse_empty(points, metric)
            fit = _fit_or_refuse(aio, points, form, n_bootstrap, holdout)
            fit_id = None if no_save else opened.save_fit(
                label=label or source, form=form, source=source, run_ids=run_ids,
                flops_method=fit.flops_method, result=fit.to_dict())
    optimal = fit.compute_optimal(budget) if budget is not None else None
    skipped = [{"run": r, "reason": why} for r, why in points.skipped]
    if as_json:
        print_json({"fit_id": fit_id, "label": label or source, "source": source,
                    "run_ids": run_ids, "skipped": skipped, "fit": fit.to_dict(),
                    "compute_optimal": optimal.to_dict() if optimal else None})
        return
    click.echo(f"{fit.form} law {fit.formula} fitted to {fit.n_points} runs ({source}); "
               f"FLOPs: {fit.flops_method}")
    if points.skipped:
        click.echo(aio.Selection("", [], points.skipped).skipped_line())
    click.echo()
    pct = f"{fit.confidence:.0%}"
    _echo_table([[p.name, p.value, interval(p.ci_low, p.ci_high), p.std_error]
                 for p in fit.params],
                ["parameter", "value", f"{pct} CI", "bootstrap se"], style,
                f"Parameters ({fit.n_bootstrap} bootstrap refits, "
                f"{fit.n_bootstrap_failed} failed)")
    rows = []
    for i, lab_ in enumerate(points.labels):
        rows.append([lab_[:10], points.n[i] if points.n else None,
                     points.d[i] if points.d else None, points.compute[i],
                     fit.loss[i], fit.fitted[i], fit.residuals[i]])
    _echo_table(rows, ["run", "N", "D", "C", "loss", "fitted", "residual (log)"], style,
                f"Residuals (rmse of log loss {fit.rmse_log:.3g})")
    if fit.holdout is not None:
        h = fit.holdout
        _echo_table([[c, o, p, e] for c, o, p, e in zip(h.compute, h.observed, h.predicted,
                                                        h.relative_error, strict=True)],
                    ["C", "observed", "predicted", "relative error"], style,
                    f"Held-out extrapolation: {fit.holdout_note}; mean |error| "
                    f"{h.mean_abs_relative_error:.2%}, max {h.max_abs_relative_error:.2%}")
    else:
        click.echo(fit.holdout_note)
    if optimal is not None:
        _echo_table([["N (parameters)", optimal.n, interval(*optimal.n_ci)],
                     ["D (tokens)", optimal.d, interval(*optimal.d_ci)],
                     ["loss", optimal.loss, interval(*optimal.loss_ci)],
                     ["tokens per parameter", optimal.tokens_per_param, "–"]],
                    ["compute-optimal", "value", f"{pct} CI"], style,
                    f"Compute-optimal at C = {optimal.compute:.3g} FLOPs")
    if fit_id is not None:
        click.echo(f"fit id: {fit_id}  (label {label or source!r})")


def _fit_or_refuse(aio: Any, points: Any, form: str, n_bootstrap: int,
                   holdout: int | None) -> Any:
    """Fit, or re-raise the analysis's refusal with the skipped runs said on the same line."""
    from stepstone.errors import AnalysisError

    try:
        return aio.fit_points(points, form, n_bootstrap=n_bootstrap, holdout=holdout)
    except AnalysisError as exc:
        skipped = aio.Selection("", [], points.skipped).skipped_line()
        if not skipped:
            raise
        raise AnalysisError(f"{exc} ({skipped})") from exc


def _refuse_empty(points: Any, metric: str) -> None:
    from stepstone.errors import AnalysisError

    if len(points) == 0:
        why = "; ".join(sorted({r for _, r in points.skipped})) or "none selected"
        raise AnalysisError(f"no usable runs to fit ({why})")


# -- gain --------------------------------------------------------------------------------------
@click.command("gain")
@click.option("--baseline-fit", "fit_ref", metavar="FIT",
              help="A stored fit's id or label (from `stepstone fit`).")
@click.option("--baseline", "baseline_name",
              help="Fit this baseline's runs on the fly instead (see --form).")
@click.option("--form", type=click.Choice(FORMS), default="compute", show_default=True,
              help="Law to fit with --baseline.")
@click.option("--question", help="Feature runs of this question.")
@click.option("--tag", help="Feature runs with this tag.")
@click.option("--project", help="Feature runs of this project.")
@click.option("--run", "run_refs", multiple=True, metavar="ID", help="A feature run (repeatable).")
@click.option("--metric", default="val_loss", show_default=True, help="Summary key of the loss.")
@click.option("--same-size", is_flag=True, help="(N, D) baselines: compare each run with the "
              "baseline at its own model size instead of the compute-optimal frontier.")
@click.option("--tolerance", type=float, default=0.1, show_default=True,
              help="Trend within ±this per decade of compute counts as stable.")
@click.option("--bootstrap", "n_bootstrap", type=int, default=1000, show_default=True,
              help="Bootstrap refits when fitting with --baseline.")
@table_option
@lab_option
@json_option
def gain_cmd(fit_ref: str | None, baseline_name: str | None, form: str, question: str | None,
             tag: str | None, project: str | None, run_refs: tuple[str, ...], metric: str,
             same_size: bool, tolerance: float, n_bootstrap: int, style: str, lab: str | None,
             as_json: bool) -> None:
    """Compute-efficiency gain of feature runs over a baseline's fitted law.

    Feature runs are grouped by rung (config `rung`, else `n_params`, else `flops`) and the
    seeds at a rung averaged, as `stepstone decide` does. For each rung the gain is the
    compute the baseline law needs to reach its loss divided by the compute it spent, with an
    interval from the baseline's bootstrap refits; then the verdict on how the gain moves
    with scale (rising, stable, falling, inconclusive), and gain(C) when a compute law fitted
    to the feature runs has another exponent than the baseline's. --baseline B fits B's own
    runs (kind baseline) when it has any, as `decide` does; a FLOPs estimate that differs
    between the feature runs and the baseline is warned about on stderr.

    \b
    Example:
      stepstone gain --baseline-fit base-law --question q3
      stepstone gain --baseline transformer-v1 --tag swiglu --json
    """
    from stepstone import analysis_io as aio
    from stepstone.errors import AnalysisError
    from stepstone.method import evidence as ev
    from stepstone.store.lab import open_lab

    if (fit_ref is None) == (baseline_name is None):
        raise UsageError("give one of --baseline-fit FIT (a stored fit) or --baseline B")
    with open_lab(lab) as opened:
        sel = aio.select_runs(opened, question=question, tag=tag, project=project,
                              run_ids=run_refs, finished_only=False)
        rungs = ev.feature_rungs(opened, sel.runs, metric, sel.source, need_nd=same_size)
        if fit_ref is not None:
            stored = aio.find_fit(opened, fit_ref)
            base = aio.fit_from_stored(stored)
            base_desc = f"fit {stored['id']} ({stored['label']})"
        else:
            assert baseline_name is not None
            base, base_desc = _baseline_law(opened, baseline_name, {r.id for r in sel.runs},
                                            metric, form, n_bootstrap)
    if not rungs.labels:
        raise AnalysisError("no usable feature runs: " + aio.Selection(
            "", [], list(rungs.skipped)).skipped_line())
    result = ev.rungs_gain(base, rungs, tolerance=tolerance, same_size=same_size)
    curve, curve_note = _gain_curve(base, rungs, n_bootstrap)
    skipped = [{"run": r, "reason": why} for r, why in rungs.skipped]
    for line in result.warnings:
        click.echo(f"WARNING: {line}", err=True)
    if as_json:
        print_json({"baseline": base_desc, "skipped": skipped,
                    "rungs": [{"rung": k, "runs": list(ids)}
                              for k, ids in zip(rungs.labels, rungs.run_ids, strict=True)],
                    "gain": result.to_dict(),
                    "gain_curve": curve.to_dict() if curve is not None else None,
                    "gain_curve_note": curve_note})
        return
    click.echo(f"baseline: {base_desc}; comparison: {result.comparison}; seeds at a rung "
               "are averaged")
    if rungs.skipped:
        click.echo(aio.Selection("", [], list(rungs.skipped)).skipped_line())
    click.echo()
    rows = [[r.label[:12], len(ids), r.compute, r.loss, r.compute_predicted,
             r.gain if r.defined else "undefined", interval(r.ci_low, r.ci_high)
             if r.defined else "–", r.note] for r, ids in zip(result.rungs, rungs.run_ids,
                                                              strict=True)]
    _echo_table(rows, ["rung", "runs", "C", "loss", "baseline C for loss", "gain",
                       f"{result.confidence:.0%} CI", "note"], style, "Gain per rung")
    t = result.trend
    click.echo(f"trend: {t.verdict.upper()} — slope of ln(gain) per decade "
               f"{fmt(t.slope_per_decade)} {interval(t.ci_low, t.ci_high)} over {t.n_rungs} "
               f"rung(s). {t.explanation}")
    if curve is not None and curve.exponents_differ:
        click.echo()
        _echo_table([[p.compute, p.loss, p.gain if p.gain is not None else "undefined",
                      interval(p.ci_low, p.ci_high), p.note] for p in curve.points],
                    ["C", "feature law loss", "gain(C)", f"{curve.confidence:.0%} CI", "note"],
                    style, f"gain(C): {curve.note}")
    else:
        click.echo(f"gain(C): {curve_note}")


def _own_runs_only(lab: Any, sel: Any, baseline: str) -> None:
    """Keep the baseline's own runs (kind ``baseline``) when it has any, as ``decide`` fits
    them: feature runs that name it are not the baseline."""
    from stepstone.method import evidence as ev

    own = {r.id for r in ev.baseline_runs(lab, baseline)}
    if own:
        sel.runs = [r for r in sel.runs if r.id in own]
        sel.source += " (its own runs, kind baseline)"


def _baseline_law(lab: Any, name: str, feature_ids: set[str], metric: str, form: str,
                  n_bootstrap: int) -> tuple[Any, str]:
    """The law of baseline ``name``: fitted to its own runs (kind ``baseline``), as ``decide``
    fits it, when it has any; else to the runs naming it that are not feature runs."""
    from stepstone import analysis_io as aio
    from stepstone.errors import AnalysisError
    from stepstone.method import evidence as ev

    if ev.baseline_runs(lab, name):
        law = ev.baseline_law(lab, name, metric=metric, form=form, n_bootstrap=n_bootstrap)
        if law.fit is None:
            raise AnalysisError(str(law.reason))
        return law.fit, (f"{form} law fitted to the {law.fit.n_points} runs of baseline "
                         f"{name} (its own runs, kind baseline)")
    bsel = aio.select_runs(lab, baseline=name)
    bsel.runs = [r for r in bsel.runs if r.id not in feature_ids]
    bpoints = aio.scaling_points(bsel, metric, need_nd=form == "chinchilla")
    _refuse_empty(bpoints, metric)
    fit = aio.fit_points(bpoints, form, n_bootstrap=n_bootstrap, holdout=0)
    return fit, f"{form} law fitted to {fit.n_points} runs of baseline {name}"


def _gain_curve(base: Any, rungs: Any, n_bootstrap: int) -> tuple[Any, str]:
    """gain(C) of the feature runs' own compute law against the baseline law over the rungs'
    compute (None and why not when the feature runs cannot carry a law)."""
    from stepstone import analysis_io as aio
    from stepstone.analysis import gain_curve
    from stepstone.errors import AnalysisError

    try:
        new = aio.fit_points(rungs.points, "compute", n_bootstrap=n_bootstrap, holdout=0)
    except AnalysisError as exc:
        return None, f"not computed: no compute law fits the feature runs ({exc})"
    curve = gain_curve(base, new, rungs.compute)
    return curve, curve.note


# -- compare -----------------------------------------------------------------------------------
@click.command("compare")
@click.argument("runs", nargs=-1)
@click.option("--a-tag", help="Arm A: runs with this tag (matched to arm B by seed).")
@click.option("--b-tag", help="Arm B: runs with this tag.")
@click.option("--metric", default="val_loss", show_default=True, help="Summary key to compare.")
@click.option("--higher-is-better/--lower-is-better", "higher", default=None,
              help="Direction of --metric (default: lower for loss/error/latency).")
@click.option("--loss-key", default="val_loss", show_default=True,
              help="The loss for the loss-vs-downstream divergence check.")
@click.option("--eval", "evals", multiple=True, metavar="KEY",
              help="Downstream eval keys for the divergence check (default: summary keys "
                   "starting with 'eval').")
@table_option
@lab_option
@json_option
def compare_cmd(runs: tuple[str, ...], a_tag: str | None, b_tag: str | None, metric: str,
                higher: bool | None, loss_key: str, evals: tuple[str, ...], style: str,
                lab: str | None, as_json: bool) -> None:
    """Compare run B with run A, or arm B with arm A on the same seeds.

    With two runs: the metric of each and the difference. With --a-tag/--b-tag: the paired
    comparison over common seeds, each arm's seed variance and the minimum detectable
    effect. Both: whether the validation loss improved while a downstream eval got worse.

    \b
    Example:
      stepstone compare 3f9k2a1b 7c1d0e2f --metric val_loss
      stepstone compare --a-tag baseline --b-tag swiglu --metric eval/accuracy --json
    """
    from stepstone import analysis_io as aio
    from stepstone.analysis import (
        loss_eval_divergence,
        minimum_detectable_effect,
        paired_comparison,
        seed_variance,
    )
    from stepstone.errors import AnalysisError
    from stepstone.store.lab import open_lab

    arms = a_tag is not None or b_tag is not None
    if arms and (runs or a_tag is None or b_tag is None):
        raise UsageError("give two runs, or both --a-tag and --b-tag (not both forms)")
    if not arms and len(runs) != 2:
        raise UsageError("give two runs (RUN_A RUN_B), or --a-tag and --b-tag")
    hib = _hib(metric, higher)
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
        summaries_a = [r.summary for r in run_a]
        summaries_b = [r.summary for r in run_b]
    else:
        a, b = run_a[0], run_b[0]
        xa, xb = aio.number(a.summary, metric), aio.number(b.summary, metric)
        if xa is None or xb is None:
            missing = a.name if xa is None else b.name
            raise AnalysisError(f"run {missing} has no {metric!r} in its summary")
        better = (xb > xa) == hib if xb != xa else None
        payload.update(value_a=xa, value_b=xb, diff=xb - xa,
                       b_better=better, note="one run per arm: no interval; compare arms over "
                       "seeds with --a-tag/--b-tag")
        tables = [([[name_a, xa, "–"], [name_b, xb, xb - xa]], ["run", metric, "b − a"],
                   f"{metric} ({'higher' if hib else 'lower'} is better)")]
        out_lines.append("one run per side: no interval; to test a difference compare arms "
                         "over seeds with --a-tag/--b-tag")
        summaries_a, summaries_b = [a.summary], [b.summary]
    both = [*summaries_a, *summaries_b]
    keys = [k for k in (list(evals) or aio.eval_keys(both, loss_key))
            if all(aio.number(s, k) is not None for s in both)]
    div = None
    if keys and all(aio.number(s, loss_key) is not None for s in both):
        before = {k: [float(s[k]) for s in summaries_a] for k in (loss_key, *keys)}
        after = {k: [float(s[k]) for s in summaries_b] for k in (loss_key, *keys)}
        div = loss_eval_divergence(before, after, loss_key=loss_key, labels=(name_a, name_b))
        payload["divergence"] = div.to_dict()
    if as_json:
        print_json(payload)
        return
    for rows, cols, title in tables:
        _echo_table(rows, cols, style, title)
    for line in out_lines:
        click.echo(line)
    if div is not None:
        click.echo()
        _echo_table([[c.name, c.before, c.after, c.change, interval(c.ci_low, c.ci_high),
                      "WORSE" if c.worse else ("better" if c.better else "–")]
                     for c in div.changes],
                    ["eval", name_a, name_b, "change", "CI", ""], style,
                    f"{loss_key}: {div.loss_before:.4g} → {div.loss_after:.4g}")
        if div.detected:
            click.echo(f"DIVERGENCE: {loss_key} improved while {', '.join(div.worsened)} "
                       "got worse")
        else:
            click.echo("no loss-vs-downstream divergence")


# -- stratify ----------------------------------------------------------------------------------
@click.command("stratify")
@click.argument("run")
@click.option("--by", "by", multiple=True, metavar="FIELD",
              help="Bucket field (repeatable; default: every field of the records).")
@click.option("--against", metavar="RUN_B", help="Compare RUN_B with RUN bucket by bucket.")
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
    weakest bucket is marked and thin buckets are flagged. With --against, RUN_B is set
    against RUN bucket by bucket (paired on common example ids).

    \b
    Example:
      stepstone stratify 3f9k2a1b --by difficulty
      stepstone stratify 3f9k2a1b --by length --against 7c1d0e2f --json
    """
    from stepstone import analysis_io as aio
    from stepstone.analysis import compare_buckets, stratify
    from stepstone.store.lab import open_lab

    with open_lab(lab) as opened:
        recs = aio.eval_records(opened, run, name)
        recs_b = aio.eval_records(opened, against, name) if against else None
    fields = list(by) or aio.bucket_fields(recs)
    if not fields:
        raise UsageError("the records carry no field to bucket by: log fields such as "
                         "'difficulty' with each record")
    hib = not lower_is_better
    if recs_b is not None:
        comp = compare_buckets(recs, recs_b, fields, metric=metric, higher_is_better=hib)
        if as_json:
            print_json(comp.to_dict())
            return
        worst = comp.largest_regression
        rows = [[r.field, r.bucket, r.count_a, r.count_b, r.mean_a, r.mean_b, r.diff,
                 interval(r.ci_low, r.ci_high), "paired" if r.paired else "Welch",
                 ("**" + r.verdict + "**") if r is worst and style == "markdown" else r.verdict]
                for r in (*comp.rows, comp.overall)]
        _echo_table(rows, ["field", "bucket", "n a", "n b", "mean a", "mean b", "b − a",
                           f"{comp.confidence:.0%} CI", "test", "verdict"], style,
                    f"{comp.metric}: {against} against {run}")
        if worst is not None:
            click.echo(f"largest regression: {worst.field}={worst.bucket} "
                       f"({worst.diff:+.4g})")
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
    _echo_table(brows, ["field", "bucket", "count", "mean", "std", "worst 5%",
                       f"{rep.confidence:.0%} CI"], style,
                f"{rep.metric} by {', '.join(fields)} ({len(recs)} examples)")
    for line in rep.findings:
        click.echo(f"- {line}")


# -- pareto ------------------------------------------------------------------------------------
@click.command("pareto")
@selection_options
@click.option("--quality", required=True, help="Summary key of quality, e.g. eval/accuracy.")
@click.option("--cost", "costs", multiple=True, required=True,
              help="Summary key of a cost, minimised (repeatable), e.g. latency_ms.")
@click.option("--minimize-quality", is_flag=True, help="Lower quality is better (a loss).")
@click.option("--constraint", "constraints", multiple=True, metavar="RULE",
              help="Hard constraint 'metric op number' (repeatable), e.g. 'latency_ms <= 100'.")
@table_option
@lab_option
@json_option
def pareto_cmd(question: str | None, baseline: str | None, tag: str | None,
               project: str | None, run_refs: tuple[str, ...], quality: str,
               costs: tuple[str, ...], minimize_quality: bool, constraints: tuple[str, ...],
               style: str, lab: str | None, as_json: bool) -> None:
    """Quality against cost: the Pareto frontier of finished runs (from their summaries).

    Runs breaking a constraint or lacking a metric are disqualified, with the reason.

    \b
    Example:
      stepstone pareto --project distill --quality eval/accuracy --cost latency_ms
      stepstone pareto --tag quant --quality eval/accuracy --cost latency_ms \\
        --constraint "latency_ms <= 100" --json
    """
    from stepstone import analysis_io as aio
    from stepstone.analysis import pareto_front
    from stepstone.store.lab import open_lab

    with open_lab(lab) as opened:
        sel = aio.select_runs(opened, question=question, baseline=baseline, tag=tag,
                              project=project, run_ids=run_refs)
    res = pareto_front(aio.run_rows(sel.runs), quality=quality, cost=list(costs),
                       maximize=not minimize_quality, constraints=list(constraints))
    if as_json:
        print_json({"skipped": [{"run": r, "reason": w} for r, w in sel.skipped],
                    "pareto": res.to_dict()})
        return
    names = {r.id: r.name for r in sel.runs}
    rows: list[list[Any]] = [[p.rank, p.id[:10], names.get(p.id, ""), p.quality,
             *[p.costs.get(c) for c in costs], "yes" if p.on_front else "",
             (p.dominated_by or "")[:10]] for p in res.ranked]
    _echo_table(rows, ["rank", "run", "name", quality, *costs, "on front", "dominated by"],
                style, f"{len(res.front)} of {len(res.ranked)} qualified runs on the frontier")
    for d in res.disqualified:
        click.echo(f"- disqualified {d.id[:10]} ({names.get(d.id, '')}): {'; '.join(d.reasons)}")
    if sel.skipped:
        click.echo(sel.skipped_line())


# -- precision ---------------------------------------------------------------------------------
@click.command("precision")
@click.argument("path", metavar="FILE.npy")
@click.option("--format", "formats", multiple=True,
              help="Number format to check (repeatable): fp16, bf16, fp8_e4m3, fp8_e5m2, "
                   "int8, int8_per_channel (default: all).")
@click.option("--channel-axis", type=int, default=0, show_default=True,
              help="Axis of the per-channel int8 scales.")
@click.option("--table", "style", type=click.Choice(TABLE_STYLES), default="markdown",
              show_default=True, help="Table style: Markdown, or LaTeX for a paper.")
@json_option
def precision_cmd(path: str, formats: tuple[str, ...], channel_axis: int, style: str,
                  as_json: bool) -> None:
    """What low-precision formats do to an array saved with numpy (weights, activations).

    Percentile ranges of the values, and per format the fraction that overflows,
    underflows or loses precision, the mean relative error and the SQNR.

    \b
    Example:
      stepstone precision layer3_weights.npy
      stepstone precision acts.npy --format fp16 --format bf16 --format fp8_e4m3 --json
    """
    from stepstone import analysis_io as aio
    from stepstone.analysis import precision_report
    from stepstone.analysis.precision import FORMATS

    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise UsageError(f"unknown format {', '.join(bad)}: use {', '.join(FORMATS)}")
    values = aio.load_array(path)
    chosen = list(formats) or [f for f in FORMATS  # per-channel needs channels
                               if values.ndim >= 2 or f != "int8_per_channel"]
    rep = precision_report(values, formats=chosen, channel_axis=channel_axis)
    if as_json:
        print_json({"file": path, "shape": list(values.shape), "report": rep.to_dict()})
        return
    click.echo(f"{path}: {rep.n_values} values, shape {tuple(values.shape)}, absmax "
               f"{rep.absmax:.4g}, mean {rep.mean:.4g}, std {rep.std:.4g}, {rep.n_zero} zeros")
    for r in rep.ranges:
        click.echo(f"  p{r.low_pct:g}–p{r.high_pct:g}: [{r.low:.4g}, {r.high:.4g}]")
    click.echo()
    _echo_table([[f.format, f"{f.overflow_fraction:.3%}", f"{f.underflow_fraction:.3%}",
                  f"{f.precision_loss_fraction:.3%}", f.mean_relative_error, f.sqnr_db,
                  f.detail] for f in rep.formats],
                ["format", "overflow", "underflow", "precision loss", "mean rel. error",
                 "SQNR (dB)", "detail"], style, "Precision report")
