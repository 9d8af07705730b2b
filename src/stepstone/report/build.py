"""What a report holds, gathered from a lab: :func:`build_report` returns a frozen
:class:`Report` of plain data (strings, numbers, tuples), ready for Markdown, HTML or JSON.

Nothing here re-implements the method: the decision comes from
:func:`stepstone.method.decide.gather`, the baseline law and the gain from
:mod:`stepstone.method.evidence`, the stratified tables from :mod:`stepstone.analysis`.
"""

from __future__ import annotations

import time

from stepstone.errors import StepstoneError
from stepstone.method import baselines as baseline_rules
from stepstone.method import decide
from stepstone.method import evidence as ev
from stepstone.method.rules import Verdict
from stepstone.report.caveats import _caveats as _caveats
from stepstone.report.evidence import CURVE_POINTS as CURVE_POINTS
from stepstone.report.evidence import _fit_info as _fit_info
from stepstone.report.evidence import _gain_info as _gain_info
from stepstone.report.evidence import _stratified as _stratified
from stepstone.report.model import BaselineInfo as BaselineInfo
from stepstone.report.model import BucketDiffRow as BucketDiffRow
from stepstone.report.model import BucketRow as BucketRow
from stepstone.report.model import CodeInfo as CodeInfo
from stepstone.report.model import ConfigChange as ConfigChange
from stepstone.report.model import DecisionInfo as DecisionInfo
from stepstone.report.model import FitInfo as FitInfo
from stepstone.report.model import GainInfo as GainInfo
from stepstone.report.model import GainRow as GainRow
from stepstone.report.model import LintRow as LintRow
from stepstone.report.model import PageRef as PageRef
from stepstone.report.model import ParamRow as ParamRow
from stepstone.report.model import QuestionInfo as QuestionInfo
from stepstone.report.model import Report as Report
from stepstone.report.model import ReproRow as ReproRow
from stepstone.report.model import RunRow as RunRow
from stepstone.report.model import StandardsInfo as StandardsInfo
from stepstone.report.model import StratArm as StratArm
from stepstone.report.model import StratInfo as StratInfo
from stepstone.report.model import SuiteRunResult as SuiteRunResult
from stepstone.report.provenance import PACKAGES_SHOWN as PACKAGES_SHOWN
from stepstone.report.provenance import _baseline_info as _baseline_info
from stepstone.report.provenance import _baseline_row as _baseline_row
from stepstone.report.provenance import _code_info as _code_info
from stepstone.report.provenance import _config_changes as _config_changes
from stepstone.report.provenance import _hardware_line as _hardware_line
from stepstone.report.provenance import _question_info as _question_info
from stepstone.report.provenance import _reproduce as _reproduce
from stepstone.report.provenance import _run_rows as _run_rows
from stepstone.report.standards import _standards as _standards
from stepstone.store.lab import Lab
from stepstone.store.questions import Question


# -- gathering ---------------------------------------------------------------------------------
def build_report(
    lab: Lab, question_ref: str, *, n_bootstrap: int = 1000, form: str = "compute",
    fit_ref: str | None = None, tolerance: float = 0.1, min_count: int = 30, seed: int = 0,
) -> Report:
    """Gather a question's report: setup, results, fit, gain, stratified evaluation, decision,
    caveats and the commands that reproduce every run.

    ``n_bootstrap``/``form``/``seed``: how the baseline's law is fitted (``fit_ref``: use a
    stored fit instead). The lab is only read.
    """
    q = lab.questions.get(question_ref)
    qid = q.id
    proposal = _gather(lab, q)
    version = proposal.baseline_version
    base_row = _baseline_row(lab, version)
    metric = ev.loss_metric(lab, q, version)
    lower = baseline_rules.lower_is_better(metric)

    qruns = sorted(lab.runs.list(question_id=qid), key=lambda r: r.created_at)
    bruns = ev.baseline_runs(lab, version) if version else []

    law = ev.baseline_law(lab, version, metric=metric, form=form, n_bootstrap=n_bootstrap,
                          seed=seed, fit_ref=fit_ref)
    qgain = ev.question_gain(lab, qid, law, tolerance=tolerance)
    fit_info = _fit_info(law, qgain)
    gain_info = _gain_info(qgain, fit_info)
    strat = _stratified(lab, qruns, bruns, min_count)
    runs = _run_rows(lab, qruns, bruns, metric)
    decision = _decision(lab, q, proposal)
    base_config = base_row.config if base_row else None
    standards = _standards(lab, qruns, bruns, base_row)
    return Report(
        created_at=time.strftime("%Y-%m-%d %H:%M:%S"),
        question=_question_info(lab, q),
        metric=metric,
        lower_is_better=lower,
        baseline=_baseline_info(lab, base_row),
        config_changes=_config_changes(qruns, base_config),
        code=_code_info([*bruns, *qruns]),
        runs=runs,
        fit=fit_info,
        gain=gain_info,
        stratified=strat,
        decision=decision,
        caveats=_caveats(lab, q, proposal, law, fit_info, gain_info, strat, base_row,
                         [*bruns, *qruns], standards),
        reproduce=_reproduce([*bruns, *qruns], base_config, version, qid),
        notes=tuple(PageRef(p.number, p.kind, p.title, p.body)
                    for p in lab.notebook.pages(question_id=qid)
                    if p.kind in ("note", "correction")),
        standards=standards,
    )



def _gather(lab: Lab, q: Question) -> decide.Proposal:
    """``decide.gather``'s proposal; if gathering fails, an inconclusive one that says why
    (a report is never refused for want of evidence)."""
    qid = q.id
    try:
        return decide.gather(lab, qid)
    except StepstoneError as exc:
        version = None
        if q.baseline:
            row = _baseline_row(lab, str(q.baseline))
            version = None if row is None else row.version
        return decide.Proposal(qid, q.rule, Verdict("inconclusive", ()), version, (),
                               (f"the evidence could not be gathered: {exc}",))


def _decision(lab: Lab, q: Question, proposal: decide.Proposal) -> DecisionInfo:
    pages = tuple(PageRef(p.number, p.kind, p.title, p.body)
                  for p in lab.notebook.pages(question_id=q.id, kind="decision"))
    return DecisionInfo(
        proposed=proposal.answer, reasons=tuple(proposal.verdict.reasons),
        flags=tuple(proposal.flags), answer=q.answer,
        overridden=bool(q.overridden), conclusion=q.conclusion, pages=pages,
        gains=tuple((k, *v) for k, v in proposal.gains.items()))



__all__ = ["Report", "build_report"]
