"""``stepstone init``: create a lab."""

from __future__ import annotations

from pathlib import Path

import click

from stepstone.cli.common import json_option, print_json
from stepstone.store.lab import init_lab


@click.command("init")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@json_option
def init_cmd(folder: Path | None, as_json: bool) -> None:
    """Create a lab (a .stepstone/ folder) in FOLDER, default the current directory.

    Running it again on an existing lab upgrades its schema and changes nothing else.

    \b
    Example:
      stepstone init
      stepstone init ~/research/attention --json
    """
    root = init_lab(folder)
    if as_json:
        print_json({"lab": str(root)})
    else:
        click.echo(f"lab ready at {root}")
