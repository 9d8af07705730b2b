"""Read a lab from Python: runs, histories, summaries, evaluations and fits.

Shaped like ``wandb.Api()`` where it fits::

    import stepstone
    api = stepstone.Api(lab=".")
    runs = api.runs(filters={"config.model.attention": "full", "status": "finished"})
    run = api.run("3f9k2a1b")
    run.config["lr"], run.summary["val/loss"]
    df = run.history(keys=["train/loss"])          # pandas; format="polars" for Polars
    for row in run.scan_history(keys=["train/loss"]):
        ...

Filters are a dict of field → value, where a field is a run column (``status``,
``project``, ``tags``, ``question``, ``baseline``, ``kind``, ``name``, ...), a
``config.<dotted.path>`` or a ``summary.<key>``; a value is matched for equality
(membership for ``tags``) or is a dict of MongoDB-style operators like wandb's
(``$eq $ne $gt $gte $lt $lte $in $nin $exists $regex``); ``$and`` and ``$or`` take
lists of filters.

The DataFrames are built from the same rows as ``stepstone export``:
:meth:`Api.runs_frame` (one row per run, ``config.*`` and ``summary.*`` columns) and
:meth:`Api.history_frame` (one row per point: run_id, key, step, value, time). Runs,
run lists and fits render as escaped HTML tables in Jupyter.
"""

from __future__ import annotations

from stepstone.api._api import Api
from stepstone.api._filters import matches
from stepstone.api._fit import Fit
from stepstone.api._run import Run
from stepstone.api._runs import Runs

__all__ = ["Api", "Fit", "Run", "Runs", "matches"]
