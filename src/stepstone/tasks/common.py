"""Plumbing shared by the task scripts: flags from a dataclass, smoke mode, precision, the
learning-rate schedule, FLOPs, and opening a run.

Nothing here knows about a particular task; each task module stays an ordinary training script.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import random
import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import torch

SMOKE_ENV = "STEPSTONE_SMOKE"
PRECISIONS = ("fp32", "bf16", "fp16")

C = TypeVar("C")


# ---------------------------------------------------------------------------------------------
# Configs and flags


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_int_tuple(tp: Any) -> bool:
    return typing.get_origin(tp) is tuple and typing.get_args(tp)[:1] == (int,)


def _coerce(tp: Any, value: Any) -> Any:
    """Bring a value read back from a run config (JSON) to the field's type."""
    if value is None:
        return None
    if _is_int_tuple(tp):
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        return tuple(int(v) for v in value)
    if tp is bool:
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if tp in (int, float, str):
        return tp(value)
    return value


def config_from(cls: type[C], values: Mapping[str, Any], base: C | None = None) -> C:
    """A ``cls`` config whose fields come from ``values`` where present, else from ``base``
    (or the defaults). Unknown keys in ``values`` are ignored: a run config may carry more."""
    base = base if base is not None else cls()
    types_ = _field_types(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in values:
            kwargs[f.name] = _coerce(types_[f.name], values[f.name])
        else:
            kwargs[f.name] = getattr(base, f.name)
    return cls(**kwargs)


def plain_text(doc: str) -> str:
    """A module docstring as a terminal shows it: Sphinx roles (``:data:`x` ``) and double
    backticks dropped to their text, a literal block's ``::`` to one colon."""
    doc = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", doc)
    doc = re.sub(r"``([^`]+)``", r"\1", doc)
    return re.sub(r"::$", ":", doc, flags=re.MULTILINE)


def build_parser(
    cls: type, description: str | None = None, prog: str | None = None
) -> argparse.ArgumentParser:
    """An argparse parser with one ``--flag`` per dataclass field (``--no-flag`` for booleans,
    space- or comma-separated lists for tuples), defaulting to the dataclass defaults."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=plain_text(description) if description else description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = cls()
    types_ = _field_types(cls)
    for f in dataclasses.fields(cls):
        tp = types_[f.name]
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        help_ = (f.metadata.get("help", "") + f" (default: {default!r})").strip()
        if tp is bool:
            parser.add_argument(
                flag,
                dest=f.name,
                action=argparse.BooleanOptionalAction,
                default=default,
                help=help_,
            )
        elif _is_int_tuple(tp):
            parser.add_argument(
                flag,
                dest=f.name,
                nargs="+",
                default=default,
                help=help_,
                type=lambda s: [int(v) for v in s.split(",") if v],
            )
        else:
            origin = tp if tp in (int, float, str) else str
            parser.add_argument(flag, dest=f.name, type=origin, default=default, help=help_)
    return parser


def parse_config(
    cls: type[C], argv: Sequence[str] | None, description: str | None, prog: str | None = None
) -> C:
    """The config the command line asks for; a bad value exits with one clear sentence."""
    parser = build_parser(cls, description, prog)
    values = vars(parser.parse_args(argv))
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        v = values[f.name]
        if isinstance(v, list):  # nargs="+" with comma-splitting gives a list of lists
            flat = (x for part in v for x in (part if isinstance(part, list) else [part]))
            values[f.name] = tuple(flat)
    try:
        return config_from(cls, values)
    except ValueError as exc:
        parser.error(str(exc))  # exits with status 2


def smoke_enabled(cfg_smoke: bool) -> bool:
    """Smoke mode: the config key ``smoke`` or the environment variable STEPSTONE_SMOKE=1."""
    env = os.environ.get(SMOKE_ENV, "").strip().lower()
    return cfg_smoke or env in ("1", "true", "yes", "on")


# ---------------------------------------------------------------------------------------------
# Training helpers


def set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """The autocast context for ``precision`` (fp32: none)."""
    check_precision(precision)
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device, enabled: bool = True
                ) -> torch.amp.GradScaler:
    """A gradient scaler, on for fp16 only (bf16 has fp32's exponent range); ``enabled=False``
    trains fp16 without one (the precision lint then warns, as it should)."""
    return torch.amp.GradScaler(device.type, enabled=enabled and precision == "fp16")


def lr_at(
    step: int, total_steps: int, lr: float, warmup_steps: int, min_ratio: float = 0.1
) -> float:
    """Linear warmup then cosine decay to ``min_ratio * lr``."""
    if warmup_steps > 0 and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases, norms or embeddings)."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_matrix = p.dim() >= 2 and "emb" not in name
        (decay if is_matrix else no_decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98))


def training_flops(
    n_params: int,
    tokens: int,
    *,
    n_params_non_embedding: int | None = None,
    n_layer: int | None = None,
    d_model: int | None = None,
    n_ctx: int | None = None,
) -> tuple[float, str]:
    """Training compute and the name of the estimate, for the run's ``flops_method``.

    With the model shape (``n_layer``, ``d_model``, ``n_ctx``: the context each token attends
    over; ``n_params_non_embedding``, Kaplan's N, else N from the shape): Kaplan's count
    with the attention term, ``(6N + 6·n_layer·n_ctx·d_model)·D``
    (:func:`stepstone.analysis.flops.flops_kaplan`, method ``kaplan``). Without it: 6·N·D
    with N the total parameter count (:func:`~stepstone.analysis.flops.flops_6nd`, ``6ND``).
    The analysis package loads here, once, at the end of training."""
    from stepstone.analysis.flops import flops_6nd, flops_kaplan

    if n_layer is not None and d_model is not None and n_ctx is not None:
        est = flops_kaplan(n_layer=n_layer, d_model=d_model, n_ctx=n_ctx, tokens=tokens,
                           n_params=n_params_non_embedding)
    else:
        est = flops_6nd(n_params, tokens)
    return est.flops, est.method


def pick_device(name: str) -> torch.device:
    """``"auto"``: CUDA when there is one, else the CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the body with ``n`` intra-op threads (0: leave torch's setting), then restore it.

    One thread is the default of the tasks: their models are tiny, and several threads on a
    busy 2-core machine spin against each other and run many times slower."""
    previous = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# ---------------------------------------------------------------------------------------------
# Runs


class MemoryRun:
    """A run that keeps everything in memory, shaped like the SDK's run handle.

    For using a task without a lab (``train(cfg, run=MemoryRun())``) and for tests of the
    training code itself. ``history`` maps a key to a list of (step, value).
    """

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self.id = "memory"
        self.config: dict[str, Any] = dict(config or {})
        self.summary: dict[str, Any] = {}
        self.history: dict[str, list[tuple[int, float]]] = {}
        self.evals: dict[str, list[dict[str, Any]]] = {}
        self.finished = False

    def log(self, data: Mapping[str, Any], step: int | None = None) -> None:
        for key, value in data.items():
            series = self.history.setdefault(key, [])
            series.append((step if step is not None else len(series), float(value)))

    def log_eval(self, records: Sequence[Mapping[str, Any]], name: str = "eval") -> None:
        self.evals.setdefault(name, []).extend(dict(r) for r in records)

    def finish(self, exit_code: int = 0) -> None:
        self.finished = True


@contextlib.contextmanager
def open_run(
    run: Any,
    *,
    project: str,
    name: str | None,
    config: Mapping[str, Any],
    tags: Sequence[str],
    smoke: bool,
    lab: str | None = None,
) -> Iterator[Any]:
    """Yield ``run`` when one was given (its owner finishes it; the task config fills in the
    keys its config lacks); otherwise start one with ``stepstone.init`` (kind ``smoke`` in
    smoke mode) and finish it on the way out, marked failed if training raised."""
    if run is not None:
        _fill_config(run, config)
        yield run
        return
    import stepstone

    own = stepstone.init(
        project=project,
        name=name,
        config=dict(config),
        tags=list(tags),
        job_type="train",
        kind="smoke" if smoke else None,
        lab=lab,
    )
    try:
        yield own
    except BaseException:
        _finish(own, exit_code=1)
        raise
    _finish(own, exit_code=0)


def name_for_config(run: Any, *, given: str, resolved: str) -> None:
    """Rename ``run`` after the config it really runs with (a launcher's config may change the
    keys a task's name shows), unless something else named it (``stepstone run --name``)."""
    if resolved != given and getattr(run, "name", None) == given:
        run.name = resolved


def _fill_config(run: Any, config: Mapping[str, Any]) -> None:
    target = getattr(run, "config", None)
    if target is None:
        return
    setdefaults = getattr(target, "setdefaults", None)
    if callable(setdefaults):
        setdefaults(dict(config))
    elif isinstance(target, dict):
        for key, value in config.items():
            target.setdefault(key, value)


def _finish(run: Any, exit_code: int) -> None:
    try:
        run.finish(exit_code=exit_code)
    except TypeError:  # a handle whose finish() takes no exit code
        run.finish()


def run_config(run: Any) -> Mapping[str, Any]:
    """The run's config as a mapping (the SDK's config object or a plain dict)."""
    config = getattr(run, "config", None)
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return config
    as_dict = getattr(config, "as_dict", None) or getattr(config, "to_dict", None)
    if callable(as_dict):
        return typing.cast(Mapping[str, Any], as_dict())
    return types.MappingProxyType(dict(vars(config)))
