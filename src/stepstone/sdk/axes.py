"""``define_metric(name, step_metric=...)``: the step each logged key lands at.

wandb plots a metric defined with ``step_metric="train/global_step"`` against the last
value logged for ``train/global_step``; the Hugging Face and Lightning loggers define
``"*"`` that way and log the trainer's global step beside every row. stepstone stores
each point at one integer step, so a row is split by axis: a key whose step metric has
an integer value lands at that value, every other key at the run's own step. A step
metric itself lands at its own value (``train/global_step`` 40 at step 40). A name
defined exactly wins over a pattern; among patterns the latest wins. Media (an image,
a table) logged in a row land where a metric of their key would (:meth:`StepAxes.place`),
so that ``WandbLogger.log_image`` files an image at Lightning's global step.
"""

from __future__ import annotations

import fnmatch
import sys
from typing import Any


class StepAxes:
    """The ``step_metric`` definitions of one run and the last value of each step metric."""

    def __init__(self) -> None:
        self.defined = False  # any step_metric given: log() takes the slower path
        self._exact: dict[str, str | None] = {}  # name -> step metric (None: the run's step)
        self._patterns: list[tuple[str, str]] = []  # (pattern, step metric), latest last
        self._metrics: set[str] = set()  # every step metric named
        self._axis_of: dict[str, str | None] = {}  # cache of axis(key)
        self._last: dict[str, Any] = {}  # step metric -> last value logged
        self._warned: set[str] = set()

    def define(self, name: str, step_metric: str | None) -> None:
        """Record ``define_metric(name, step_metric=...)`` (``step_metric=None`` on an exact
        name pins that key to the run's step, overriding any pattern)."""
        self._axis_of.clear()
        if step_metric is not None:
            self._metrics.add(step_metric)
        if any(c in name for c in "*?["):
            if step_metric is not None:
                self._patterns = [p for p in self._patterns if p[0] != name]
                self._patterns.append((name, step_metric))
                self.defined = True
        else:
            self._exact[name] = step_metric
            self.defined = self.defined or step_metric is not None

    def axis(self, key: str) -> str | None:
        """The step metric ``key`` is plotted against, or None for the run's own step."""
        if key in self._axis_of:
            return self._axis_of[key]
        found: str | None
        if key in self._metrics:
            found = key
        elif key in self._exact:
            found = self._exact[key]
        else:
            found = next((metric for pattern, metric in reversed(self._patterns)
                          if fnmatch.fnmatchcase(key, pattern)), None)
        self._axis_of[key] = found
        return found

    def split(self, step: int, values: dict[str, Any]) -> dict[int, dict[str, Any]]:
        """``values`` grouped by the step each key lands at (``step`` when it has no axis)."""
        axes = [self.axis(key) for key in values]
        distinct = set(axes)
        for metric in distinct:
            if metric is not None and metric in values:
                self._last[metric] = values[metric]
        steps = {metric: self._step_of(metric, step) for metric in distinct}
        if len(set(steps.values())) == 1:  # the usual row: every key at one step
            return {steps[axes[0]]: values}
        rows: dict[int, dict[str, Any]] = {}
        for (key, value), metric in zip(values.items(), axes, strict=True):
            rows.setdefault(steps[metric], {})[key] = value
        return rows

    def place(self, step: int, values: dict[str, Any], key: str) -> int:
        """The step ``key`` lands at in a row logging ``values`` at ``step`` (``key`` itself
        need not be among ``values``: a media key)."""
        metric = self.axis(key)
        if metric is not None and metric in values:
            self._last[metric] = values[metric]
        return self._step_of(metric, step)

    def _step_of(self, metric: str | None, step: int) -> int:
        if metric is None or metric not in self._last:
            return step
        value = self._last[metric]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self._fallback(metric, value, step)
        if isinstance(value, float) and not value.is_integer():
            return self._fallback(metric, value, step)
        return int(value)

    def _fallback(self, metric: str, value: Any, step: int) -> int:
        if metric not in self._warned:
            self._warned.add(metric)
            print(f"stepstone: step_metric {metric!r} has the value {value!r}, not a whole "
                  "number: the points plotted against it stay at the run's own step",
                  file=sys.stderr)
        return step
