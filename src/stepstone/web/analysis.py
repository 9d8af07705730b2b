"""What the analysis pages show, as plain JSON-ready dicts: the scaling fit and gain of a
question, the Pareto frontier of runs' summaries, the per-bucket evaluation of a run.

Each builder is shared by a page (``pages_analysis``) and its ``/api`` endpoint. The numbers
come from :mod:`stepstone.analysis` through the same glue the CLI and ``decide`` use
(:mod:`stepstone.method.selection`, :mod:`stepstone.method.evidence`); nothing here
computes a statistic of its own. A fit or a gain that cannot be made is a ``reason``, not an
error; a bad request (an unknown run, a constraint that does not parse) raises.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from stepstone.analysis import compare_buckets, pareto_front, parse_constraint, stratify
from stepstone.analysis.stratify import regression_text
from stepstone.display import finite, jsonable
from stepstone.errors import AnalysisError, NotFoundError, StepstoneError, UsageError
from stepstone.method import baselines as baseline_rules
from stepstone.method import evidence
from stepstone.method import selection as aio
from stepstone.store.lab import Lab
from stepstone.store.questions import Question
from stepstone.store.runs import RunRecord

CURVE_POINTS = 120
MAX_PARETO_RUNS = 5000
QUALITY_HINTS = ("acc", "score", "pass", "f1", "bleu", "rouge", "exact", "win", "quality")
COST_HINTS = ("latency", "_ms", "cost", "memory", "mem_", "flops", "params", "seconds", "time")


def _clean(out: dict[str, Any]) -> dict[str, Any]:
    """``out`` as JSON holds it (:func:`stepstone.display.jsonable`)."""
    cleaned: dict[str, Any] = jsonable(out)
    return cleaned


# -- scaling ----------------------------------------------------------------------------------
def scaling_choices(lab: Lab) -> dict[str, Any]:
    """What the scaling picker lists: questions with runs, baseline versions with own runs."""
    counts = lab.runs.counts_by_question()
    own = lab.runs.own_counts_by_baseline()
    try:
        questions = lab.questions.list()
        baselines = lab.baselines.list()
    except Exception:  # an older lab without the method tables
        questions, baselines = [], []
    qs = [{"id": q.id, "text": q.text, "status": q.status, "runs": counts[q.id],
           "baseline": q.baseline} for q in questions if counts.get(q.id)]
    tiers = [{"tier": b.tier, "version": b.version, "runs": own[b.version]}
             for b in baselines if own.get(b.version)]
    return {"questions": qs, "baselines": tiers}


def _curve(fit: Any, lo: float, hi: float) -> dict[str, Any]:
    import numpy as np

    grid = np.logspace(math.log10(lo) - 0.1, math.log10(hi) + 0.1, CURVE_POINTS)
    out: dict[str, Any] = {"compute": grid.tolist(), "loss": fit.predict(grid).tolist(),
                           "low": None, "high": None}
    try:
        low, high = fit.predict_interval(grid)
    except AnalysisError:
        return out
    out["low"], out["high"] = low.tolist(), high.tolist()
    return out


def scaling_data(lab: Lab, question: str | None = None, baseline: str | None = None,
                 metric: str | None = None) -> dict[str, Any]:
    """The baseline version's own runs with the compute law fitted to them (and its band),
    the question's runs as points, and their gain per rung with the trend verdict: all of it
    from :mod:`stepstone.method.evidence`, as ``decide`` reads it."""
    q: Question | None = None
    runs: list[RunRecord] = []
    if question:
        q = lab.questions.get(question)
        runs = evidence.question_runs(lab, q.id)
        version = evidence.question_version(lab, q, runs)
        metric = metric or evidence.loss_metric(lab, q, version)
    elif baseline:
        row = baseline_rules.resolve(lab, baseline)
        version = row.version
        metric = metric or row.reference_metric or "val_loss"
    else:
        raise UsageError("choose a question (?question=Q) or a baseline (?baseline=TIER)")
    metric = str(metric or "val_loss")
    out: dict[str, Any] = {
        "question": None if q is None else {"id": q.id, "text": q.text,
                                            "rule": q.rule, "status": q.status},
        "version": version, "metric": metric, "baseline_points": [], "fit": None,
        "fit_reason": None, "feature_points": [], "gain": None, "gain_reason": None,
        "skipped": [],
    }
    if version is None:
        out["fit_reason"] = "the question's runs name no baseline and it has none of its own"
        out["gain_reason"] = out["fit_reason"]
        return out
    names = {r.id: r.name for r in runs}
    measured: evidence.QuestionGain | None = None
    if q is not None:
        law, measured = evidence.question_evidence(lab, q, version, metric=metric)
    else:
        law = evidence.baseline_law(lab, version, metric=metric,
                                    n_bootstrap=evidence.N_BOOTSTRAP)
    own = {r.id: r.name for r in lab.runs.list(baseline=version, kind="baseline",
                                                details=False)}
    base_pts = law.points
    if base_pts is not None:
        out["baseline_points"] = [
            {"run": rid, "name": own.get(rid, ""), "compute": c, "loss": y}
            for rid, c, y in zip(base_pts.labels, base_pts.compute, base_pts.loss, strict=True)]
    out["skipped"] = [{"run": rid, "reason": why} for rid, why in law.skipped]
    if measured is not None and measured.points is not None:
        pts = measured.points
        out["feature_points"] = [
            {"run": rid, "name": names.get(rid, ""), "rung": rung, "compute": c, "loss": y}
            for rid, rung, c, y in zip(pts.labels, measured.point_rungs, pts.compute, pts.loss,
                                       strict=True)]
        out["skipped"] += [{"run": rid, "reason": why} for rid, why in measured.skipped
                           if rid in names]
    if law.fit is None:
        out["fit_reason"] = law.reason
        out["gain_reason"] = f"no baseline law to measure against: {law.reason}"
        return _clean(out)
    fit = law.fit
    computes = [p["compute"] for p in out["baseline_points"] + out["feature_points"]]
    out["fit"] = {
        "form": fit.form, "formula": fit.formula, "n_points": fit.n_points,
        "confidence": fit.confidence, "n_bootstrap": fit.n_bootstrap,
        "rmse_log": fit.rmse_log, "flops_method": fit.flops_method,
        "params": [{"name": p.name, "value": p.value, "low": finite(p.ci_low),
                    "high": finite(p.ci_high)} for p in fit.params],
        "curve": _curve(fit, min(computes), max(computes)),
    }
    if q is None:
        out["gain_reason"] = "choose a question to measure its runs against this law"
        return _clean(out)
    if measured is None or measured.result is None:
        out["gain_reason"] = None if measured is None else measured.reason
        return _clean(out)
    result = measured.result
    rungs: list[dict[str, Any]] = []
    for rung, ids in zip(result.rungs, measured.rung_runs, strict=True):
        rungs.append({"label": rung.label, "run": ids[0], "runs": list(ids),
                      "name": ", ".join(names.get(rid, "") or rid[:8] for rid in ids),
                      "compute": rung.compute, "loss": rung.loss,
                      "baseline_loss": rung.baseline_loss, "gain": finite(rung.gain),
                      "low": finite(rung.ci_low), "high": finite(rung.ci_high),
                      "defined": rung.defined, "note": rung.remarks})
    rungs.sort(key=lambda r: r["compute"])
    t = result.trend
    line = None
    defined = [r for r in rungs if r["gain"] is not None and r["gain"] > 0]
    if t.slope_per_decade is not None and defined:
        xs = [math.log10(r["compute"]) for r in defined]
        ys = [math.log(r["gain"]) for r in defined]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        ends = [min(xs), max(xs)]
        line = {"compute": [10 ** x for x in ends],
                "gain": [math.exp(my + t.slope_per_decade * (x - mx)) for x in ends]}
    out["gain"] = {
        "comparison": result.comparison, "confidence": result.confidence, "rungs": rungs,
        "trend": {"verdict": t.verdict, "slope": t.slope_per_decade, "low": t.ci_low,
                  "high": t.ci_high, "n_rungs": t.n_rungs, "tolerance": t.tolerance,
                  "explanation": t.explanation, "line": line},
    }
    return _clean(out)


# -- Pareto -----------------------------------------------------------------------------------
def numeric_keys(runs: Sequence[RunRecord]) -> list[str]:
    """The summary keys that hold a finite number in at least one run, sorted."""
    return sorted({k for r in runs for k in r.summary if aio.number(r.summary, k) is not None})


def _guess(keys: Sequence[str], hints: Sequence[str], avoid: str = "") -> str:
    for hint in hints:
        for key in keys:
            if hint in key.lower() and key != avoid:
                return key
    return ""


def pareto_runs(lab: Lab, project: str | None, tag: str | None,
                question: str | None) -> tuple[list[RunRecord], list[dict[str, str]]]:
    """The finished runs to rank (all of them when no filter is given), and the skipped."""
    if project or tag or question:
        sel = aio.select_runs(lab, question=question, tag=tag, project=project)
        skipped = [{"run": rid, "reason": why} for rid, why in sel.skipped]
        return sel.runs[-MAX_PARETO_RUNS:], skipped
    return lab.runs.list(status="finished", limit=MAX_PARETO_RUNS), []


def pareto_data(lab: Lab, *, quality: str = "", cost: Sequence[str] = (),
                constraint: Sequence[str] = (), minimize: bool = False,
                project: str | None = None, tag: str | None = None,
                question: str | None = None, smoke: bool = False) -> dict[str, Any]:
    """Quality against cost over runs' summaries: the frontier, the ranking, the runs that
    break a hard constraint (with why). Smoke runs (a ladder's quick first check, not a
    result) are left out unless ``smoke``. Raises for a constraint that does not parse."""
    rules = [c.strip() for c in constraint if c and c.strip()]
    for text in rules:  # a bad constraint is the caller's error, before anything else
        parse_constraint(text)
    runs, skipped = pareto_runs(lab, project, tag, question)
    if not smoke:
        skipped += [{"run": r.id, "reason": "a smoke run"} for r in runs if r.kind == "smoke"]
        runs = [r for r in runs if r.kind != "smoke"]
    keys = numeric_keys(runs)
    costs = [c for c in cost if c]
    quality = quality or _guess(keys, QUALITY_HINTS)
    if not costs:
        guess = _guess(keys, COST_HINTS, avoid=quality)
        costs = [guess] if guess else []
    out: dict[str, Any] = {"quality": quality, "cost": costs, "constraints": rules,
                           "maximize": not minimize, "keys": keys, "n_runs": len(runs),
                           "skipped": skipped, "points": [], "disqualified": [],
                           "front": [], "reason": None}
    if not runs:
        out["reason"] = "no finished runs to rank"
        return out
    if not quality or not costs:
        out["reason"] = "choose a quality and a cost from the runs' numeric summary keys"
        return out
    result = pareto_front(aio.summary_rows(runs), quality=quality, cost=costs,
                          maximize=not minimize, constraints=rules)
    by_id = {r.id: r for r in runs}
    for p in result.ranked:
        run = by_id[p.id]
        out["points"].append({"run": p.id, "name": run.name, "quality": p.quality,
                              "cost": p.costs[costs[0]], "costs": p.costs, "rank": p.rank,
                              "on_front": p.on_front, "dominated_by": p.dominated_by})
    for d in result.disqualified:
        run = by_id[d.id]
        out["disqualified"].append({
            "run": d.id, "name": run.name, "reasons": list(d.reasons),
            "quality": aio.number(run.summary, quality),
            "cost": aio.number(run.summary, costs[0])})
    out["front"] = [p.id for p in result.front]
    if not result.ranked:
        out["reason"] = "no run meets every constraint and has both metrics"
    return _clean(out)


# -- stratified -------------------------------------------------------------------------------
def eval_runs(lab: Lab, limit: int = 200) -> list[dict[str, Any]]:
    """Runs with per-example evaluation records (newest first) for the stratified picker."""
    counts = lab.evals.counts_by_run()
    if not counts:
        return []
    runs = lab.runs.list(ids=list(counts), limit=limit, details=False)
    return [{"id": r.id, "name": r.name, "project": r.project, "records": counts[r.id],
             "evals": lab.evals.names(r.id)} for r in runs]


def _eval_set(lab: Lab, run: RunRecord, name: str | None) -> tuple[str, list[str]]:
    names = lab.evals.names(run.id)
    if not names:
        raise NotFoundError(f"run {run.id} ({run.name}) has no evaluation records: log them "
                            "with run.log_eval(records)")
    if name and name in names:
        return name, names
    if name and name not in names:
        raise NotFoundError(f"run {run.id} has no eval set {name!r} (it has "
                            f"{', '.join(names)})")
    return ("eval" if "eval" in names else names[0]), names


def _shared_bins(field: str, values: Sequence[Any]) -> dict[str, list[float]]:
    """Quantile bins from both runs' values, so that both runs share the bucket labels."""
    import numpy as np

    present = [v for v in values if v is not None]
    numeric = bool(present) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                    for v in present)
    if not numeric or len(set(present)) <= 20:
        return {}
    edges = np.unique(np.quantile(np.asarray(present, dtype=float), np.linspace(0, 1, 6)))
    return {field: [float(e) for e in edges]}


def _buckets(report: Any, field: str) -> list[dict[str, Any]]:
    weak = report.weakest
    return [{"bucket": b.bucket, "count": b.count, "mean": b.mean, "std": b.std,
             "worst": b.worst_5pct, "low": b.ci_low, "high": b.ci_high, "thin": b.thin,
             "weakest": weak is not None and (weak.field, weak.bucket) == (b.field, b.bucket)}
            for b in report.for_field(field)]


def stratified_data(lab: Lab, run: str, *, against: str | None = None, by: str | None = None,
                    name: str | None = None, metric: str | None = None,
                    lower_is_better: bool = False, min_count: int = 30) -> dict[str, Any]:
    """Per-bucket mean (with its interval) and 5th-percentile worst case of a run's eval
    records by one field, the weakest and thin buckets; with ``against``, the second run
    beside it and the bucket-by-bucket difference."""
    rec_a = lab.runs.get(run)
    rec_b = lab.runs.get(against) if against else None
    set_a, names_a = _eval_set(lab, rec_a, name)
    records_a = [r.to_dict() for r in lab.evals.records(rec_a.id, set_a)]
    records_b: list[dict[str, Any]] | None = None
    set_b = None
    if rec_b is not None:
        set_b, _ = _eval_set(lab, rec_b, set_a if set_a in lab.evals.names(rec_b.id) else None)
        records_b = [r.to_dict() for r in lab.evals.records(rec_b.id, set_b)]
    fields = aio.bucket_fields(records_a)
    if records_b is not None:
        fields = [f for f in fields if f in set(aio.bucket_fields(records_b))]
    out: dict[str, Any] = {
        "run": {"id": rec_a.id, "name": rec_a.name, "eval": set_a, "n": len(records_a)},
        "against": None, "evals": names_a, "fields": fields, "by": None,
        "higher_is_better": not lower_is_better, "min_count": min_count, "metric": None,
        "runs": [], "comparison": None, "reason": None,
    }
    if rec_b is not None and records_b is not None:
        out["against"] = {"id": rec_b.id, "name": rec_b.name, "eval": set_b,
                          "n": len(records_b)}
    if by and by not in fields:
        raise UsageError(f"the records have no field {by!r} to bucket by"
                         + (f" (they have {', '.join(fields)})" if fields else ""))
    if not fields:
        out["reason"] = ("the records carry no field to bucket by: log fields such as "
                         "'difficulty' with each record")
        return out
    field = by or fields[0]
    out["by"] = field
    values = [r.get(field) for r in records_a + (records_b or [])]
    bins = _shared_bins(field, values) if records_b is not None else {}
    hib = not lower_is_better
    for rec, records in ((rec_a, records_a), (rec_b, records_b)):
        if rec is None or records is None:
            continue
        try:
            report = stratify(records, field, metric=metric, higher_is_better=hib,
                              bins=bins, min_count=min_count)
        except StepstoneError as exc:
            out["reason"] = f"run {rec.id}: {exc}"
            return _clean(out)
        out["metric"] = report.metric
        overall = report.overall
        out["runs"].append({
            "id": rec.id, "name": rec.name, "buckets": _buckets(report, field),
            "overall": {"count": overall.count, "mean": overall.mean, "low": overall.ci_low,
                        "high": overall.ci_high, "worst": overall.worst_5pct},
            "findings": list(report.findings), "confidence": report.confidence})
    if records_b is not None and rec_b is not None:  # the page's run against the reference
        comp = compare_buckets(records_b, records_a, field, metric=metric,
                               higher_is_better=hib, bins=bins)
        out["comparison"] = {
            "rows": [{"bucket": r.bucket, "mean_a": r.mean_a, "mean_b": r.mean_b,
                      "diff": r.diff, "low": r.ci_low, "high": r.ci_high, "paired": r.paired,
                      "verdict": r.verdict} for r in (*comp.rows, comp.overall)],
            "largest_regression": regression_text(comp, rec_a.name, rec_b.name),
        }
    return _clean(out)
