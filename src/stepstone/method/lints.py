"""Precision lints: a silent precision bug looks like a method failure, so say it out loud.

Two checks:

* **fp16 without a gradient scaler** (from the run's config, at ``stepstone.init`` and on the
  result page). The *training* precision decides, in this order (:func:`precision_of`):

  1. a training setting that names a 16-bit format: Hugging Face's ``fp16: true`` /
     ``bf16: true`` (``training_args.fp16``), DeepSpeed's ``fp16.enabled: true``, or a key
     ``precision`` (Lightning's ``trainer.precision``), ``mixed_precision`` (Accelerate),
     ``amp_dtype``, ``autocast_dtype`` anywhere (``fp16``, ``float16``, ``half``, ``16``,
     ``16-mixed``; ``bf16``, ``bfloat16``, ``bf16-mixed``);
  2. an amp flag ``amp`` / ``use_amp``: ``true`` is autocast, fp16 unless a training-level
     ``dtype`` says bf16 (``torch.autocast`` on CUDA defaults to float16); ``false`` is fp32;
  3. a training setting that says full precision (``fp16: false`` and no ``bf16: true``,
     ``precision: 32``, ``mixed_precision: no``): fp32, whatever a model dtype says;
  4. else a ``dtype`` / ``compute_dtype`` at the top level or in a training section
     (:data:`~stepstone.method.sections.TRAINING_SECTIONS`: ``train.dtype``, ...).

  A model's storage dtype is not its training precision: ``torch_dtype`` (Hugging Face's
  checkpoint dtype, often ``float16``) and a ``dtype`` anywhere else (``model.dtype``,
  ``data.dtype``) never decide. The scaler comes from ``grad_scaler``, ``use_grad_scaler``,
  ``scaler``, ``loss_scale``, ``loss_scaling``, ``dynamic_loss_scale`` (true, ``dynamic``, a
  number; ``loss_scale: 0`` is DeepSpeed's dynamic scaling, ``1`` is none). Frameworks that
  scale the loss themselves are quiet unless a key turns the scaler off: Lightning's
  ``16-mixed`` / ``16``, Hugging Face's ``fp16: true``, Accelerate's ``mixed_precision: fp16``
  and DeepSpeed's ``fp16.enabled`` (dynamic scaling unless ``loss_scale`` says otherwise).
  fp16's smallest normal value is 2^-14: small gradients flush to zero without loss scaling.
  bf16 has fp32's exponent range and needs no scaler.
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

from stepstone.display import terminal_safe
from stepstone.errors import UsageError
from stepstone.method.sections import is_training_key
from stepstone.store.runs import flatten

SUMMARY_KEY = "lint/precision"
PRECISION_KEYS = ("precision", "mixed_precision", "amp_dtype", "autocast_dtype")
"""Keys that name the training precision wherever they are in the config."""
DTYPE_KEYS = ("dtype", "compute_dtype")
"""Keys that name the training precision only at the top level or in a training section."""
AMP_FLAGS = ("amp", "use_amp")
SCALER_KEYS = ("grad_scaler", "use_grad_scaler", "scaler", "loss_scale", "loss_scaling",
               "dynamic_loss_scale")
FP16 = ("fp16", "float16", "half", "16", "16-mixed", "16-true", "torch.float16", "f16")
BF16 = ("bf16", "bfloat16", "bf16-mixed", "bf16-true", "torch.bfloat16")
FULL = ("fp32", "float32", "32", "32-true", "torch.float32", "f32", "single", "full", "no",
        "fp64", "float64", "64", "64-true", "double")
"""Values of a precision key that say full precision (Accelerate's ``no``: no mixed precision)."""
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


def _setting(key: str, value: Any) -> tuple[str, Any] | None:
    """What one config entry says about the training precision: ``("16", (fmt, scales))``,
    ``("full", None)``, ``("amp", on)``, ``("dtype", fmt)``, or None (nothing)."""
    parts = key.split(".")
    last, parents = parts[-1], parts[:-1]
    fmt = _format(value)
    flag = last in ("fp16", "bf16") or (last == "enabled" and parents[-1:] in (["fp16"],
                                                                             ["bf16"]))
    if flag and isinstance(value, bool):
        # Hugging Face TrainingArguments (its Trainer scales fp16 itself) and DeepSpeed's
        # fp16.enabled (dynamic loss scaling unless loss_scale says otherwise)
        name = last if last != "enabled" else parents[-1]
        return ("16", (name, name == "fp16")) if value else ("full", None)
    if last in PRECISION_KEYS:
        text = str(value).strip().lower()
        if fmt is not None:
            scales = (last == "precision" and (text in SELF_SCALING or value == 16)) or (
                last == "mixed_precision" and fmt == "fp16")  # Lightning; Accelerate
            return "16", (fmt, scales)
        return ("full", None) if text in FULL else None
    if last in AMP_FLAGS and isinstance(value, bool):
        return "amp", value
    if last in DTYPE_KEYS and is_training_key(key) and fmt:
        return "dtype", fmt
    return None


def precision_of(config: Mapping[str, Any]) -> tuple[str | None, bool]:
    """The training precision a config asks for (``fp16``, ``bf16`` or None for full
    precision) and whether the framework it names scales the loss by itself.

    A training setting naming a 16-bit format decides; else an amp flag; else a setting that
    says full precision; else a training-level ``dtype``. A model's storage dtype never does
    (see the module's docstring)."""
    said: dict[str, list[Any]] = {}
    for key, value in flatten(config).items():
        found = _setting(key, value)
        if found is not None:
            said.setdefault(found[0], []).append(found[1])
    dtype = (said.get("dtype") or [None])[0]
    if "16" in said:
        fmt, scales = said["16"][0]
        return fmt, scales
    if "amp" in said:
        return (dtype or "fp16", False) if any(said["amp"]) else (None, False)
    if "full" in said:
        return None, False
    return dtype, False


def scaler_of(config: Mapping[str, Any]) -> bool | None:
    """Whether the config turns a gradient scaler on (None: no key says). The plain name
    ``scaler`` counts only as a training setting (``data.scaler: standard`` is a feature
    scaler); the specific names (``grad_scaler``, ``loss_scale``, ...) count anywhere."""
    found: bool | None = None
    for key, value in flatten(config).items():
        last = key.rsplit(".", 1)[-1]
        if last == "scaler" and not is_training_key(key):
            continue
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
    """Print each lint the run has not had yet on stderr and add it to the run's
    ``lint/precision`` summary list."""
    if not lints:
        return
    known = list(run.summary.get(SUMMARY_KEY) or []) if run is not None else []
    added = [lint.message for lint in lints if lint.message not in known]
    if echo:
        for message in added:
            print(terminal_safe(f"stepstone: precision warning: {message}"), file=sys.stderr)
    if run is not None and added:
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


def check_config(run: Any, config: Mapping[str, Any]) -> list[Lint]:
    """The config lints of ``run``, warned (each once) and recorded; never raises. Called by
    ``stepstone.init`` and again whenever the run's config changes (a Lightning logger's
    hyperparameters, the HF callback's training arguments, ``run.config.update``)."""
    try:
        lints = config_lints(config)
        record(run, lints)
    except Exception as exc:  # a lint must never break a run
        print(terminal_safe(f"stepstone: could not lint the config: {exc}"), file=sys.stderr)
        return []
    return lints


def run_lints(config: Mapping[str, Any], summary: Mapping[str, Any]) -> list[str]:
    """Every precision lint of a stored run: its config's and those recorded while it ran."""
    messages = [lint.message for lint in config_lints(config)]
    recorded = summary.get(SUMMARY_KEY) or []
    if isinstance(recorded, str):
        recorded = [recorded]
    return messages + [m for m in recorded if m not in messages]
