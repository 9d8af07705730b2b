"""``stepstone import wandb | mlflow | tensorboard``: start a lab with the history you have."""

from __future__ import annotations

from pathlib import Path

import click

from stepstone.cli.common import echo, json_option, lab_option, print_json, print_table
from stepstone.importers._common import ImportReport


@click.group("import")
def import_group() -> None:
    """Import runs from wandb, MLflow or TensorBoard into the lab.

    Imported runs keep their ids, configs, metrics and times and are marked as
    imported; importing the same source twice duplicates nothing, and brings in
    what a run logged since the last import (it is replaced whole).

    \b
    Example:
      stepstone import wandb ./wandb
      stepstone import mlflow sqlite:///mlflow.db
      stepstone import tensorboard ./runs --project mnist
    """


def _show(report: ImportReport, as_json: bool, dry_run: bool) -> None:
    if as_json:
        print_json(report.to_dict())
        return
    verb = "would import" if dry_run else "imported"
    if report.imported:
        print_table(report.imported, ("id", "name", "status", "points", "from"),
                    title=f"{verb} {len(report.imported)} {report.source} runs")
    else:
        echo(f"{verb} no {report.source} runs")
    if report.updated:
        print_table(report.updated, ("id", "name", "status", "points", "from"),
                    title=f"{'would update' if dry_run else 'updated'} {len(report.updated)} "
                          f"runs that had grown since the last import")
    for item in report.skipped:
        echo(f"skipped {item['id']}: {item['reason']}", err=True)
    for note in report.notes:
        echo(f"note: {note}", err=True)


_dry_run = click.option("--dry-run", is_flag=True,
                        help="Read the source and report; write nothing.")


@import_group.command("wandb")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@_dry_run
@lab_option
@json_option
def wandb_cmd(source: Path, dry_run: bool, lab: str | None, as_json: bool) -> None:
    """Import wandb runs (offline or synced run folders) found under SOURCE.

    SOURCE is a wandb folder, one run folder, or one run-<id>.wandb file.

    \b
    Example:
      stepstone import wandb ./wandb --json
    """
    from stepstone.importers.from_wandb import import_wandb

    _show(import_wandb(source, lab, dry_run=dry_run), as_json, dry_run)


@import_group.command("mlflow")
@click.argument("uri")
@click.option("--experiment", "experiments", multiple=True,
              help="Only this experiment (a name or id; repeatable).")
@_dry_run
@lab_option
@json_option
def mlflow_cmd(uri: str, experiments: tuple[str, ...], dry_run: bool, lab: str | None,
               as_json: bool) -> None:
    """Import the runs of an MLflow tracking store at URI.

    URI is a tracking URI (sqlite:///mlflow.db, http://host:5000), an mlruns folder or
    an MLflow SQLite file.

    \b
    Example:
      stepstone import mlflow sqlite:///mlflow.db --experiment baseline
    """
    from stepstone.importers.from_mlflow import import_mlflow

    _show(import_mlflow(uri, lab, experiments=experiments, dry_run=dry_run), as_json, dry_run)


@import_group.command("tensorboard")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--project", help="Project of the imported runs (default: SOURCE's folder name).")
@_dry_run
@lab_option
@json_option
def tensorboard_cmd(source: Path, project: str | None, dry_run: bool, lab: str | None,
                    as_json: bool) -> None:
    """Import TensorBoard runs (folders of event files) found under SOURCE.

    \b
    Example:
      stepstone import tensorboard ./runs --project mnist
    """
    from stepstone.importers.from_tensorboard import import_tensorboard

    _show(import_tensorboard(source, lab, project=project, dry_run=dry_run), as_json, dry_run)
