"""``stepstone suite``: evaluation suites, the checks every later run of a baseline tier is
held to (rules in :mod:`stepstone.method.suites`)."""

from __future__ import annotations

from pathlib import Path

import click

from stepstone.cli.common import echo, json_option, lab_option, print_json, print_table
from stepstone.errors import UsageError
from stepstone.method import suites as suite_rules
from stepstone.method.suite_spec import check_text
from stepstone.store.lab import open_lab


@click.group("suite")
def suite_group() -> None:
    """Evaluation suites: the checks every later run of a baseline tier is held to.

    \b
    Example:
      stepstone suite create recall --from q1
      stepstone suite check 3f9k2a1b
    """


@suite_group.command("create")
@click.argument("name")
@click.option("--from", "question", help="Distill it from this answered question.")
@click.option("--file", "spec_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A suite written by hand (YAML or JSON with a list of checks).")
@click.option("--tier", help="The baseline tier it attaches to (default: the question's).")
@click.option("--constraint", "constraints", multiple=True, metavar="'METRIC OP NUMBER'",
              help="A hard constraint to add, e.g. 'latency_ms <= 1.0' (with --from).")
@click.option("--eval", "eval_name", help="The eval set whose buckets to distill (with --from).")
@click.option("--rung", help="When the question's runs span a ladder: the rung (scale) the "
                             "suite is for (default: the largest; with --from).")
@lab_option
@json_option
def suite_create(name: str, question: str | None, spec_file: Path | None, tier: str | None,
                 constraints: tuple[str, ...], eval_name: str | None, rung: str | None,
                 lab: str | None, as_json: bool) -> None:
    """Create a suite (or its next dated version: a suite is never edited in place).

    \b
    Example:
      stepstone suite create recall --from q1 --constraint "latency_ms <= 1.0"
      stepstone suite create recall --file recall.yaml --tier small
    """
    if (question is None) == (spec_file is None):
        raise UsageError("give --from QUESTION to distill a suite, or --file SPEC for one "
                         "written by hand")
    with open_lab(lab) as opened:
        if question is not None:
            row = suite_rules.distill(opened, name, question, tier=tier,
                                      constraints=constraints, eval_name=eval_name, rung=rung)
        else:
            if constraints or eval_name or rung:
                raise UsageError("--constraint, --eval and --rung go with --from; write them "
                                 "in the file")
            assert spec_file is not None
            row = suite_rules.create(opened, name, spec_file, tier=tier)
    if as_json:
        print_json(row)
        return
    echo(f"suite {row.version} created" + (f" for tier {row.tier}" if row.tier
                                              else " (attached to no tier)")
               + (f" at rung {row.spec.rung}" if row.spec.rung is not None else "")
               + (f", replacing {row.parent}" if row.parent else ""))
    for check in row.spec.checks:
        echo(f"  {check_text(check)}  ({check.kind})")


@suite_group.command("list")
@lab_option
@json_option
def suite_list(lab: str | None, as_json: bool) -> None:
    """Every suite version, with its tier and where it came from.

    \b
    Example:
      stepstone suite list --json
    """
    with open_lab(lab) as opened:
        versions = opened.suites.list()
        current = {n: opened.suites.current(n) for n in opened.suites.names()}
    rows = [{**r.to_dict(), "current": current.get(r.name) == r, "checks": len(r.spec.checks)}
            for r in versions]
    if as_json:
        print_json(rows)
        return
    print_table(rows, ("version", "tier", "question_id", "parent", "checks", "current"),
                title=f"{len(rows)} suite versions")


@suite_group.command("show")
@click.argument("suite")
@lab_option
@json_option
def suite_show(suite: str, lab: str | None, as_json: bool) -> None:
    """One suite (a name means its newest version): checks and the runs checked against it.

    \b
    Example:
      stepstone suite show recall
      stepstone suite show recall@2026-11-21 --json
    """
    with open_lab(lab) as opened:
        row = suite_rules.get(opened, suite)
        checked = suite_rules.checked(opened, row.version)
    runs = [{"run_id": c.run_id, "passed": c.passed, "results": c.results} for c in checked]
    if as_json:
        print_json({**row.to_dict(), "runs": runs})
        return
    echo(f"{row.version}  tier: {row.tier or 'none'}  parent: {row.parent or 'none'}"
               + (f"  from: {row.question_id}" if row.question_id else ""))
    spec = row.spec
    if spec.description:
        echo(f"  {spec.description}")
    if spec.rung is not None:
        ladder = ", ".join(map(str, spec.rungs or [spec.rung]))
        echo(f"  holds rung {spec.rung} (of {ladder}): runs of other scales are not "
                   "checked")
    for check in spec.checks:
        basis = f"  ({check.basis})" if check.basis else ""
        echo(f"  [{check.kind}] {check_text(check)}{basis}")
    for bucket in spec.buckets or []:
        means = ", ".join(f"{k}: {v:.3g}" for k, v in bucket["means"].items())
        echo(f"  buckets of {bucket['field']} ({bucket['stat']}): {means}; "
                   f"worst {bucket['worst']}")
    for result in checked:
        echo(f"  run {result.run_id}: {'PASS' if result.passed else 'FAIL'}")


@suite_group.command("check")
@click.argument("run")
@click.option("--suite", help="Check against this suite (default: every suite of the run's tier).")
@lab_option
@json_option
def suite_check(run: str, suite: str | None, lab: str | None, as_json: bool) -> None:
    """Check a run against its tier's suites (or one suite): pass / fail per check, with the
    numbers; a suite of another scale is skipped. Exits 1 when a check fails.

    \b
    Example:
      stepstone suite check 3f9k2a1b
      stepstone suite check 3f9k2a1b --suite recall --json
    """
    with open_lab(lab) as opened:
        results = suite_rules.check_run(opened, run, suite=suite)
    if as_json:
        print_json(results)
    elif not results:
        echo(f"run {run} has no suites to pass: its baseline tier has none attached")
    else:
        for line in suite_rules.lines(results):
            echo(line.replace("**", ""))
    if any(r.passed is False for r in results):
        raise SystemExit(1)
