"""What counts as finished: a run that stopped before its learning-rate schedule ended is
not a finished result, even when its process exited cleanly.

Whether the schedule ended is read from the evidence, best first:

1. a logged learning rate (``lr``, ``learning_rate``, ``lr-AdamW``…) that varied: it
   completed when it came down to its configured final value (``min_lr``, ``eta_min``,
   ``final_lr``…, or ``min_lr_ratio`` × its peak), or to near zero when none is
   configured; with a configured final value, an lr still well above it did not;
2. the configured length (``steps``, ``max_steps``, ``total_steps``… at the top level
   or in a training section: ``train``, ``trainer``, ``optim``, ``scheduler``…) against
   a logged step metric (``step``, ``trainer/global_step``, ``train/step``…), else
   against the steps the run logged at when they were given explicitly (``step=``);
3. anything else is ambiguous — steps counted by the SDK's default counter (one per
   ``log()`` call, not a training step), conflicting config values, a constant lr — and
   an ambiguous run is never flagged.
"""

from __future__ import annotations

import math
import re
from itertools import pairwise

from stepstone.configs import flatten
from stepstone.configs.sections import is_training_key
from stepstone.store.lab import Lab
from stepstone.store.metrics import is_system_key
from stepstone.store.runs import RunRecord

LENGTH_KEYS = ("total_steps", "max_steps", "num_train_steps", "train_steps", "training_steps",
               "num_steps", "steps")
FINAL_LR_KEYS = ("min_lr", "lr_min", "final_lr", "end_lr", "lr_end", "eta_min",
                 "min_learning_rate", "final_learning_rate", "end_learning_rate")
FINAL_LR_RATIO_KEYS = ("min_lr_ratio", "final_lr_ratio", "lr_min_ratio")
LR_KEYS = ("lr", "learning_rate")
STEP_METRICS = ("step", "global_step", "train_step", "iteration")
LR_DONE = 0.1
"""An lr within this fraction of its range (peak − final value, or peak when no final value
is configured) of its final value has reached it."""
_SPLIT = re.compile(r"[/.]")


def _leaf(key: str) -> str:
    return _SPLIT.split(key)[-1]


def _configured(run: RunRecord, names: tuple[str, ...]) -> tuple[str, float] | None:
    """The one value the config gives any of ``names`` at the top level or in a training
    section, with its key; None when it gives none, or several that disagree."""
    found: dict[str, float] = {}
    for key, value in flatten(run.config, strict=False).items():
        leaf = key.rsplit(".", 1)[-1]
        if (leaf in names and is_training_key(key)
                and isinstance(value, int | float) and not isinstance(value, bool)
                and math.isfinite(value)):
            found[key] = float(value)
    if not found or len(set(found.values())) > 1:
        return None
    key = min(found, key=lambda k: (k.count("."), k))
    return key, found[key]


def planned_steps(run: RunRecord) -> tuple[str, int] | None:
    """The schedule's configured length and the key that says it (None when unclear)."""
    found = _configured(run, LENGTH_KEYS)
    if found is None or found[1] <= 0 or not found[1].is_integer():
        return None
    return found[0], int(found[1])


def _lr_verdict(run: RunRecord, key: str, values: list[float]) -> str | None:
    """``"done"``, the reason the logged lr shows the schedule unfinished, or None (it
    cannot tell: too few points, a constant lr, no known final value and not near zero)."""
    values = [v for v in values if math.isfinite(v)]
    if len(values) < 2 or max(values) <= 0 or max(values) == min(values):
        return None
    peak, last = max(values), values[-1]
    final = _configured(run, FINAL_LR_KEYS)
    ratio = _configured(run, FINAL_LR_RATIO_KEYS)
    end = final[1] if final else (ratio[1] * peak if ratio else None)
    if end is None:
        return "done" if last <= LR_DONE * peak else None
    if end >= peak:
        return None
    left = (last - end) / (peak - end)
    if left <= LR_DONE:
        return "done"
    return (f"its logged {key} ended at {last:.3g}, above its final value {end:.3g} (peak "
            f"{peak:.3g}; {1 - left:.0%} of the decay done): its learning-rate schedule had not "
            "completed")


def _reached(lab: Lab, run: RunRecord, keys: list[str]) -> tuple[int, int, str] | None:
    """The last training step the run logged, its logging interval, and where that comes
    from; None when the steps are ambiguous (the SDK's default counter)."""
    step_keys = [k for k in keys if _leaf(k) in STEP_METRICS]
    if not step_keys:  # the steps of the points, from the chunks' headers alone
        extents = [extent for key, extent in lab.metrics.extents(run.id).items()
                   if not is_system_key(key)]  # the samples' numbers are no steps
        if not extents:
            return None
        last = max(end for _n, _start, end in extents)
        if any(n == end + 1 and start == 0 and end == last for n, start, end in extents):
            return None  # one step per log() call: the default counter, or every step
        every = max(math.ceil((end - start) / max(n - 1, 1)) for n, start, end in extents)
        return last, max(every, 1), "its logged steps"
    history = lab.metrics.history(run.id, step_keys)
    key, steps = max(((k, s.values) for k, s in history.items()),
                     key=lambda item: max(item[1], default=-math.inf))
    seen = sorted({int(v) for v in steps if math.isfinite(v)})
    if not seen:
        return None
    every = max((b - a for a, b in pairwise(seen)), default=1)
    return seen[-1], every, f"its logged {key}"


def schedule_incomplete(lab: Lab, run: RunRecord) -> str | None:
    """Why ``run`` stopped before its learning-rate schedule ended, or None (finished, or
    the evidence is ambiguous)."""
    if run.kind == "smoke" or run.config.get("smoke"):
        return None
    keys = lab.metrics.keys(run.id)
    lr_keys = [k for k in keys if _leaf(k) in LR_KEYS or _leaf(k).startswith("lr-")]
    verdicts = [v for key, series in sorted(lab.metrics.history(run.id, lr_keys).items())
                if (v := _lr_verdict(run, key, series.values)) is not None]
    if verdicts:  # the lr decides; logged lrs that disagree leave it ambiguous
        return None if "done" in verdicts else verdicts[0]
    planned = planned_steps(run)
    reached = _reached(lab, run, keys) if planned else None
    if planned is None or reached is None:
        return None
    (config_key, total), (last, every, source) = planned, reached
    if last + every >= total:
        return None
    return (f"it stopped at step {last} of {total} ({source}; {config_key} = {total}): its "
            "learning-rate schedule had not completed")
