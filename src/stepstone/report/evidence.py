"""The evidence of a report, gathered from a lab: the baseline's scaling fit, the question's
gain over it, and the stratified evaluation tables (from :mod:`stepstone.analysis`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from stepstone.display import finite
from stepstone.errors import StepstoneError
from stepstone.method import evidence as ev
from stepstone.method import selection as aio
from stepstone.report.model import (
    BucketDiffRow,
    BucketRow,
    FitInfo,
    GainInfo,
    GainRow,
    ParamRow,
    StratArm,
    StratInfo,
)
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord

CURVE_POINTS = 80


def _fit_info(law: ev.BaselineLaw, qgain: ev.QuestionGain) -> FitInfo:
    fit = law.fit
    if fit is None:
        return FitInfo(False, law.reason, law.source, law.metric, skipped=law.skipped)
    import numpy as np

    crange = ev.compute_range(fit)
    points_c: tuple[float, ...] = fit.compute or tuple(
        6.0 * n * d for n, d in zip(fit.n or (), fit.d or (), strict=True))
    lo, hi = crange if crange else (1.0, 10.0)
    feature_c = [r.compute for r in qgain.result.rungs] if qgain.result else []
    lo, hi = min([lo, *feature_c]), max([hi, *feature_c])
    grid = np.logspace(math.log10(lo) - 0.15, math.log10(hi) + 0.15, CURVE_POINTS)
    curve = _finite(fit.predict(grid))
    band_low: tuple[float, ...] = ()
    band_high: tuple[float, ...] = ()
    if fit.samples.shape[0] >= 2:
        low, high = fit.predict_interval(grid)
        band_low, band_high = _finite(low), _finite(high)
    h = fit.holdout
    return FitInfo(
        available=True, reason=None, source=law.source, metric=law.metric, form=fit.form,
        formula=fit.formula,
        params=tuple(ParamRow(p.name, p.value, finite(p.ci_low), finite(p.ci_high))
                     for p in fit.params),
        n_points=fit.n_points, n_bootstrap=fit.n_bootstrap, confidence=fit.confidence,
        rmse_log=finite(fit.rmse_log), flops_method=fit.flops_method,
        holdout_note=fit.holdout_note,
        holdout_mean_error=finite(h.mean_abs_relative_error) if h else None,
        holdout_max_error=finite(h.max_abs_relative_error) if h else None,
        compute_range=crange, run_ids=law.run_ids, skipped=law.skipped,
        points_compute=tuple(float(c) for c in points_c),
        points_loss=tuple(float(v) for v in fit.loss),
        curve_compute=tuple(float(c) for c in grid), curve_loss=curve,
        band_low=band_low, band_high=band_high,
    )


def _finite(values: Any) -> tuple[float, ...]:
    return tuple(float(v) if math.isfinite(float(v)) else math.nan
                 for v in list(values.ravel()))



def _gain_info(qgain: ev.QuestionGain, fit: FitInfo) -> GainInfo:
    result = qgain.result
    if result is None:
        return GainInfo(False, qgain.reason, skipped=qgain.skipped)
    crange = fit.compute_range
    rows = tuple(
        GainRow(rung, ids, crange is not None and not (crange[0] <= rung.compute <= crange[1]))
        for rung, ids in zip(result.rungs, qgain.rung_runs, strict=True))
    t = result.trend
    return GainInfo(
        available=True, reason=None, rows=rows, verdict=t.verdict,
        slope_per_decade=finite(t.slope_per_decade), slope_ci=(finite(t.ci_low), finite(t.ci_high)),
        n_rungs=t.n_rungs, tolerance=t.tolerance, explanation=t.explanation,
        comparison=result.comparison, confidence=result.confidence, skipped=qgain.skipped)


def _eval_run(lab: Lab, runs: Sequence[RunRecord]) -> tuple[RunRecord, str] | None:
    """The arm's run to stratify: the finished one with eval records at the largest compute
    (else any with records), and its eval set (``eval`` or the first)."""
    candidates = []
    for run in runs:
        if run.kind == "smoke":
            continue
        names = lab.evals.names(run.id)
        if not names:
            continue
        c = aio.number(run.summary, aio.C_KEY) or aio.number(run.summary, aio.N_KEY) or 0.0
        candidates.append((run.status == "finished", c, run.created_at, run,
                           "eval" if "eval" in names else names[0]))
    if not candidates:
        return None
    best = max(candidates, key=lambda t: (t[0], t[1], t[2]))
    return best[3], best[4]


def _stratified(lab: Lab, qruns: Sequence[RunRecord], bruns: Sequence[RunRecord],
                min_count: int) -> StratInfo:
    picked = {arm: _eval_run(lab, runs) for arm, runs in (("baseline", bruns),
                                                           ("feature", qruns))}
    if not any(picked.values()):
        return StratInfo(False, "no run of the question or of its baseline logged per-example "
                                "evaluation records (run.log_eval)")
    try:
        from stepstone.analysis import compare_buckets, stratify
        from stepstone.analysis.stratify import regression_text
    except ImportError:  # pragma: no cover - the analysis extra is missing
        return StratInfo(False, "the analysis extra is not installed: "
                                "pip install 'stepstone[analysis]'")
    arms: list[StratArm] = []
    records: dict[str, list[dict[str, Any]]] = {}
    problems: list[str] = []
    fields: list[str] = []
    for arm, choice in picked.items():
        if choice is None:
            continue
        run, name = choice
        recs = aio.eval_records(lab, run.id, name)
        fields = aio.bucket_fields(recs)
        if not fields:
            problems.append(f"the {arm} run {run.id}'s records carry no field to bucket by")
            continue
        try:
            rep = stratify(recs, fields, min_count=min_count)
        except StepstoneError as exc:
            problems.append(f"the {arm} run {run.id}: {exc}")
            continue
        records[arm] = recs
        weak = rep.weakest

        def row(b: Any, weak: Any = weak) -> BucketRow:
            return BucketRow(b.field, b.bucket, b.count, b.mean, finite(b.std),
                             finite(b.worst_5pct), finite(b.ci_low), finite(b.ci_high), b.thin,
                             weak is not None and (b.field, b.bucket) == (weak.field,
                                                                          weak.bucket))

        arms.append(StratArm(arm, run.id, run.name, name, rep.metric, rep.higher_is_better,
                             len(recs), tuple(fields), tuple(row(b) for b in rep.buckets),
                             row(rep.overall), rep.findings, min_count))
    if not arms:
        return StratInfo(False, "; ".join(problems) or "no usable evaluation records")
    comparison: tuple[BucketDiffRow, ...] = ()
    largest = None
    if "baseline" in records and "feature" in records:
        common = sorted(set(aio.bucket_fields(records["baseline"]))
                        & set(aio.bucket_fields(records["feature"])))
        if common:
            try:
                comp = compare_buckets(records["baseline"], records["feature"], common)
            except StepstoneError:
                comp = None
            if comp is not None:
                comparison = tuple(BucketDiffRow(r.field, r.bucket, r.mean_a, r.mean_b, r.diff,
                                                 finite(r.ci_low), finite(r.ci_high), r.verdict)
                                   for r in (*comp.rows, comp.overall))
                largest = regression_text(comp, "the feature run", "the baseline run")
    return StratInfo(True, "; ".join(problems) or None, tuple(arms), comparison, largest)

