"""``stepstone demo``: the research method end to end on the byte LM, in a few minutes."""

from __future__ import annotations

from pathlib import Path

import click

from stepstone.cli.common import echo, json_option, print_json
from stepstone.errors import UsageError


@click.command("demo")
@click.option("--out", "out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the demo: its lab (.stepstone/) and the runs' working folder "
                   "(default: ./stepstone-demo, or -2, -3... if an earlier demo is there).")
@click.option("--lab", "lab", metavar="PATH", type=click.Path(file_okay=False, path_type=Path),
              help="Put the lab here instead of DIR/.stepstone (a new lab; no environment "
                   "variable is read, so the demo never writes into your own lab by accident).")
@click.option("--reduced", is_flag=True,
              help="Tiny rungs (4 baseline, 2 feature) for tests: a minute or two.")
@click.option("--workers", type=int, default=2, show_default=True,
              help="Runs of a ladder at once on this machine.")
@click.option("--bootstrap", type=int, default=200, show_default=True,
              help="Bootstrap refits of the baseline's law (the gain intervals).")
@click.option("--quiet", is_flag=True, help="No progress display and no summary.")
@json_option
def demo_cmd(out_dir: Path | None, lab: Path | None, reduced: bool, workers: int,
             bootstrap: int, quiet: bool, as_json: bool) -> None:
    """Run the research method end to end on a real task, in at most 5 minutes on 2 cores.

    In a new lab: an idea and a question with a gain rule and a time box; a dated baseline
    of the byte-level LM; the plan of a feature (the 4-shot loss) with its config diff
    verified, and a smoke run; a scaling ladder of the baseline (6 runs) and its noise floor
    (2 more seeds of one rung); the feature's ladder (2 rungs), real training runs launched
    2 at a time; the first verdict and, when it is inconclusive, what would settle it (the
    power analysis) and a second round of fresh seeds at the rungs it names; the baseline's
    law, the feature's gain per rung with intervals and the trend verdict, a stratified
    comparison; the decision; on yes, the promotion into a new dated baseline (in `baseline
    history`); the notebook pages, and a report (Markdown, HTML, figures).

    \b
    Example:
      stepstone demo
      stepstone demo --out /tmp/demo --workers 2
      stepstone demo --reduced --quiet --json
    """
    from stepstone.demo import DemoOptions, default_out, run_demo, summary_text

    if workers < 1:
        raise UsageError("--workers is at least 1")
    if bootstrap < 10:
        raise UsageError("--bootstrap is at least 10 refits")
    options = DemoOptions(out=out_dir if out_dir is not None else default_out(), lab=lab,
                          reduced=reduced, workers=workers, bootstrap=bootstrap,
                          quiet=quiet or as_json)
    result = run_demo(options)
    if as_json:
        print_json(result.to_dict())
    elif not quiet:
        echo(summary_text(result))
