"""The standards of a report, gathered from a lab: the evaluation suites and precision
lints of its runs, and the caveats they raise.
"""

from __future__ import annotations

from collections.abc import Sequence

from stepstone.configs.precision import config_lints
from stepstone.method import suites as suite_rules
from stepstone.method.lints import run_lints
from stepstone.report.model import (
    LintRow,
    StandardsInfo,
    SuiteRunResult,
)
from stepstone.store.baselines import BaselineVersion
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord


def _standards(lab: Lab, qruns: Sequence[RunRecord], bruns: Sequence[RunRecord],
               base_row: BaselineVersion | None) -> StandardsInfo:
    """Suite results (:func:`stepstone.method.suites.standing`: the newest recorded check, or
    one made now without recording it) of the question's runs, and of the baseline's own runs
    when its tier has a suite; the precision lints (:func:`stepstone.method.lints.run_lints`)
    of every run. Nothing is written to the lab."""
    tier = base_row.tier if base_row is not None else None
    tier_suites: tuple[str, ...] = ()
    if tier is not None:
        tier_suites = tuple(s.version for s in suite_rules.for_tier(lab, tier))
    arms = [("baseline", run) for run in bruns] + [("feature", run) for run in qruns]
    results: list[SuiteRunResult] = []
    found: list[LintRow] = []
    for arm, run in arms:
        if run.kind == "smoke":
            continue
        if arm == "feature" or tier_suites:
            for result in suite_rules.standing(lab, run):
                results.append(SuiteRunResult(
                    run_id=run.id, run_name=run.name, arm=arm, suite=result.suite,
                    passed=bool(result.passed), recorded=bool(result.recorded),
                    checks=tuple(result.results)))
        from_config = {lint.message for lint in config_lints(run.config)}
        for message in run_lints(run.config, run.summary):
            found.append(LintRow(run.id, run.name, arm, str(message),
                                 "config" if message in from_config else "recorded"))
    return StandardsInfo(tier, tier_suites, tuple(results), tuple(found))


def _standards_caveats(standards: StandardsInfo, runs: Sequence[RunRecord]) -> list[str]:
    """``run X fails suite S: check ... (value vs threshold)`` for each failing check and
    ``run X trains in fp16 without a gradient scaler: ...`` for each precision lint."""
    names = {r.id: r for r in runs}
    out: list[str] = []

    def who(run_id: str, arm: str) -> str:
        run = names.get(run_id)
        label = "baseline run" if arm == "baseline" else "run"
        return f"{label} {run_id}" + (f" ({run.name})" if run is not None else "")

    for result in standards.results:
        for check in result.checks:
            if check.passed:
                continue
            shown = "no value" if check.value is None else f"{check.value:.6g}"
            out.append(f"{who(result.run_id, result.arm)} fails suite {result.suite}: check "
                       f"{check.check} ({shown} vs {check.op} {check.threshold:.6g})"
                       + (f": {check.why}" if check.why else "")
                       + ("" if result.recorded else
                          "; checked for this report, no check was recorded"))
    for lint in standards.lints:
        text = lint.message if lint.source == "config" else f"has a precision lint: {lint.message}"
        out.append(f"{who(lint.run_id, lint.arm)} {text}")
    return out

