"""Bring runs from other trackers into a lab: wandb, MLflow and TensorBoard.

Each importer reads its source through the source library's own reader (wandb's
protocol-buffer records, MLflow's client, TensorBoard's EventAccumulator), keeps the
original run ids, configs, metric series, summaries and times, marks every run with
``runs.imported_from`` and skips a run whose id is already in the lab::

    from stepstone.importers import import_wandb
    report = import_wandb("wandb/", lab=".")
    print(report.imported, report.skipped)

The command line is ``stepstone import wandb|mlflow|tensorboard``.
"""

from __future__ import annotations

from typing import Any

from stepstone.importers._common import ImportReport

__all__ = ["ImportReport", "import_mlflow", "import_tensorboard", "import_wandb"]


def import_wandb(*args: Any, **kwargs: Any) -> ImportReport:
    """See :func:`stepstone.importers.from_wandb.import_wandb`."""
    from stepstone.importers.from_wandb import import_wandb as run

    return run(*args, **kwargs)


def import_mlflow(*args: Any, **kwargs: Any) -> ImportReport:
    """See :func:`stepstone.importers.from_mlflow.import_mlflow`."""
    from stepstone.importers.from_mlflow import import_mlflow as run

    return run(*args, **kwargs)


def import_tensorboard(*args: Any, **kwargs: Any) -> ImportReport:
    """See :func:`stepstone.importers.from_tensorboard.import_tensorboard`."""
    from stepstone.importers.from_tensorboard import import_tensorboard as run

    return run(*args, **kwargs)
