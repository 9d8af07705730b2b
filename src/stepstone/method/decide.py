"""Answer a question from the lab's evidence: gather, evaluate its rule, propose, record.

The evidence: the question's runs (final metrics from their summaries, by rung and
seed), the baseline version's own runs (kind ``baseline``) as the reference, stored
efficiency gains per rung, and every run that is unfinished, cut short or missing.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from typing import Any

from stepstone.errors import AnalysisError, MethodError, UsageError
from stepstone.method import baselines as baseline_rules
from stepstone.method import ideas as idea_rules
from stepstone.method import notebook
from stepstone.method import runs as run_rules
from stepstone.method.rules import (
    Evidence,
    Gain,
    RunRecord,
    Verdict,
    evaluate,
    parse_rule,
    uses_gain,
)
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord as StoredRun
from stepstone.store.runs import numeric

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
    gains: dict[str, Any] = field(default_factory=dict)

    @property
    def answer(self) -> str:
        return self.verdict.answer

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question_id, "rule": self.rule, "proposed": self.answer,
                "reasons": list(self.verdict.reasons), "baseline": self.baseline_version,
                "runs": list(self.runs), "flags": list(self.flags), "gains": self.gains}


def _rung(run: StoredRun) -> Any:
    for source in (run.config, run.summary):
        if source.get("rung") is not None:
            return source["rung"]
    for source in (run.summary, run.config):
        if source.get("n_params") is not None:
            return source["n_params"]
    return None


def _metrics(run: StoredRun) -> dict[str, float]:
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


@dataclass(frozen=True)
class GainEvidence:
    """What :func:`computed_gains` measures, in full: the baseline version's own finished
    runs and the compute law fitted to them, the question's finished runs as points with
    their rung labels, and the gain result; ``reason`` says what is missing (else None)."""

    version: str
    metric: str
    baseline_points: Any = None  # analysis_io.ScalingPoints of the baseline's own runs
    fit: Any = None  # analysis.ScalingFit, None when it cannot be made
    points: Any = None  # analysis_io.ScalingPoints of the question's runs
    labels: tuple[str, ...] = ()  # the rung of each question point
    result: Any = None  # analysis.gain.GainResult
    reason: str | None = None


def baseline_fit(lab: Lab, version: str, metric: str) -> GainEvidence:
    """The compute law fitted to the baseline version's own finished runs (kind
    ``baseline``), or the reason it cannot be fitted; the one fit every gain is measured on."""
    from stepstone import analysis_io as aio

    own = lab.runs.list(baseline=version, kind="baseline", status="finished")
    points = aio.scaling_points(aio.Selection(f"baseline:{version}", own), metric)
    try:
        fit = aio.fit_points(points, "compute", n_bootstrap=200, holdout=0)
    except AnalysisError as exc:
        return GainEvidence(version, metric, points,
                            reason=f"the baseline {version} law cannot be fitted ({exc})")
    return GainEvidence(version, metric, points, fit)


def gain_evidence(lab: Lab, version: str, runs: list[StoredRun], metric: str) -> GainEvidence:
    """:func:`baseline_fit` plus the efficiency gain of the finished (non-baseline) ``runs``
    over it, one value per run labelled with its rung."""
    from dataclasses import replace

    from stepstone import analysis_io as aio
    from stepstone.analysis import efficiency_gain

    base = baseline_fit(lab, version, metric)
    done = [r for r in runs if r.status == "finished" and r.kind != "baseline"]
    points = aio.scaling_points(aio.Selection("question", done), metric)
    by_id = {r.id: r for r in done}
    labels = tuple(str(_rung(by_id[i])) for i in points.labels)
    base = replace(base, points=points, labels=labels)
    if base.fit is None:
        return base
    if not len(points):
        return replace(base, reason=f"no finished question run reports {metric!r} with its "
                                    "compute")
    try:
        result = efficiency_gain(base.fit, points.compute, points.loss, labels=list(labels))
    except AnalysisError as exc:
        return replace(base, reason=str(exc))
    return replace(base, result=result)


def computed_gains(lab: Lab, version: str, runs: list[StoredRun], metric: str,
                   flags: list[str]) -> dict[Any, Gain]:
    """Per-rung efficiency gains of the question's finished runs over the compute law fitted
    to the baseline version's own finished runs; problems go to ``flags``."""
    evidence = gain_evidence(lab, version, runs, metric)
    if evidence.result is None:
        flags.append(f"gain evidence missing: {evidence.reason}")
        return {}
    gains: dict[Any, Gain] = {}
    for rung in evidence.result.rungs:
        if not rung.defined or rung.gain is None:
            flags.append(f"gain at rung {rung.label} is undefined: {rung.note}")
            continue
        low = rung.gain if rung.ci_low is None else rung.ci_low
        high = float("inf") if rung.ci_high is None else rung.ci_high
        gains[_label(rung.label)] = Gain(float(rung.gain), float(low), float(high))
    return gains


def question_version(lab: Lab, question: dict[str, Any], runs: list[StoredRun]) -> str | None:
    """The baseline version a question is measured against: the one most of its runs name,
    else the version its ``baseline`` (tier or version) resolves to."""
    versions = [r.baseline for r in runs if r.baseline]
    if versions:
        return max(set(versions), key=versions.count)
    if question.get("baseline"):
        return str(baseline_rules.resolve(lab, question["baseline"])["version"])
    return None


def gather(lab: Lab, question_id: str) -> Proposal:
    """Collect the evidence for a question and evaluate its rule: the proposal."""
    q = lab.questions.get(question_id)
    rule = parse_rule(q["rule"])
    runs = [r for r in lab.runs.list(question_id=question_id) if r.kind != "smoke"]
    flags: list[str] = []
    records: list[RunRecord] = []
    for run in sorted(runs, key=lambda r: r.created_at):
        if run.status == "abandoned":
            flags.append(f"run {run.id} was abandoned ({run.reason}): left out")
            continue
        cut = run_rules.schedule_incomplete(lab, run)
        finished = run.status == "finished" and cut is None
        if run.status != "finished":
            flags.append(f"run {run.id} is {run.status}: not a finished result")
        elif cut:
            flags.append(f"run {run.id} is not a finished result: {cut}")
        seed = run.seed if run.seed is not None else run.config.get("seed", run.id)
        records.append(RunRecord(_metrics(run), _rung(run), seed, finished, run_id=run.id))
    if not runs:
        flags.append(f"question {question_id} has no runs yet")
    version = question_version(lab, q, runs)
    reference: list[RunRecord] = []
    if version is not None:
        for run in lab.runs.list(baseline=version, kind="baseline", status="finished"):
            seed = run.seed if run.seed is not None else run.config.get("seed", run.id)
            reference.append(RunRecord(_metrics(run), _rung(run), seed, run_id=run.id))
        if not reference:
            flags.append(f"the baseline {version} has no finished runs of its own")
    gains: dict[Any, Gain] = {}
    if uses_gain(rule):
        if importlib.util.find_spec("numpy") is None:
            flags.append("gain evidence missing: the analysis needs "
                         "pip install 'stepstone[analysis]'")
        elif version is None:
            flags.append("gain evidence missing: the question's runs name no baseline")
        else:
            loss_metric = (q["metrics"] or ["val_loss"])[0]
            gains = computed_gains(lab, version, runs, loss_metric, flags)
    _dedupe(records, flags)
    evidence = Evidence.build(runs=records, baseline=reference, gains=gains)
    verdict = evaluate(rule, evidence)
    if any(not r.finished for r in records) and verdict.answer != "inconclusive":
        verdict = Verdict("inconclusive", (*verdict.reasons,
                                           "some runs are not finished results"))
    return Proposal(question_id, str(rule), verdict, version,
                    tuple(r.id for r in runs), tuple(flags),
                    {str(k): [g.value, g.low, g.high] for k, g in gains.items()})


def _dedupe(records: list[RunRecord], flags: list[str]) -> None:
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
           answer: str | None = None) -> tuple[Proposal, dict[str, Any] | None]:
    """The proposal; with a conclusion, also record the answer (``answer`` overrides the
    proposal, recorded as such) and write the result and decision pages."""
    q = lab.questions.get(question_id)
    if answer is not None and answer not in ANSWERS:
        raise UsageError(f"--answer is one of {', '.join(ANSWERS)}, not {answer!r}")
    if conclusion is None:
        if answer is not None:
            raise UsageError("--answer goes with --conclusion: write what you conclude")
        return gather(lab, question_id), None
    if q["status"] in ("answered", "abandoned"):
        raise MethodError(f"question {question_id} is already {q['status']}")
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
    lines += ["", "Runs: " + ", ".join(f"`{r}`" for r in proposal.runs)]
    if proposal.baseline_version:
        lines.append(f"Baseline: {proposal.baseline_version}")
    result = notebook.write(lab, "result", f"Evidence for {question_id}", "\n".join(lines),
                            question_id=question_id, data=proposal.to_dict())
    text = (f"Answer: **{final}**" + (f" (overrides the proposal {proposal.answer})"
                                      if overridden else "")
            + f"\n\n{conclusion.strip()}\n\nEvidence: page {result['number']}")
    page = notebook.write(lab, "decision", f"{question_id} answered {final}", text,
                          question_id=question_id,
                          data={"answer": final, "proposed": proposal.answer,
                                "overridden": overridden, "evidence_page": result["number"]})
    idea_rules.follow(lab, q.get("idea_id"), "tested", f"question {question_id} answered {final}")
    return proposal, page
