"""Training FLOPs estimates and parameter counts. Every estimate says which method it used.

``6ND`` (Kaplan et al. 2020, §2.1; Hoffmann et al. 2022): training compute ≈ ``6·N·D`` for
``N`` parameters and ``D`` tokens (2 FLOPs per parameter per token forward, 4 backward).
GPT-3 175B on 300B tokens: ``6·175e9·300e9 = 3.15e23`` (the GPT-3 paper reports 3.14e23).

``kaplan`` (Kaplan et al. 2020, Table 1): forward FLOPs per token
``C_forward = 2N + 2·n_layer·n_ctx·d_attn`` with the non-embedding parameter count
``N = 2·d_model·n_layer·(2·d_attn + d_ff)`` (= ``12·n_layer·d_model²`` for
``d_attn = d_model``, ``d_ff = 4·d_model``); training is 3× forward, so
``C = 3·C_forward·D = (6N + 6·n_layer·n_ctx·d_attn)·D``. The attention term adds
``n_ctx / (12·d_model)`` relative to 6ND in the standard shape.

``measured``: FLOPs the run counted itself (a profiler, a FLOP counter) and logged.

:func:`count_parameters` counts a torch module's parameters, total and non-embedding
(Kaplan's N excludes token and position embeddings). It duck-types the module (anything
with ``named_parameters()`` and ``named_modules()``) and never imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stepstone.errors import AnalysisError

from ._common import ResultMixin

METHODS = ("6ND", "kaplan", "measured")


@dataclass(frozen=True)
class FlopsEstimate(ResultMixin):
    """Training FLOPs and how they were estimated (``method`` is one of ``METHODS``)."""

    flops: float
    method: str
    n_params: float | None
    tokens: float | None
    detail: str


@dataclass(frozen=True)
class ParameterCount(ResultMixin):
    """Parameters of a module: total, non-embedding (Kaplan's N), embedding, trainable."""

    total: int
    non_embedding: int
    embedding: int
    trainable: int
    embedding_modules: tuple[str, ...]
    method: str


def _positive(value: float | None, name: str) -> float:
    if value is None:
        raise AnalysisError(f"{name} is required for this FLOPs estimate.")
    v = float(value)
    if not (math.isfinite(v) and v > 0):
        raise AnalysisError(f"{name} must be a positive number; got {value!r}.")
    return v


def flops_6nd(n_params: float, tokens: float) -> FlopsEstimate:
    """Training FLOPs ``6·N·D``."""
    n = _positive(n_params, "n_params")
    d = _positive(tokens, "tokens")
    return FlopsEstimate(6.0 * n * d, "6ND", n, d, "6·N·D")


def kaplan_params(
    *, n_layer: int, d_model: int, d_attn: int | None = None, d_ff: int | None = None
) -> float:
    """Kaplan's non-embedding parameter count ``2·d_model·n_layer·(2·d_attn + d_ff)``."""
    nl = _positive(n_layer, "n_layer")
    dm = _positive(d_model, "d_model")
    da = dm if d_attn is None else _positive(d_attn, "d_attn")
    dff = 4.0 * dm if d_ff is None else _positive(d_ff, "d_ff")
    return 2.0 * dm * nl * (2.0 * da + dff)


def flops_kaplan(
    *,
    n_layer: int,
    d_model: int,
    n_ctx: int,
    tokens: float,
    d_attn: int | None = None,
    d_ff: int | None = None,
    n_params: float | None = None,
) -> FlopsEstimate:
    """Training FLOPs ``(6N + 6·n_layer·n_ctx·d_attn)·D`` (Kaplan et al. 2020, Table 1).

    ``n_params`` is the non-embedding count; when omitted it is computed from the shape.
    """
    nl = _positive(n_layer, "n_layer")
    ctx = _positive(n_ctx, "n_ctx")
    d = _positive(tokens, "tokens")
    da = _positive(d_model, "d_model") if d_attn is None else _positive(d_attn, "d_attn")
    n = (
        kaplan_params(n_layer=n_layer, d_model=d_model, d_attn=d_attn, d_ff=d_ff)
        if n_params is None
        else _positive(n_params, "n_params")
    )
    forward = 2.0 * n + 2.0 * nl * ctx * da
    return FlopsEstimate(
        3.0 * forward * d,
        "kaplan",
        n,
        d,
        "3·(2N + 2·n_layer·n_ctx·d_attn)·D",
    )


def flops_measured(flops: float) -> FlopsEstimate:
    """FLOPs the run measured and logged itself."""
    return FlopsEstimate(_positive(flops, "flops"), "measured", None, None, "logged by the run")


def estimate_flops(
    *,
    measured: float | None = None,
    n_params: float | None = None,
    tokens: float | None = None,
    n_layer: int | None = None,
    d_model: int | None = None,
    n_ctx: int | None = None,
    d_attn: int | None = None,
    d_ff: int | None = None,
) -> FlopsEstimate:
    """The best estimate the inputs allow: measured, else Kaplan (shape known), else 6ND."""
    if measured is not None:
        return flops_measured(measured)
    if n_layer is not None and d_model is not None and n_ctx is not None:
        return flops_kaplan(
            n_layer=n_layer,
            d_model=d_model,
            n_ctx=n_ctx,
            tokens=_positive(tokens, "tokens"),
            d_attn=d_attn,
            d_ff=d_ff,
            n_params=n_params,
        )
    if n_params is not None and tokens is not None:
        return flops_6nd(n_params, tokens)
    raise AnalysisError(
        "Cannot estimate FLOPs: give measured=, or n_params= and tokens= (6ND), "
        "or n_layer=, d_model=, n_ctx= and tokens= (Kaplan)."
    )


EMBEDDING_CLASSES = ("Embedding", "EmbeddingBag")


def count_parameters(module: Any, *, exclude: Sequence[str] = ()) -> ParameterCount:
    """Parameters of a torch ``nn.Module``: total and non-embedding.

    Embedding parameters are those owned by ``nn.Embedding``/``nn.EmbeddingBag`` modules
    (or subclasses), plus any parameter whose name starts with a prefix in ``exclude``
    (e.g. an untied output head you want counted as embedding). Shared (tied) tensors are
    counted once, so a head tied to the token embedding is embedding.
    """
    if not (hasattr(module, "named_parameters") and hasattr(module, "named_modules")):
        raise AnalysisError(
            "count_parameters needs a torch nn.Module (something with named_parameters())."
        )
    embed_ids: set[int] = set()
    embed_names: list[str] = []
    for name, sub in module.named_modules():
        if any(cls.__name__ in EMBEDDING_CLASSES for cls in type(sub).__mro__):
            embed_names.append(name)
            for p in sub.parameters(recurse=False):
                embed_ids.add(id(p))
    total = non_embedding = trainable = 0
    seen: set[int] = set()
    for name, p in module.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        count = int(p.numel())
        total += count
        if getattr(p, "requires_grad", True):
            trainable += count
        if id(p) in embed_ids or any(name.startswith(prefix) for prefix in exclude):
            continue
        non_embedding += count
    return ParameterCount(
        total=total,
        non_embedding=non_embedding,
        embedding=total - non_embedding,
        trainable=trainable,
        embedding_modules=tuple(embed_names),
        method="torch-module",
    )
