"""Training losses: cross-entropy and the k-shot loss.

The k-shot loss (seed 003) rewards putting the true token among k samples: with p the model's
probability of the true token, the chance that k independent samples all miss it is
``(1 - p)^k``, so the loss is ``-log(1 - (1 - p)^k)``. k = 1 is cross-entropy.

It is computed from log-probabilities, never forming ``1 - p`` or ``1 - (1 - p)^k`` in floating
point, through the identity ``1 - (1 - p)^k = p * sum_{i<k} (1 - p)^i``:

    loss = -log p - logsumexp_{i=0..k-1} (i * log(1 - p))

``log p`` is a log-softmax, and ``log(1 - p)`` is the log-sum-exp of the *other* logits minus
the log-sum-exp of all of them. Both stay finite and accurate whether p is near 0 (the loss
tends to ``-log p - log k``) or near 1 (it tends to ``-log p``), and so do their gradients.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


def log_one_minus_p(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log(1 - p_y)`` per row of ``logits`` (N, V) for targets (N,), from the other logits.

    The target is masked with the dtype's lowest finite number, not -inf: at p = 1 (every
    other logit -inf) the result is that number, not -inf, so that ``0 * log(1 - p)`` is 0
    and no gradient is NaN."""
    is_target = F.one_hot(targets, logits.shape[-1]).bool()
    others = logits.masked_fill(is_target, torch.finfo(logits.dtype).min).logsumexp(-1)
    return others - logits.logsumexp(-1)


def kshot_nll(logits: torch.Tensor, targets: torch.Tensor, k: int) -> torch.Tensor:
    """Per-row ``-log(1 - (1 - p)^k)`` for logits (N, V) and targets (N,), by the identity in
    the module docstring (valid for every k >= 1; at k = 1 it is cross-entropy)."""
    logp = -F.cross_entropy(logits, targets, reduction="none")
    i = torch.arange(k, dtype=logits.dtype, device=logits.device)
    log_sum = (i * log_one_minus_p(logits, targets)[:, None]).logsumexp(-1)
    return -logp - log_sum


def kshot_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    k: int = 1,
    reduction: str = "mean",
) -> torch.Tensor:
    """``-log(1 - (1 - p)^k)`` with p the probability of the target; positions whose target is
    ``IGNORE_INDEX`` (-100) are left out. ``logits`` (..., V), ``targets`` (...). k = 1 is
    cross-entropy (computed by :func:`torch.nn.functional.cross_entropy`)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    logits = logits.reshape(-1, logits.shape[-1])
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # the loss is always computed in at least fp32
    targets = targets.reshape(-1)
    keep = targets != IGNORE_INDEX
    logits, targets = logits[keep], targets[keep]
    if k == 1:
        losses = F.cross_entropy(logits, targets, reduction="none")
    else:
        losses = kshot_nll(logits, targets, k)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.mean() if losses.numel() else losses.sum()
    raise ValueError(f"unknown reduction {reduction!r}")
