"""``stepstone doctor | recover``: check a local lab's database; rebuild a damaged one."""

from __future__ import annotations

from pathlib import Path

import click

from stepstone.cli.common import echo, json_option, lab_option, print_json, print_table
from stepstone.errors import UsageError
from stepstone.store.lab import find_lab
from stepstone.store.repair import check_lab, recover_lab
from stepstone.store.target import DB_NAME


def _local_lab(lab: str | None) -> Path:
    root = find_lab(lab)
    if not (root / DB_NAME).exists():
        raise UsageError(f"{root} is a team store: its database is checked by the PostgreSQL "
                         "server (doctor and recover work on a local lab.db)")
    return root


@click.command("doctor")
@lab_option
@json_option
def doctor_cmd(lab: str | None, as_json: bool) -> None:
    """Check the lab's database (SQLite's integrity check, read-only): exit 0 when it is
    sound, 1 with the problems found when it is damaged.

    \b
    Example:
      stepstone doctor
      stepstone doctor --lab ~/projects/attention --json
    """
    health = check_lab(_local_lab(lab))
    if as_json:
        print_json(health.to_dict())
    elif health.ok:
        echo(f"{health.path}: ok (the integrity check found no problem)")
    else:
        echo(f"{health.path} is damaged:")
        for problem in health.problems:
            echo(f"  - {problem}")
        echo("run `stepstone recover` to copy what is readable into a new lab.db "
                   "(the damaged file is kept beside it)")
    if not health.ok:
        raise SystemExit(1)


@click.command("recover")
@click.option("--force", is_flag=True, help="Rebuild even a lab that the check finds sound.")
@lab_option
@json_option
def recover_cmd(force: bool, lab: str | None, as_json: bool) -> None:
    """Copy every readable row of a damaged lab.db into a new lab.db in its place; the damaged
    file is kept as lab.db.damaged-<time>, the objects folder is left as it is.

    \b
    Example:
      stepstone doctor || stepstone recover
    """
    root = _local_lab(lab)
    if check_lab(root).ok and not force:
        raise UsageError(f"{root / DB_NAME} is not damaged: nothing to recover "
                         "(--force rebuilds it anyway)")
    recovery = recover_lab(root)
    if as_json:
        print_json(recovery.to_dict())
        return
    rows = [{"table": name, "copied": count, "lost": recovery.lost.get(name, 0)}
            for name, count in sorted(recovery.copied.items())]
    if rows:
        print_table(rows, ("table", "copied", "lost"))
    if recovery.unreadable_tables:
        echo(f"not readable at all: {', '.join(recovery.unreadable_tables)}")
    echo(f"recovered {root / DB_NAME}; the damaged file is kept as {recovery.kept}")
