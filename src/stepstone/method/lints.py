"""Precision lints: a silent precision bug looks like a method failure, so say it out loud.

Two checks:

* **fp16 without a gradient scaler** (from the run's config, at ``stepstone.init`` and on the
  result page). The precision is read from keys named ``precision``, ``dtype``, ``amp_dtype``,
  ``mixed_precision``, ``compute_dtype``, ``torch_dtype`` (``fp16``, ``float16``, ``half``,
  ``16``, ``16-mixed``; ``bf16``, ``bfloat16``, ``bf16-mixed``) or from ``fp16: true`` /
  ``fp16.enabled: true``; the scaler from ``grad_scaler``, ``use_grad_scaler``, ``scaler``,
  ``loss_scale``, ``loss_scaling``, ``dynamic_loss_scale`` (true, ``dynamic``, a number;
  ``loss_scale: 0`` is DeepSpeed's dynamic scaling, ``1`` is none). Lightning's ``16-mixed``
  / ``16`` and Hugging Face's ``fp16: true`` scale the loss themselves. fp16's smallest
  normal value is 2^-14: small gradients flush to zero without loss scaling. bf16 has fp32's
  exponent range and needs no scaler.
* **values outside the format's range** (:func:`lint_precision`, from the precision analysis):
  values above the format's largest finite value (they become inf), non-zero values that
  round to zero, values that are already inf or NaN.

A lint is recorded on the run (summary key ``lint/precision``, a list of messages), printed
on stderr, and shown on the run's result page and by ``stepstone show``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from stepstone.errors import UsageError
from stepstone.store.runs import flatten

SUMMARY_KEY = "lint/precision"
PRECISION_KEYS = ("precision", "dtype", "amp_dtype", "mixed_precision", "compute_dtype",
                  "torch_dtype", "autocast_dtype")
SCALER_KEYS = ("grad_scaler", "use_grad_scaler", "scaler", "loss_scale", "loss_scaling",
               "dynamic_loss_scale")
FP16 = ("fp16", "float16", "half", "16", "16-mixed", "16-true", "torch.float16", "f16")
BF16 = ("bf16", "bfloat16", "bf16-mixed", "bf16-true", "torch.bfloat16")
SELF_SCALING = ("16", "16-mixed")
"""Lightning's fp16 precision values: the Trainer adds a gradient scaler itself."""
UNDERFLOW_TOLERANCE = 1e-3
"""A cast that flushes more than this fraction of the values to zero is linted."""


@dataclass(frozen=True)
class Lint:
    """One finding: a code, the message, and where it came from."""

    code: str
    message: str
    source: str  # "config" or the name of the checked values

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _format(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    text = str(value).strip().lower()
    if text in FP16:
        return "fp16"
    if text in BF16:
        return "bf16"
    return None


def _truthy_scaler(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if key == "loss_scale":  # DeepSpeed: 0 = dynamic scaling, 1 = none, else static
            return value != 1
        return value > 0
    if value is None:
        return False
    return str(value).strip().lower() not in ("", "false", "none", "off", "no", "0", "disabled")


def precision_of(config: Mapping[str, Any]) -> tuple[str | None, bool]:
    """The training precision a config asks for (``fp16``, ``bf16`` or None) and whether the
    framework it names scales the loss by itself."""
    flat = flatten(config)
    for key, value in flat.items():
        parts = key.split(".")
        last = parts[-1]
        if last in PRECISION_KEYS and _format(value):
            return _format(value), str(value).strip().lower() in SELF_SCALING or value == 16
        if last in ("fp16", "bf16") and value is True:  # Hugging Face TrainingArguments
            return last, last == "fp16"
        if last == "enabled" and len(parts) > 1 and parts[-2] in ("fp16", "bf16") and value is True:
            return parts[-2], False  # DeepSpeed: its fp16.loss_scale says the scaling
    return None, False


def scaler_of(config: Mapping[str, Any]) -> bool | None:
    """Whether the config turns a gradient scaler on (None: no key says)."""
    found: bool | None = None
    for key, value in flatten(config).items():
        last = key.rsplit(".", 1)[-1]
        if last in SCALER_KEYS:
            found = bool(found) or _truthy_scaler(last, value)
    return found


def config_lints(config: Mapping[str, Any]) -> list[Lint]:
    """The precision lints a run's config triggers (fp16 without a gradient scaler)."""
    fmt, self_scaling = precision_of(config)
    if fmt != "fp16":
        return []
    scaler = scaler_of(config)
    if scaler is True or (scaler is None and self_scaling):
        return []
    why = ("the config turns the gradient scaler off" if scaler is False else
           "no grad_scaler / loss_scale key in the config says a gradient scaler is on")
    return [Lint("fp16-no-grad-scaler",
                 f"trains in fp16 without a gradient scaler ({why}): gradients below 2^-14 "
                 "lose precision and below 2^-24 flush to zero, which looks like a method "
                 "failure. Use torch.amp.GradScaler (and set grad_scaler: true), or bf16.",
                 "config")]


def _normalize_format(fmt: str) -> str:
    found = _format(fmt)
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


def record(run: Any, lints: list[Lint], *, echo: bool = True) -> None:
    """Print each lint on stderr and add it to the run's ``lint/precision`` summary list."""
    if not lints:
        return
    if echo:
        for lint in lints:
            print(f"stepstone: precision warning: {lint.message}", file=sys.stderr)
    if run is None:
        return
    known = list(run.summary.get(SUMMARY_KEY) or [])
    added = [lint.message for lint in lints if lint.message not in known]
    if added:
        run.summary[SUMMARY_KEY] = known + added


def lint_precision(values: Any, fmt: str = "fp16", *, name: str | None = None,
                   run: Any = None, underflow_tolerance: float = UNDERFLOW_TOLERANCE
                   ) -> list[Lint]:
    """Check ``values`` (a tensor or array: weights, activations, gradients) against ``fmt``'s
    range; warn on stderr and record the findings on ``run`` (default: the current run)."""
    if run is None:
        from stepstone.sdk import session

        run = session.current()
    lints = value_lints(values, fmt, name=name or "values",
                        underflow_tolerance=underflow_tolerance)
    record(run, lints)
    return lints


def at_init(run: Any, config: Mapping[str, Any]) -> list[Lint]:
    """Called by ``stepstone.init``: the config lints, warned and recorded; never raises."""
    try:
        lints = config_lints(config)
        record(run, lints)
    except Exception as exc:  # a lint must never break a run
        print(f"stepstone: could not lint the config: {exc}", file=sys.stderr)
        return []
    return lints


def run_lints(config: Mapping[str, Any], summary: Mapping[str, Any]) -> list[str]:
    """Every precision lint of a stored run: its config's and those recorded while it ran."""
    messages = [lint.message for lint in config_lints(config)]
    recorded = summary.get(SUMMARY_KEY) or []
    if isinstance(recorded, str):
        recorded = [recorded]
    return messages + [m for m in recorded if m not in messages]
