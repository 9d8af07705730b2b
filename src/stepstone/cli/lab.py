"""``stepstone init``: create a lab."""

from __future__ import annotations

from pathlib import Path

import click

from stepstone.cli.common import echo, json_option, print_json
from stepstone.store.lab import init_lab


@click.command("init")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--store", default=None, envvar="STEPSTONE_STORE", metavar="URL",
              help="Put the lab on a team store: a postgresql:// URL (default: $STEPSTONE_STORE).")
@click.option("--objects", default=None, metavar="PATH|URL",
              help="With --store: the shared folder or fsspec URL for objects "
                   "(default: .stepstone/objects).")
@json_option
def init_cmd(folder: Path | None, store: str | None, objects: str | None, as_json: bool) -> None:
    """Create a lab (a .stepstone/ folder) in FOLDER, default the current directory.

    Running it again on an existing lab upgrades its schema and changes nothing else.

    \b
    Example:
      stepstone init
      stepstone init ~/research/attention --json
      stepstone init --store postgresql://me@db/research --objects /mnt/team/objects
    """
    root = init_lab(folder, store=store, objects=objects)
    if as_json:
        print_json({"lab": str(root)})
    else:
        echo(f"lab ready at {root}")
