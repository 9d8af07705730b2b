"""What the task tests share: train a task for a few steps in a fresh lab and read it back.

A plain function, not a fixture (so not in conftest.py): the test calls it with its own task.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import stepstone
from stepstone.store.lab import open_lab


class LabRun(NamedTuple):
    result: dict[str, Any]  # what train() returned
    record: Any  # the run as the lab stores it (status, config, summary)
    history: Any  # key -> series with .steps
    records: list[dict[str, Any]]  # the evaluation records, flat as logged


def train_in_lab(train: Callable[..., dict[str, Any]], cfg: Any, project: str,
                 folder: Path) -> LabRun:
    """Run ``train(cfg, run=...)`` in a new run of a lab in ``folder`` and read it back."""
    run = stepstone.init(project=project, config=dataclasses.asdict(cfg), dir=folder)
    result = train(cfg, run=run)
    run.finish()
    lab = open_lab(folder / ".stepstone")
    try:
        return LabRun(result, lab.runs.get(run.id), lab.metrics.history(run.id),
                      [r.to_dict() for r in lab.evals.records(run.id)])
    finally:
        lab.close()
