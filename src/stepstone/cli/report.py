"""``stepstone report QUESTION``: a question's write-up as Markdown and self-contained HTML."""

from __future__ import annotations

from pathlib import Path

import click

from stepstone.cli.common import echo, json_option, lab_option, print_json

FORMS = ("compute", "power", "chinchilla")


@click.command("report")
@click.argument("question")
@click.option("--out", "out_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Folder for report.md, report.html and figures/ "
                   "(default: <lab>/reports/<question>/).")
@click.option("--bootstrap", "n_bootstrap", type=int, default=1000, show_default=True,
              help="Bootstrap refits of the baseline's scaling law (its intervals).")
@click.option("--form", type=click.Choice(FORMS), default="compute", show_default=True,
              help="Law fitted to the baseline's runs.")
@click.option("--baseline-fit", "fit_ref", metavar="FIT",
              help="Use this stored fit (id or label) as the baseline's law instead.")
@click.option("--tolerance", type=float, default=0.1, show_default=True,
              help="Gain trend within ±this per decade of compute counts as stable.")
@click.option("--min-count", type=int, default=30, show_default=True,
              help="Evaluation buckets with fewer examples are flagged thin.")
@lab_option
@json_option
def report_cmd(question: str, out_dir: str | None, n_bootstrap: int, form: str,
               fit_ref: str | None, tolerance: float, min_count: int,
               lab: str | None, as_json: bool) -> None:
    """Write a question's report: Markdown, one self-contained HTML file, and PNG figures.

    The report holds the question and its rule; the setup (baseline version, config diff,
    code and environment); the results table; the baseline's fitted law and the gain per
    rung (figures); the stratified evaluation; the decision and the conclusion; the caveats
    (unfinished or abandoned runs, thin buckets, extrapolation beyond the fitted range);
    and the commands that reproduce every run. The lab is only read.

    \b
    Example:
      stepstone report q1
      stepstone report q1 --out reports/qk-norm --bootstrap 200
      stepstone report q3 --baseline-fit base-law --json
    """
    from stepstone.errors import UsageError
    from stepstone.report import build_report, write_report
    from stepstone.store.lab import open_lab

    if n_bootstrap < 0:
        raise UsageError("--bootstrap is a count of refits, 0 or more")
    if min_count < 1:
        raise UsageError("--min-count is at least 1")
    with open_lab(lab) as opened:
        report = build_report(opened, question, n_bootstrap=n_bootstrap, form=form,
                              fit_ref=fit_ref, tolerance=tolerance,
                              min_count=min_count)
        if out_dir is not None:
            folder = Path(out_dir)
        elif opened.root is not None:
            folder = Path(opened.root) / "reports" / report.question.id
        else:
            folder = Path.cwd() / "reports" / report.question.id
    paths = write_report(report, folder)
    if as_json:
        print_json({"paths": paths.to_dict(), "report": report.to_dict()})
        return
    echo(f"report on {report.question.id} ({report.decision.proposed} proposed"
               + (f", answered {report.decision.answer}" if report.decision.answer else "")
               + f", {len(report.caveats)} caveat(s)):")
    echo(f"  {paths.markdown}")
    echo(f"  {paths.html}")
    for figure in paths.figures:
        echo(f"  {figure}")
