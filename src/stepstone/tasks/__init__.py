"""Reference research tasks, each an ordinary training script written against the public SDK.

- ``mqar``: multi-query associative recall (Zoology), buckets by number of pairs and distance;
- ``bytelm``: a byte-level language model on Python's own standard-library sources.

Each task module has a dataclass config, ``train(cfg, run=None) -> dict`` and ``main(argv)``,
and runs alone: ``python -m stepstone.tasks.mqar --help``. They share :mod:`.model` (a small
transformer with the attention, ProRes, LayerNorm-scaling variants), :mod:`.losses`
(cross-entropy and the k-shot loss) and :mod:`.loop` (``fit``, the training loop itself).
Importing this package does not import torch.
"""

from __future__ import annotations

import importlib
from types import ModuleType

TASKS: dict[str, str] = {
    "mqar": "stepstone.tasks.mqar",
    "bytelm": "stepstone.tasks.bytelm",
}


def get_task(name: str) -> ModuleType:
    """The task module called ``name`` (it has ``train``, ``main`` and a config class)."""
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(sorted(TASKS))}")
    return importlib.import_module(TASKS[name])


__all__ = ["TASKS", "get_task"]
