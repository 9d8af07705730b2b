"""``stepstone fit`` and ``stepstone gain``: scaling laws of a lab's runs, and the
compute-efficiency gain of feature runs over a baseline's law.

Lab reading lives in :mod:`stepstone.method.selection`; the numbers come from
:mod:`stepstone.analysis`; tables from :mod:`stepstone.cli.analysis_common`.
"""

from __future__ import annotations

from typing import Any

import click

from stepstone.cli.analysis_common import echo_table, selection_options, table_option
from stepstone.cli.common import echo, json_option, lab_option, print_json
from stepstone.display import fmt, interval
from stepstone.errors import UsageError

FORMS = ("compute", "power", "chinchilla")


# -- fit ---------------------------------------------------------------------------------------
@click.command("fit")
@selection_options
@click.option("--form", type=click.Choice(FORMS), default="compute", show_default=True,
              help="compute: E + A·C^-α; power: a·C^b; chinchilla: E + A/N^α + B/D^β.")
@click.option("--metric", default=None, help="Summary key of the loss (default: the question's "
              "metric, else the baseline's reference metric, else val_loss).")
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
            run_refs: tuple[str, ...], form: str, metric: str | None, from_file: str | None,
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
    from stepstone.cli import inputs
    from stepstone.method import selection as aio

    if budget is not None and form != "chinchilla":
        raise UsageError("--budget needs --form chinchilla (an (N, D) law)")
    need_nd = form == "chinchilla"
    if from_file:
        points = inputs.points_from_file(from_file, n_col=n_col, d_col=d_col, c_col=c_col,
                                      loss_col=loss_col, need_nd=need_nd)
        source = f"file:{from_file}"
        run_ids: list[str] = []
    if from_file and no_save:
        fit = _fit_or_refuse(aio, points, form, n_bootstrap, holdout)
        fit_id = None
    else:
        from stepstone.store.lab import open_lab  # not for a file's fit left unsaved

        with open_lab(lab) as opened:
            if not from_file:
                baseline, metric = _version_and_metric(opened, baseline, question, metric)
                sel = aio.select_runs(opened, question=question, baseline=baseline, tag=tag,
                                      project=project, run_ids=run_refs)
                if baseline and not (question or tag or run_refs):
                    _own_runs_only(opened, sel, baseline)
                points = aio.scaling_points(sel, metric, need_nd=need_nd)
                source = sel.source
                run_ids = points.labels
            _refuse_empty(points, metric or loss_col)
            fit = _fit_or_refuse(aio, points, form, n_bootstrap, holdout)
            fit_id = None if no_save else opened.save_fit(
                label=label or source, form=form, source=source, run_ids=run_ids,
                flops_method=fit.flops_method,
                result={**fit.to_dict(), "metric": metric or loss_col})
    optimal = fit.compute_optimal(budget) if budget is not None else None
    skipped = [{"run": r, "reason": why} for r, why in points.skipped]
    if as_json:
        print_json({"fit_id": fit_id, "label": label or source, "source": source,
                    "run_ids": run_ids, "skipped": skipped, "fit": fit.to_dict(),
                    "compute_optimal": optimal.to_dict() if optimal else None})
        return
    echo(f"{fit.form} law {fit.formula} fitted to {fit.n_points} runs ({source}); "
               f"FLOPs: {fit.flops_method}")
    if points.skipped:
        echo(aio.Selection("", [], points.skipped).skipped_line())
    echo()
    pct = f"{fit.confidence:.0%}"
    echo_table([[p.name, p.value, interval(p.ci_low, p.ci_high), p.std_error]
                for p in fit.params],
               ["parameter", "value", f"{pct} CI", "bootstrap se"], style,
               f"Parameters ({fit.n_bootstrap} bootstrap refits, "
               f"{fit.n_bootstrap_failed} failed)")
    rows = []
    for i, lab_ in enumerate(points.labels):
        rows.append([lab_[:10], points.n[i] if points.n else None,
                     points.d[i] if points.d else None, points.compute[i],
                     fit.loss[i], fit.fitted[i], fit.residuals[i]])
    echo_table(rows, ["run", "N", "D", "C", "loss", "fitted", "residual (log)"], style,
               f"Residuals (rmse of log loss {fit.rmse_log:.3g})")
    if fit.holdout is not None:
        h = fit.holdout
        echo_table([[c, o, p, e] for c, o, p, e in zip(h.compute, h.observed, h.predicted,
                                                       h.relative_error, strict=True)],
                   ["C", "observed", "predicted", "relative error"], style,
                   f"Held-out extrapolation: {fit.holdout_note}; mean |error| "
                   f"{h.mean_abs_relative_error:.2%}, max {h.max_abs_relative_error:.2%}")
    else:
        echo(fit.holdout_note)
    if optimal is not None:
        echo_table([["N (parameters)", optimal.n, interval(*optimal.n_ci)],
                    ["D (tokens)", optimal.d, interval(*optimal.d_ci)],
                    ["loss", optimal.loss, interval(*optimal.loss_ci)],
                    ["tokens per parameter", optimal.tokens_per_param, "–"]],
                   ["compute-optimal", "value", f"{pct} CI"], style,
                   f"Compute-optimal at C = {optimal.compute:.3g} FLOPs")
    if fit_id is not None:
        echo(f"fit id: {fit_id}  (label {label or source!r})")


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
@click.option("--metric", default=None, help="Summary key of the loss (default: the stored "
              "fit's, else the question's metric, else the baseline's reference metric, else "
              "val_loss).")
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
             tag: str | None, project: str | None, run_refs: tuple[str, ...],
             metric: str | None, same_size: bool, tolerance: float, n_bootstrap: int,
             style: str, lab: str | None, as_json: bool) -> None:
    """Compute-efficiency gain of feature runs over a baseline's fitted law.

    Feature runs are grouped by rung (config `rung`, else `n_params`, else `flops`) and the
    seeds at a rung averaged, as `stepstone decide` does. For each rung the gain is the
    compute the baseline law needs to reach its loss divided by the compute it spent, with an
    interval that carries the baseline's bootstrap refits and the rung's seed noise (its
    seeds' spread; one seed: the noise floor of --baseline B); then the verdict on how the
    gain moves with scale (rising, stable, falling, inconclusive), and gain(C) when a compute
    law fitted to the feature runs has another exponent than the baseline's. --baseline B
    fits B's own runs (kind baseline) when it has any, as `decide` does; a FLOPs estimate
    that differs between the feature runs and the baseline is warned about on stderr.

    \b
    Example:
      stepstone gain --baseline-fit base-law --question q3
      stepstone gain --baseline transformer-v1 --tag swiglu --json
    """
    from stepstone.errors import AnalysisError
    from stepstone.method import evidence as ev
    from stepstone.method import selection as aio
    from stepstone.store.lab import open_lab

    if (fit_ref is None) == (baseline_name is None):
        raise UsageError("give one of --baseline-fit FIT (a stored fit) or --baseline B")
    with open_lab(lab) as opened:
        stored = aio.find_fit(opened, fit_ref) if fit_ref is not None else None
        baseline_name, metric = _version_and_metric(
            opened, baseline_name, question,
            metric or (stored.result.get("metric") if stored else None))
        sel = aio.select_runs(opened, question=question, tag=tag, project=project,
                              run_ids=run_refs, finished_only=False)
        rungs = ev.feature_rungs(opened, sel.runs, metric, sel.source, need_nd=same_size,
                                 floor=ev.version_floor(opened, baseline_name, metric))
        if stored is not None:
            base = aio.fit_from_stored(stored)
            base_desc = f"fit {stored.id} ({stored.label})"
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
        echo(f"WARNING: {line}", err=True)
    if as_json:
        print_json({"baseline": base_desc, "skipped": skipped,
                    "rungs": [{"rung": k, "runs": list(ids)}
                              for k, ids in zip(rungs.labels, rungs.run_ids, strict=True)],
                    "gain": result.to_dict(),
                    "gain_curve": curve.to_dict() if curve is not None else None,
                    "gain_curve_note": curve_note})
        return
    echo(f"baseline: {base_desc}; comparison: {result.comparison}; seeds at a rung "
         "are averaged, their spread is its seed noise")
    if rungs.skipped:
        echo(aio.Selection("", [], list(rungs.skipped)).skipped_line())
    echo()
    rows = [[r.label[:12], len(ids), r.compute, r.loss, r.compute_predicted,
             r.gain if r.defined else "undefined", interval(r.ci_low, r.ci_high)
             if r.defined else "–", r.remarks]
            for r, ids in zip(result.rungs, rungs.run_ids, strict=True)]
    echo_table(rows, ["rung", "runs", "C", "loss", "baseline C for loss", "gain",
                      f"{result.confidence:.0%} CI", "note"], style, "Gain per rung")
    t = result.trend
    echo(f"trend: {t.verdict.upper()} — slope of ln(gain) per decade "
               f"{fmt(t.slope_per_decade)} {interval(t.ci_low, t.ci_high)} over {t.n_rungs} "
               f"rung(s). {t.explanation}")
    if curve is not None and curve.exponents_differ:
        echo()
        echo_table([[p.compute, p.loss, p.gain if p.gain is not None else "undefined",
                     interval(p.ci_low, p.ci_high), p.note] for p in curve.points],
                   ["C", "feature law loss", "gain(C)", f"{curve.confidence:.0%} CI", "note"],
                   style, f"gain(C): {curve.note}")
    else:
        echo(f"gain(C): {curve_note}")


def _version_and_metric(lab: Any, baseline: str | None, question: str | None,
                        metric: str | None) -> tuple[str | None, str]:
    """The baseline version ``--baseline`` names (a tier means its newest version, as for
    ``plan``, ``ladder`` and ``decide``) and the loss to read: ``metric`` when given, else
    the question's metric, else the baseline's reference metric, else ``val_loss``."""
    from stepstone.method import baselines as baseline_rules
    from stepstone.method import evidence as ev

    version = baseline_rules.named_version(lab, baseline) if baseline else None
    asked = lab.questions.get(question) if question else None
    measured = version or (baseline_rules.named_version(lab, asked.baseline)
                           if asked is not None and asked.baseline else None)
    return version, metric or ev.loss_metric(lab, asked, measured)


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
    from stepstone.errors import AnalysisError
    from stepstone.method import evidence as ev
    from stepstone.method import selection as aio

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
    from stepstone.analysis import gain_curve
    from stepstone.errors import AnalysisError
    from stepstone.method import selection as aio

    try:
        new = aio.fit_points(rungs.points, "compute", n_bootstrap=n_bootstrap, holdout=0)
    except AnalysisError as exc:
        return None, f"not computed: no compute law fits the feature runs ({exc})"
    curve = gain_curve(base, new, rungs.compute)
    return curve, curve.note
