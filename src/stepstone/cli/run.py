"""``stepstone run -- COMMAND``: launch any command as a recorded run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from stepstone.cli.common import (
    echo,
    json_option,
    lab_option,
    monitor_env,
    monitor_options,
    print_json,
)
from stepstone.integrations.as_wandb import python_path
from stepstone.method.preflight import Prepared
from stepstone.store.lab import open_lab


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.option("--name", help="Run name (default: a generated one).")
@click.option("--project", default=None, help="Project (default: the current folder's name).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Config file (YAML, JSON or TOML) the run starts from.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config key (dotted, Hydra style; +key=value adds one).")
@click.option("--tag", "tags", multiple=True, help="Tag the run (repeatable).")
@click.option("--kind", default=None,
              type=click.Choice(["adhoc", "baseline", "feature", "rung", "smoke", "eval"]),
              help="Run kind (default: feature with --question, else adhoc).")
@click.option("--baseline", help="Start from this baseline (tier or version) and verify "
              "(default: the question's baseline).")
@click.option("--question", help="The question this run answers; one asked against a "
              "baseline starts from it and is verified as with --baseline.")
@click.option("--feature", "features", multiple=True, help="Feature keys that must change.")
@click.option("--allow", "allowed", multiple=True, help="Other keys that may change.")
@click.option("--smoke", is_flag=True, help="Run a tiny smoke run first; stop if it fails.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (for scripts).")
@click.option("--as-wandb", is_flag=True, help="Make `import wandb` in the command resolve to "
              "stepstone (for libraries that log to wandb: Trainer(report_to='wandb'), "
              "Lightning's WandbLogger); see docs/integrations/wandb.md.")
@monitor_options
@lab_option
@json_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_cmd(name: str | None, project: str | None, config_file: Path | None,
            overrides: tuple[str, ...], tags: tuple[str, ...], kind: str | None,
            baseline: str | None, question: str | None, features: tuple[str, ...],
            allowed: tuple[str, ...], smoke: bool, yes: bool, as_wandb: bool, lab: str | None,
            as_json: bool, command: tuple[str, ...], **monitor: Any) -> None:
    """Run COMMAND as a recorded run: output, exit code, duration, code and environment.

    A script that calls stepstone.init() attaches to this run and its metrics land
    in it; the resolved config reaches it as stepstone.config. With --baseline (or a
    --question asked against a baseline) the config is the baseline's plus --set,
    verified before launch (the diff is shown).

    \b
    Example:
      stepstone run --name lr-3e-4 --config base.yaml --set optim.lr=3e-4 -- python train.py
      stepstone run --baseline small --question q1 --set model.qk_norm=true --smoke --yes \\
        -- python train.py
      stepstone run --as-wandb -- python train_with_hf_trainer.py
      stepstone run --monitor --stop-on-alert --on-alert "notify-send stepstone" -- python t.py
    """
    from stepstone.launch.jobs import RunRequest, launch_run

    def approve(prepared: Prepared) -> None:
        if not as_json:
            echo(f"against {prepared.baseline_version}:\n{prepared.diff.render()}",
                       err=True)
        if not yes and sys.stdin.isatty():
            click.confirm("Launch with this config?", abort=True)

    request = RunRequest(command=command, name=name, project=project, config_file=config_file,
                         overrides=overrides, tags=tags, kind=kind, baseline=baseline,
                         question=question, features=features, allowed=allowed, smoke=smoke,
                         env={**({"PYTHONPATH": python_path()} if as_wandb else {}),
                              **monitor_env(monitor)})
    with open_lab(lab) as opened:
        record = launch_run(opened, request, echo=not as_json, approve=approve)
    if as_json:
        print_json(record.to_dict())
    else:
        echo(f"run {record.id} ({record.name}) {record.status}"
                   + (f": {record.reason}" if record.reason else ""), err=True)
    if record.status != "finished":
        raise SystemExit(record.exit_code if record.exit_code and record.exit_code > 0 else 1)
