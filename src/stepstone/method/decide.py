"""Answer a question from the lab's evidence: gather, evaluate its rule, propose, record.

The evidence: the question's runs (final metrics from their summaries, by rung and
seed), the baseline version's own runs (kind ``baseline``) as the reference, the
efficiency gain per rung from :mod:`stepstone.method.evidence` (the one place the law and
the gain are computed; the report and the dashboard read the same), and every run that is
unfinished, cut short or missing.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from typing import Any

from stepstone.errors import MethodError, UsageError
from stepstone.method import confirm as confirm_rules
from stepstone.method import evaluator as evaluator_rules
from stepstone.method import evidence as evidence_rules
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


def rung_gains(lab: Lab, question: dict[str, Any], version: str, rungs: dict[str, Any],
               flags: list[str]) -> dict[Any, Gain]:
    """The question's gain per rung as its rule reads it: the seed-averaged rungs of
    :func:`stepstone.method.evidence.question_evidence` (the gains a report and the dashboard
    show), keyed by the rung value its runs carry (``rungs``: label → value); problems go to
    ``flags``."""
    _, measured = evidence_rules.question_evidence(lab, question, version)
    if measured.result is None:
        flags.append(f"gain evidence missing: {measured.reason}")
        return {}
    flags.extend(measured.result.warnings)
    out: dict[Any, Gain] = {}
    for rung in measured.result.rungs:
        if not rung.defined or rung.gain is None:
            flags.append(f"gain at rung {rung.label} is undefined: {rung.note}")
            continue
        low = rung.gain if rung.ci_low is None else rung.ci_low
        high = float("inf") if rung.ci_high is None else rung.ci_high
        key = rungs[rung.label] if rung.label in rungs else _label(rung.label)
        out[key] = Gain(float(rung.gain), float(low), float(high))
    return out


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
        if (other := evaluator_rules.differs(lab, run)) is not None:
            flags.append(f"run {run.id}: {other}: left out")
            continue
        cut = run_rules.schedule_incomplete(lab, run)
        finished = run.status == "finished" and cut is None
        if run.status != "finished":
            flags.append(f"run {run.id} is {run.status}: not a finished result")
        elif cut:
            flags.append(f"run {run.id} is not a finished result: {cut}")
        seed = run.seed if run.seed is not None else run.config.get("seed", run.id)
        records.append(RunRecord(_metrics(run), evidence_rules.rung_of(run), seed, finished,
                                 run_id=run.id))
    if not runs:
        flags.append(f"question {question_id} has no runs yet")
    version = evidence_rules.question_version(lab, q, runs)
    reference: list[RunRecord] = []
    if version is not None:
        for run in lab.runs.list(baseline=version, kind="baseline", status="finished"):
            seed = run.seed if run.seed is not None else run.config.get("seed", run.id)
            reference.append(RunRecord(_metrics(run), evidence_rules.rung_of(run), seed,
                                       run_id=run.id))
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
            rung_values = {str(r.rung): r.rung for r in records}
            gains = rung_gains(lab, q, version, rung_values, flags)
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
    if final == "yes":
        confirm_rules.ask(lab, lab.questions.get(question_id))  # when it asks for one
    return proposal, page
