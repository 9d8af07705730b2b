"""The precision lints of a running script: warn on stderr and record them on the run.

A silent precision bug looks like a method failure, so say it out loud. Two checks:

* **fp16 without a gradient scaler**, from the run's config (:func:`check_config`, at
  ``stepstone.init`` and whenever the config changes; the rule is
  :func:`stepstone.configs.precision.config_lints`);
* **values outside the format's range** (:func:`lint_precision`, from the precision
  analysis): values above the format's largest finite value (they become inf), non-zero
  values that round to zero, values that are already inf or NaN.

A lint is recorded on the run (summary key ``lint/precision``, a list of messages), printed
on stderr, and shown on the run's result page and by ``stepstone show``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

from stepstone.configs.precision import SUMMARY_KEY, Lint, config_lints, precision_format
from stepstone.display import terminal_safe
from stepstone.errors import UsageError

UNDERFLOW_TOLERANCE = 1e-3
"""A cast that flushes more than this fraction of the values to zero is linted."""


def _normalize_format(fmt: str) -> str:
    found = precision_format(fmt)
    if found is None:
        raise UsageError(f"lint_precision checks fp16 or bf16 values, not {fmt!r}")
    return found


def value_lints(values: Any, fmt: str = "fp16", *, name: str = "values",
                underflow_tolerance: float = UNDERFLOW_TOLERANCE) -> list[Lint]:
    """Lints for casting ``values`` (an array, a tensor, a list) to ``fmt``: overflow,
    underflow to zero beyond ``underflow_tolerance``, values already non-finite."""
    import numpy as np

    from stepstone.analysis.precision import precision_report

    fmt = _normalize_format(fmt)
    if hasattr(values, "detach"):  # a torch tensor, without importing torch
        values = values.detach().float().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return []
    bad = ~np.isfinite(array)
    if bad.any():
        return [Lint("precision-nonfinite",
                     f"{name}: {int(bad.sum())} of {array.size} values are already inf or NaN "
                     f"(they overflowed before the {fmt} check)", name)]
    report = precision_report(array, formats=[fmt]).format(fmt)
    out = []
    if report.overflow_fraction > 0:
        out.append(Lint("precision-overflow",
                        f"{name}: {report.overflow_fraction:.3%} of the values exceed {fmt}'s "
                        f"largest finite value {report.max_value:.6g} (absmax "
                        f"{float(np.abs(array).max()):.6g}): they become inf", name))
    if report.underflow_fraction > underflow_tolerance:
        out.append(Lint("precision-underflow",
                        f"{name}: {report.underflow_fraction:.3%} of the values are non-zero "
                        f"but round to zero in {fmt}", name))
    return out


def record(summary: MutableMapping[str, Any] | None, lints: list[Lint], *,
           echo: bool = True) -> None:
    """Print each lint the run has not had yet on stderr and add it to the run's
    ``lint/precision`` summary list (``summary``: the run's; None: print only)."""
    if not lints:
        return
    known = list(summary.get(SUMMARY_KEY) or []) if summary is not None else []
    added = [lint.message for lint in lints if lint.message not in known]
    if echo:
        for message in added:
            print(terminal_safe(f"stepstone: precision warning: {message}"), file=sys.stderr)
    if summary is not None and added:
        summary[SUMMARY_KEY] = known + added


def lint_precision(values: Any, fmt: str = "fp16", *, name: str | None = None,
                   summary: MutableMapping[str, Any] | None = None,
                   underflow_tolerance: float = UNDERFLOW_TOLERANCE) -> list[Lint]:
    """Check ``values`` (a tensor or array: weights, activations, gradients) against ``fmt``'s
    range; warn on stderr and record the findings in ``summary`` (a run's; see
    :func:`stepstone.lint_precision`, which passes the current run's)."""
    lints = value_lints(values, fmt, name=name or "values",
                        underflow_tolerance=underflow_tolerance)
    record(summary, lints)
    return lints


def check_config(summary: MutableMapping[str, Any] | None,
                 config: Mapping[str, Any]) -> list[Lint]:
    """The config lints of a run, warned (each once) and recorded in its ``summary``; never
    raises. Called by ``stepstone.init`` and again whenever the run's config changes (a
    Lightning logger's hyperparameters, the HF callback's training arguments,
    ``run.config.update``)."""
    try:
        lints = config_lints(config)
        record(summary, lints)
    except Exception as exc:  # a lint must never break a run
        print(terminal_safe(f"stepstone: could not lint the config: {exc}"), file=sys.stderr)
        return []
    return lints
