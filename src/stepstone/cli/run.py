"""``stepstone run -- COMMAND``: launch any command as a recorded run."""

from __future__ import annotations

from pathlib import Path

import click

from stepstone.cli.common import json_option, lab_option, print_json
from stepstone.config import load_config, resolve
from stepstone.launch.process import LaunchSpec, run_attached
from stepstone.store.lab import open_lab


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--name", help="Run name (default: a generated one).")
@click.option("--project", default=None, help="Project (default: the current folder's name).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file (YAML, JSON or TOML) the run starts from.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key (dotted, Hydra style; +key=value adds one).")
@click.option("--tag", "tags", multiple=True, help="Tag the run (repeatable).")
@click.option("--kind", default="adhoc", show_default=True,
              type=click.Choice(["adhoc", "baseline", "feature", "rung", "smoke", "eval"]))
@lab_option
@json_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_cmd(name: str | None, project: str | None, config_file: Path | None,
            overrides: tuple[str, ...], tags: tuple[str, ...], kind: str, lab: str | None,
            as_json: bool, command: tuple[str, ...]) -> None:
    """Run COMMAND as a recorded run: output, exit code, duration, code and environment.

    A script that calls stepstone.init() attaches to this run and its metrics land
    in it; the resolved config reaches it as stepstone.config.

    \b
    Example:
      stepstone run --name lr-3e-4 --config base.yaml --set optim.lr=3e-4 -- python train.py
    """
    config = load_config(config_file) if config_file else {}
    config = resolve(config, list(overrides))
    with open_lab(lab) as opened:
        spec = LaunchSpec(command=list(command), project=project or Path.cwd().name, name=name,
                          config=config, tags=tags, kind=kind)
        record = run_attached(opened, spec, echo=not as_json)
    if as_json:
        print_json(record.to_dict())
    else:
        click.echo(f"run {record.id} ({record.name}) {record.status}"
                   + (f": {record.reason}" if record.reason else ""), err=True)
    if record.status != "finished":
        raise SystemExit(record.exit_code if record.exit_code and record.exit_code > 0 else 1)
