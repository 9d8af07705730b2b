"""Answer a question from the lab's evidence: gather, evaluate its rule, propose, record.

The evidence: the question's runs (final metrics from their summaries, by rung and
seed), the baseline version's own runs (kind ``baseline``) as the reference, the
efficiency gain per rung from :mod:`stepstone.method.evidence` (the one place the law and
the gain are computed; the report and the dashboard read the same), and every run that is
unfinished, cut short or missing.
"""

from __future__ import annotations

import importlib.util
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stepstone.errors import MethodError, UsageError
from stepstone.method import confirm as confirm_rules
from stepstone.method import evaluator as evaluator_rules
from stepstone.method import evidence as evidence_rules
from stepstone.method import ideas as idea_rules
from stepstone.method import notebook
from stepstone.method.relaunch import config_rung
from stepstone.method.rules import (
    Evidence,
    Gain,
    NoiseFloor,
    Rule,
    RunFacts,
    Scores,
    Tally,
    Verdict,
    WorstBucket,
    evaluate,
    metrics_used,
    parse_rule,
    uses_gain,
)
from stepstone.method.rules.tree import _walk
from stepstone.method.schedule import schedule_incomplete
from stepstone.method.settle import Settle, what_would_settle
from stepstone.store.evals import EvalRecord
from stepstone.store.lab import Lab
from stepstone.store.notebook import Page
from stepstone.store.questions import Question
from stepstone.store.runs import RunRecord, numeric

if TYPE_CHECKING:
    from stepstone.analysis.gain import GainResult, GainTrend

ANSWERS = ("yes", "no", "inconclusive")


@dataclass(frozen=True)
class Proposal:
    """The proposed answer, why, and what the evidence lacks."""

    question_id: str
    rule: str
    verdict: Verdict
    baseline_version: str | None
    runs: tuple[str, ...]
    flags: tuple[str, ...] = ()
    gains: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # rung: value,
    # low, high (a defined gain)
    settle: Settle | None = None  # what would settle an inconclusive gain rule
    trend: GainTrend | None = None  # the gain's trend with scale (a gain rule only)

    @property
    def answer(self) -> str:
        return self.verdict.answer

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question_id, "rule": self.rule, "proposed": self.answer,
                "reasons": list(self.verdict.reasons), "baseline": self.baseline_version,
                "runs": list(self.runs), "flags": list(self.flags),
                "gains": {k: list(v) for k, v in self.gains.items()},
                "settle": self.settle.to_dict() if self.settle else None,
                "trend": self.trend.to_dict() if self.trend else None}


def _metrics(run: RunRecord) -> dict[str, float]:
    out = {}
    for key, value in run.summary.items():
        num = numeric(value)
        if num is not None:
            out[key] = num
    return out


def _label(value: Any) -> Any:
    text = str(value)
    try:
        return int(text)
    except ValueError:
        return text


def rung_gains(lab: Lab, question: Question, version: str, rungs: dict[str, Any],
               flags: list[str]) -> tuple[dict[Any, Gain], GainResult | None]:
    """The question's gain per rung as its rule reads it: the seed-averaged rungs of
    :func:`stepstone.method.evidence.question_evidence` (the gains a report and the dashboard
    show), keyed by the rung value its runs carry (``rungs``: label → value), and the whole
    result; problems go to ``flags``."""
    _, measured = evidence_rules.question_evidence(lab, question, version)
    if measured.result is None:
        flags.append(f"gain evidence missing: {measured.reason}")
        return {}, None
    flags.extend(measured.result.warnings)
    out: dict[Any, Gain] = {}
    for rung in measured.result.rungs:
        key = rungs[rung.label] if rung.label in rungs else _label(rung.label)
        if not rung.defined or rung.gain is None:  # the rule says why, not "fit a law"
            flags.append(f"gain at rung {rung.label} is undefined: {rung.note}")
            out[key] = Gain(math.nan, math.nan, math.nan, note=rung.note)
            continue
        low = 0.0 if rung.ci_low is None else rung.ci_low  # no low end: any positive gain
        high = float("inf") if rung.ci_high is None else rung.ci_high
        out[key] = Gain(float(rung.gain), float(low), float(high), rung.caveat)
    return out, measured.result


def planned(lab: Lab, question_id: str, runs: list[RunRecord]) -> tuple[list[Any], list[Any]]:
    """The rungs the question's plans (ladders and sweeps launched for it) planned, in plan
    order, and those of its planned runs that never produced a run that is not abandoned
    (``missing``). A planned run's rung is its run's, else its config's ``rung`` (else
    ``n_params``, ``flops``), else the plan's label for it."""
    by_id = {r.id: r for r in runs}
    rungs: list[Any] = []
    missing: list[Any] = []
    for plan in reversed(lab.plans.recent()):
        if plan.question_id != question_id:
            continue
        for row in lab.plans.runs(plan.id):
            made = [by_id[a.run_id] for a in row.attempts if a.run_id in by_id]
            kept = [r for r in made if r.status != "abandoned"]
            rung = (evidence_rules.rung_of(made[-1]) if made else None)
            rung = rung if rung is not None else config_rung(row.config)
            rung = rung if rung is not None else _label(row.label)
            rungs.append(rung)
            if not kept:
                missing.append(rung)
    return list(dict.fromkeys(rungs)), missing


def noise_floors(lab: Lab, version: str | None, rule: Rule) -> dict[str, NoiseFloor]:
    """The baseline version's newest noise floor of each metric the rule reads."""
    if version is None:
        return {}
    wanted = set(metrics_used(rule))
    return {r.metric: NoiseFloor(r.sd, r.n) for r in lab.baselines.noise(version)
            if r.metric in wanted}


BUCKET_FIELDS = ("bucket", "difficulty")  # the field a bucket is read from, in this order
_NOT_FIELDS = {"id", "score", "correct", "prediction", "name", "step"}


def eval_buckets(lab: Lab, run_id: str, names: set[str]
                 ) -> dict[str, dict[str, Tally | Scores]]:
    """``{eval set: {bucket: Tally | Scores}}`` from a run's evaluation records of the sets
    ``names`` (what ``worst bucket of NAME`` reads): bucketed by the field ``bucket``, else
    ``difficulty``, else the records' only field; pass/fail records become a Tally (Wilson),
    scored ones Scores (t)."""
    out: dict[str, dict[str, Tally | Scores]] = {}
    for name in names:
        records = lab.evals.records(run_id, name)
        if not records:
            continue
        fields = sorted({k for r in records for k in r.fields} - _NOT_FIELDS)
        field = next((f for f in BUCKET_FIELDS if f in fields), None)
        field = field or (fields[0] if len(fields) == 1 else None)
        if field is None:
            continue
        groups: dict[str, list[EvalRecord]] = {}
        for record in records:
            if record.fields.get(field) is not None:
                groups.setdefault(str(record.fields[field]), []).append(record)
        out[name] = {
            bucket: Tally(sum(bool(r.correct) for r in rows), len(rows))
            if all(r.correct is not None for r in rows)
            else Scores(tuple(float(r.score) for r in rows if r.score is not None))
            for bucket, rows in groups.items()}
    return out


def gather(lab: Lab, question_id: str) -> Proposal:
    """Collect the evidence for a question and evaluate its rule: the proposal."""
    q = lab.questions.get(question_id)
    rule = parse_rule(q.rule)
    runs = evidence_rules.question_runs(lab, question_id)
    flags: list[str] = []
    records: list[RunFacts] = []
    abandoned: list[RunFacts] = []
    bucket_sets = {n.metric for n in _walk(rule) if isinstance(n, WorstBucket)}
    for run in sorted(runs, key=lambda r: r.created_at):
        seed = run.seed if run.seed is not None else run.config.get("seed", run.id)
        if run.status == "abandoned":
            abandoned.append(RunFacts({}, evidence_rules.rung_of(run), seed, False,
                                       run_id=run.id, reason=run.reason or ""))
            continue
        if (other := evaluator_rules.differs(lab, run)) is not None:
            flags.append(f"run {run.id}: {other}: left out")
            continue
        cut = schedule_incomplete(lab, run)
        finished = run.status == "finished" and cut is None
        if run.status != "finished":
            flags.append(f"run {run.id} is {run.status}: not a finished result")
        elif cut:
            flags.append(f"run {run.id} is not a finished result: {cut}")
        buckets = eval_buckets(lab, run.id, bucket_sets) if bucket_sets else {}
        records.append(RunFacts(_metrics(run), evidence_rules.rung_of(run), seed, finished,
                                 buckets, run_id=run.id))
    if not runs:
        flags.append(f"question {question_id} has no runs yet")
    version = evidence_rules.question_version(lab, q, runs)
    reference: list[RunFacts] = []
    if version is not None:
        for run in lab.runs.list(baseline=version, kind="baseline", status="finished"):
            seed = run.seed if run.seed is not None else run.config.get("seed", run.id)
            buckets = eval_buckets(lab, run.id, bucket_sets) if bucket_sets else {}
            reference.append(RunFacts(_metrics(run), evidence_rules.rung_of(run), seed,
                                       buckets=buckets, run_id=run.id))
        if not reference:
            flags.append(f"the baseline {version} has no finished runs of its own")
    gains: dict[Any, Gain] = {}
    measured: GainResult | None = None
    if uses_gain(rule):
        if importlib.util.find_spec("numpy") is None:
            flags.append("gain evidence missing: the analysis needs "
                         "pip install 'stepstone[analysis]'")
        elif version is None:
            flags.append("gain evidence missing: the question's runs name no baseline")
        else:
            rung_values = {str(r.rung): r.rung for r in records}
            gains, measured = rung_gains(lab, q, version, rung_values, flags)
    _dedupe(records, flags)
    plan_rungs, missing = planned(lab, question_id, runs)
    seen = list(dict.fromkeys(r.rung for r in records))
    order = plan_rungs + [r for r in seen if r not in plan_rungs]
    if all(isinstance(r, int) and not isinstance(r, bool) for r in order):
        order.sort()
    for rung in missing:
        if not any(r.rung == rung for r in records):
            flags.append(f"planned rung {rung} has no run: the rule cannot be answered there")
    evidence = Evidence.build(runs=records, baseline=reference, gains=gains, rungs=order,
                              missing=[(r, None) for r in missing
                                       if not any(x.rung == r for x in records)],
                              abandoned=abandoned, noise=noise_floors(lab, version, rule))
    verdict = evaluate(rule, evidence)
    if any(not r.finished for r in records) and verdict.answer != "inconclusive":
        verdict = Verdict("inconclusive", (*verdict.reasons,
                                           "some runs are not finished results"))
    settle = None
    if verdict.answer == "inconclusive":
        seeds_at: dict[str, list[Any]] = {}
        for record in records:
            seeds_at.setdefault(str(record.rung), []).append(record.seed)
        settle = what_would_settle(lab, q, rule, measured, seeds_at,
                                   [str(r) for r, _ in evidence.missing], verdict.unsettled)
    return Proposal(question_id, str(rule), verdict, version,
                    tuple(r.id for r in runs), tuple(flags),
                    {str(k): (g.value, g.low, g.high) for k, g in gains.items()
                     if not math.isnan(g.value)}, settle,
                    measured.trend if measured is not None else None)


def _dedupe(records: list[RunFacts], flags: list[str]) -> None:
    """Two runs at the same rung and seed: keep the newest (a rerun), say so."""
    seen: dict[tuple[Any, Any], int] = {}
    for index, record in enumerate(records):
        key = (record.rung, record.seed)
        if key in seen:
            flags.append(f"run {records[seen[key]].run_id} was rerun as {record.run_id}: "
                         "the newer one counts")
        seen[key] = index
    keep = set(seen.values())
    records[:] = [r for i, r in enumerate(records) if i in keep]


def decide(lab: Lab, question_id: str, *, conclusion: str | None = None,
           answer: str | None = None) -> tuple[Proposal, Page | None]:
    """The proposal; with a conclusion, also record the answer (``answer`` overrides the
    proposal, recorded as such) and write the result and decision pages."""
    q = lab.questions.get(question_id)
    if answer is not None and answer not in ANSWERS:
        raise UsageError(f"--answer is one of {', '.join(ANSWERS)}, not {answer!r}")
    if conclusion is None:
        if answer is not None:
            raise UsageError("--answer goes with --conclusion: write what you conclude")
        return gather(lab, question_id), None
    if q.status in ("answered", "abandoned"):
        raise MethodError(f"question {question_id} is already {q.status}")
    if not conclusion.strip():
        raise UsageError("a conclusion needs some text")
    proposal = gather(lab, question_id)
    final = answer or proposal.answer
    overridden = final != proposal.answer
    lab.questions.update(question_id, status="answered", answer=final,
                         proposed=proposal.answer, overridden=int(overridden),
                         conclusion=conclusion.strip(), answered_at=time.time())
    lines = [f"Rule: `{proposal.rule}` → proposed **{proposal.answer}**", ""]
    lines += [f"- {r}" for r in proposal.verdict.reasons]
    lines += [f"- flag: {f}" for f in proposal.flags]
    if proposal.settle is not None:
        lines += ["", "What would settle it:"] + [f"- {x}" for x in proposal.settle.lines]
        if proposal.settle.command:
            lines.append(f"- run: `{proposal.settle.command}`")
    lines += ["", "Runs: " + ", ".join(f"`{r}`" for r in proposal.runs)]
    if proposal.baseline_version:
        lines.append(f"Baseline: {proposal.baseline_version}")
    result = notebook.write(lab, "result", f"Evidence for {question_id}", "\n".join(lines),
                            question_id=question_id, data=proposal.to_dict())
    text = (f"Answer: **{final}**" + (f" (overrides the proposal {proposal.answer})"
                                      if overridden else "")
            + f"\n\n{conclusion.strip()}\n\nEvidence: page {result.number}")
    page = notebook.write(lab, "decision", f"{question_id} answered {final}", text,
                          question_id=question_id,
                          data={"answer": final, "proposed": proposal.answer,
                                "overridden": overridden, "evidence_page": result.number})
    idea_rules.follow(lab, q.idea_id, "tested", f"question {question_id} answered {final}")
    if final == "yes":
        confirm_rules.ask(lab, lab.questions.get(question_id))  # when it asks for one
    return proposal, page
