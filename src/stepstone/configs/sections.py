"""Where a config says how the model is trained, as opposed to what the model is.

A key at the top level or under one of :data:`TRAINING_SECTIONS` (``train.steps``,
``trainer.max_steps``, ``training_args.fp16``) is a training setting; the same name under
``model``, ``data`` or ``eval`` (``eval.steps``, ``model.dtype``) is not. The schedule check
(:mod:`stepstone.method.schedule`), the precision lints (:mod:`stepstone.configs.precision`) and
``stepstone headroom`` read training settings through this one list.
"""

from __future__ import annotations

TRAINING_SECTIONS = ("train", "training", "trainer", "training_args", "optim", "optimizer",
                     "optimization", "scheduler", "lr_scheduler", "schedule", "amp")


def is_training_key(key: str) -> bool:
    """Whether the dotted ``key`` is at the top level or inside training sections only."""
    return all(section in TRAINING_SECTIONS for section in key.split(".")[:-1])
