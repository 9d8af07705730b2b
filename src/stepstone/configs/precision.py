"""What a config says about its training precision, and the precision lint it raises.

**fp16 without a gradient scaler** (checked at ``stepstone.init``, whenever a run's config
changes, and on the result page). The *training* precision decides, in this order
(:func:`precision_of`):

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
   (:data:`~stepstone.configs.sections.TRAINING_SECTIONS`: ``train.dtype``, ...).

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

The lints a running script finds (this one, and values outside a format's range) are
recorded on the run by the SDK (:mod:`stepstone.sdk.lints`) under :data:`SUMMARY_KEY`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from stepstone.configs._flat import flatten
from stepstone.configs.sections import is_training_key

SUMMARY_KEY = "lint/precision"
"""The run summary key that holds the precision lints found while the run ran (a list of
messages)."""
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

@dataclass(frozen=True)
class Lint:
    """One finding: a code, the message, and where it came from."""

    code: str
    message: str
    source: str  # "config" or the name of the checked values

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def precision_format(value: Any) -> str | None:
    """``fp16`` or ``bf16`` for a value that names the format (``float16``, ``half``,
    ``torch.bfloat16``, ...), else None."""
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
    fmt = precision_format(value)
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
    for key, value in flatten(config, strict=False).items():
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
    for key, value in flatten(config, strict=False).items():
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
