"""``stepstone migrate | sync``: upgrade a lab's schema; copy a local lab into a team store."""

from __future__ import annotations

import os
from pathlib import Path

import click

from stepstone.cli.common import echo, json_option, lab_option, print_json, print_table
from stepstone.errors import UsageError
from stepstone.store import migrations
from stepstone.store.db import Database, is_postgres_url
from stepstone.store.lab import Lab, connect, find_lab, find_store
from stepstone.store.migrations import check_version, schema_version, upgrade
from stepstone.store.target import DB_NAME, StoreTarget, target_of_folder, target_of_url
from stepstone.store.team import sync


@click.command("migrate")
@click.option("--dry-run", is_flag=True, help="Only list the migrations that would run.")
@lab_option
@json_option
def migrate_cmd(dry_run: bool, lab: str | None, as_json: bool) -> None:
    """Upgrade a lab's schema to the one this stepstone needs.

    A local lab is upgraded on its own when opened; a team store (PostgreSQL) only by this
    command, so that one newer client never changes the schema under a whole team. A store
    newer than this stepstone is refused: upgrade stepstone instead.

    \b
    Example:
      stepstone migrate --dry-run
      STEPSTONE_STORE=postgresql://me@db/research stepstone migrate --json
    """
    target = find_store(lab)
    db = Database(target.database)
    try:
        before = schema_version(db)
        latest = migrations.LATEST
        pending = [m for m in migrations.MIGRATIONS if m.version > before]
        if before > latest:
            check_version(db, auto_upgrade=False)  # raises: upgrade stepstone
        if dry_run or before == latest:
            after = before
        else:
            before, after = upgrade(db)
    finally:
        db.close()
    applied = [] if dry_run else [m for m in pending if m.version <= after]
    if as_json:
        print_json({
            "lab": target.describe(), "from": before, "to": after, "latest": latest,
            "dry_run": dry_run,
            "migrations": [{"version": m.version, "name": m.name} for m in pending],
        })
        return
    if not pending:
        echo(f"{target.describe()} is at schema v{before}: nothing to do")
    elif dry_run:
        echo(f"{target.describe()} is at schema v{before}; `stepstone migrate` would apply:")
        for m in pending:
            echo(f"  v{m.version}  {m.name}")
    else:
        echo(f"upgraded {target.describe()} from schema v{before} to v{after}:")
        for m in applied:
            echo(f"  v{m.version}  {m.name}")


@click.command("sync")
@click.option("--to", "dest", metavar="URL|PATH", default=None,
              help="The store to copy into (default: $STEPSTONE_STORE, else the store.toml "
                   "of the source lab's folder).")
@click.option("--objects", default=None, metavar="PATH|URL",
              help="Where a --to URL keeps its objects (default: $STEPSTONE_OBJECTS).")
@lab_option
@json_option
def sync_cmd(dest: str | None, objects: str | None, lab: str | None, as_json: bool) -> None:
    """Copy a local lab into a team store: runs, configs, summaries, metrics, evaluations,
    notebook pages, every other table, and the objects they use.

    Nothing is copied twice: running it again adds only what is new (a run that went on
    logging, a page written since). A row that exists on both sides with other values takes
    the local one (a run that finished after the last sync), except where the store's run is
    newer: a later last write or end there (a spooled run that went on in the store) keeps
    the store's row, config and summary, and only what it lacks is added ("kept"). Both must
    be at the same schema version (see `stepstone migrate`).

    \b
    Example:
      stepstone sync --to postgresql://me@db.example.org/research --objects /mnt/team/objects
      stepstone sync --lab ~/offline-lab --json
    """
    source_target = _source(lab)
    dest_target = _dest(dest, objects, source_target)
    with Lab(source_target.root, connect(source_target), source_target) as source, \
            Lab(dest_target.root, connect(dest_target), dest_target) as target:
        report = sync(source, target)
    if as_json:
        print_json({"from": source_target.describe(), "to": dest_target.describe(),
                    **report.to_dict()})
        return
    echo(f"{source_target.describe()} → {dest_target.describe()}")
    rows = [{"table": name, **vars(count)} for name, count in report.tables.items()
            if count.inserted or count.updated or count.unchanged or count.kept]
    if rows:
        print_table(rows, ("table", "inserted", "updated", "unchanged", "kept"))
    if report.kept:
        echo(f"kept: {report.kept} rows of runs the store holds newer (a later last write "
             "or end there) are left as they are")
    echo(f"objects: {report.objects_copied} copied, {report.objects_present} already there"
               + (f", {len(report.objects_missing)} missing from the source"
                  if report.objects_missing else ""))
    if report.inserted == 0 and report.updated == 0 and report.objects_copied == 0:
        echo("nothing new: the store already had everything")


def _source(lab: str | None) -> StoreTarget:
    """The lab to copy from: a local lab folder's lab.db (even next to a store.toml), or a URL."""
    if lab is not None and is_postgres_url(lab):
        return target_of_url(lab)
    root = find_lab(lab)
    if (root / DB_NAME).exists():
        return StoreTarget(str(root / DB_NAME), str(root / "objects"), root)
    raise UsageError(f"{root} has no local lab.db to copy: it is a team store already")


def _dest(dest: str | None, objects: str | None, source: StoreTarget) -> StoreTarget:
    chosen = dest or os.environ.get("STEPSTONE_STORE")
    if chosen is None:
        if source.root is not None and (source.root / "store.toml").exists():
            return target_of_folder(source.root)
        raise UsageError("give the team store to copy into: --to postgresql://... "
                         "(or set STEPSTONE_STORE)")
    if is_postgres_url(chosen):
        return target_of_url(chosen, objects)
    return find_store(Path(chosen).expanduser())
