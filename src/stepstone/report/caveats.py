"""The caveats of a report: what a reader should know before trusting its numbers."""

from __future__ import annotations

from collections.abc import Sequence

from stepstone.display import span
from stepstone.method import baselines as baseline_rules
from stepstone.method import decide
from stepstone.method import evidence as ev
from stepstone.method import questions as question_rules
from stepstone.report.model import FitInfo, GainInfo, StandardsInfo, StratArm, StratInfo
from stepstone.report.standards import _standards_caveats
from stepstone.store.baselines import BaselineVersion
from stepstone.store.lab import Lab
from stepstone.store.questions import Question
from stepstone.store.runs import RunRecord


def _caveats(lab: Lab, q: Question, proposal: decide.Proposal, law: ev.BaselineLaw,
             fit: FitInfo, gain: GainInfo, strat: StratInfo, base_row: BaselineVersion | None,
             runs: Sequence[RunRecord], standards: StandardsInfo | None = None
             ) -> tuple[str, ...]:
    out: list[str] = []
    by_id = {r.id: r for r in runs}
    for run in runs:  # unfinished or abandoned runs, the question's and the baseline's
        if run.kind == "smoke":
            continue
        who = "baseline run" if run.question_id != q.id else "run"
        if run.status == "abandoned":
            out.append(f"{who} {run.id} ({run.name}) was abandoned: {run.reason or 'no reason'}"
                       "; it is left out")
        elif run.status != "finished":
            out.append(f"{who} {run.id} ({run.name}) is {run.status}"
                       + (f" ({run.reason})" if run.reason else "")
                       + ": not a finished result")
        else:
            why = ev.usable(lab, run)
            if why:
                out.append(f"{who} {run.id} ({run.name}) is {why}")
    for flag in proposal.flags:
        if not any(run_id in flag for run_id in by_id) or "rerun" in flag:
            out.append(flag)
    if not fit.available:
        out.append(f"no scaling law for the baseline: {fit.reason}")
    else:
        if fit.holdout_max_error is not None and fit.holdout_max_error > 0.02:
            out.append(f"the baseline law misses its held-out largest runs by up to "
                       f"{fit.holdout_max_error:.1%} ({fit.holdout_note})")
        if fit.n_points < 5:
            out.append(f"the baseline law rests on {fit.n_points} runs only")
    for row in gain.rows:
        rung = row.rung
        if row.extrapolated and fit.compute_range is not None:
            lo, hi = fit.compute_range
            side = "above" if rung.compute > hi else "below"
            out.append(f"rung {rung.label} (C = {rung.compute:.3g}) lies {side} the baseline's "
                       f"fitted range [{lo:.3g}, {hi:.3g}] FLOPs: its gain is an "
                       "extrapolation of the law")
        if not rung.defined:
            out.append(f"rung {rung.label}: {rung.remarks}")
        elif rung.ci_high is None:
            out.append(f"rung {rung.label}: the gain's interval is unbounded above")
    single = [row.rung.label for row in gain.rows if row.rung.defined and len(row.runs) == 1]
    if single:
        out.append(f"rung(s) {', '.join(single)} have one feature run (one seed) each: their "
                   "seed noise is borrowed from the baseline's noise floor, or unknown without "
                   "one (then the rule cannot settle there); run more seeds per rung")
    if gain.available and gain.verdict in ("falling", "inconclusive"):
        out.append(f"the gain's trend with scale is {gain.verdict}: {gain.explanation}")
    for arm in strat.arms:
        out += _bucket_caveats(arm)
    if strat.largest_regression:
        out.append(strat.largest_regression)
    if standards is not None:
        out += _standards_caveats(standards, runs)
    if base_row is not None:
        check = baseline_rules.regression(lab, base_row)
        if check.status == "regressed":
            out.append(f"the baseline {base_row.version} regressed against its parent: "
                       f"{check.text}")
    dirty = [r.id for r in runs if r.git_dirty]
    if dirty:
        out.append(f"{len(dirty)} run(s) ran with uncommitted changes ({', '.join(dirty[:5])}): "
                   "their code snapshot, not the commit, reproduces them")
    uncaptured = [r.id for r in runs if r.kind != "smoke" and not (r.git_commit
                                                                   or r.code_snapshot)]
    if uncaptured:
        out.append(f"{len(uncaptured)} run(s) recorded neither a git commit nor a code "
                   f"snapshot ({', '.join(uncaptured[:5])}): their code cannot be recovered")
    no_command = [r.id for r in runs if not r.command]
    if no_command:
        out.append(f"{len(no_command)} run(s) recorded no command: {', '.join(no_command[:5])}")
    over = question_rules.hours_over(q)
    if over is not None:
        out.append(f"question {q.id}'s time box ran out {span(over)} ago")
    return tuple(dict.fromkeys(out))



SHOWN_BUCKETS = 6
"""Thin or empty buckets named in a caveat; the rest are counted (the table lists them all)."""


def _bucket_caveats(arm: StratArm) -> list[str]:
    """One caveat per kind of weak bucket in an arm's stratified evaluation (thin, empty),
    naming the first few, and one per field with records that lack it."""
    where = f"stratified evaluation of the {arm.arm} run {arm.run_id}"
    out = []
    thin = [f"{b.field}={b.bucket} ({b.count})" for b in arm.rows if b.thin]
    if thin:
        out.append(f"{where}: {len(thin)} thin bucket(s), under {arm.min_count} examples each: "
                   + _some(thin) + "; their means are noisy")
    empty = [line.split(":", 1)[0] for line in arm.findings if "(empty bucket)" in line]
    if empty:
        out.append(f"{where}: {len(empty)} empty bucket(s): {_some(empty)}")
    out += [f"{where}: {line}" for line in arm.findings if "have no" in line]
    return out


def _some(items: Sequence[str]) -> str:
    shown = ", ".join(items[:SHOWN_BUCKETS])
    return shown + (f" and {len(items) - SHOWN_BUCKETS} more" if len(items) > SHOWN_BUCKETS
                    else "")
