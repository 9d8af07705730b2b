"""A run's result page in the notebook, written once per status when the run ends: its
status and reason, baseline and config change, whether it is a finished result, its
numbers, its precision lints, its suite checks (a tier's run) and its evaluator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepstone.display import changes
from stepstone.method import evaluator, lints
from stepstone.method.notebook import write
from stepstone.method.schedule import schedule_incomplete
from stepstone.store.lab import Lab
from stepstone.store.notebook import Page
from stepstone.store.runs import RunRecord

if TYPE_CHECKING:  # the suites are imported only for a run of a tier (see _run_lines)
    from stepstone.method.suites import SuiteResult


def _run_lines(lab: Lab, run: RunRecord) -> tuple[str, dict[str, Any]]:
    lines = [f"Run `{run.id}` `{run.name}` ({run.kind}) ended **{run.status}**"
             + (f": {run.reason}" if run.reason else "") + "."]
    if run.baseline:
        lines.append(f"Baseline: {run.baseline}.")
    if run.config_delta:
        lines.append("Config change: " + changes(dict(sorted(run.config_delta.items()))))
    schedule = schedule_incomplete(lab, run)
    if schedule:
        lines.append(f"Not a finished result: {schedule}.")
    numbers = {k: v for k, v in run.summary.items() if isinstance(v, int | float)}
    for key, value in numbers.items():
        lines.append(f"- {key} = {value:.6g}" if isinstance(value, float) else
                     f"- {key} = {value}")
    warnings = lints.run_lints(run.config, run.summary)
    lines += [f"Precision lint: {w}" for w in warnings]
    checks: list[SuiteResult] = []
    if run.baseline:  # only a tier's run has suites: the rest skip their import (~60 ms)
        from stepstone.method import suites

        checks = suites.check_on_finish(lab, run.id)
        lines += suites.lines(checks)
    evaluator.pin(lab, run)
    other = evaluator.differs(lab, run)
    if other:
        lines.append(f"Evaluator: {other}; `decide` leaves this run out.")
    data = {"run_id": run.id, "status": run.status, "summary": numbers,
            "incomplete_schedule": schedule, "precision_lints": warnings,
            "suites": [c.to_dict() for c in checks],
            "evaluator_differs": other}
    return "\n".join(lines), data


def record_run_result(lab: Lab, run_id: str) -> Page | None:
    """Write the result page of a run that ended (once per status): the SDK's finish path
    (``run.finish()``, an uncaught exception, Ctrl-C, SIGTERM) calls it for a run it made,
    :func:`stepstone.launch.process.run_attached` for every run a launcher runs, and
    ``abandon``."""
    run = lab.runs.get(run_id)
    if run.status == "running":
        return None
    for page in lab.notebook.pages(run_id=run.id, kind="result"):
        if page.data.get("status") == run.status:
            return page
    body, data = _run_lines(lab, run)
    return write(lab, "result", f"Run {run.name} {run.status}", body,
                 question_id=run.question_id, run_id=run.id, data=data)
