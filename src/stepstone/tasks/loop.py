"""The training loop the tasks share: AdamW with warmup and cosine decay, the k-shot loss, a
gradient scaler and clipping, periodic logging and evaluation, then the final evaluation and the
run summary.

A task hands :func:`fit` its model, a batch source and its evaluation, and keeps to itself what
is its own: the data, what it evaluates and how, and the extra keys of its summary.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import torch

from stepstone.tasks.common import (
    autocast,
    grad_scaler,
    lr_at,
    make_optimizer,
    training_flops,
)
from stepstone.tasks.losses import kshot_loss
from stepstone.tasks.model import Transformer, count_params

Metrics = dict[str, float]
Records = list[dict[str, Any]]
# step -> (inputs, targets), both (batch, seq_len); a target of -100 is not trained on
NextBatch = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


class Evaluate(Protocol):
    """The task's evaluation of the model as it is now: metrics, and per-example records when
    asked (only the final evaluation asks)."""

    def __call__(self, with_records: bool = False) -> tuple[Metrics, Records]: ...


class TrainConfig(Protocol):
    """The config fields :func:`fit` reads; every task config has them."""

    steps: int
    lr: float
    weight_decay: float
    warmup_steps: int
    grad_clip: float
    kshot_k: int
    precision: str
    grad_scaler: bool
    eval_every: int
    log_every: int
    seed: int
    smoke: bool


def kaplan_shape(model: Transformer, seq_len: int) -> dict[str, int]:
    """What Kaplan's count needs of ``model`` (see :func:`~stepstone.tasks.common.training_flops`):
    the layers, the width and the context each token attends over, for softmax attention (the
    whole sequence, or the window); nothing for linear and delta-rule attention, whose cost has
    no such term, so their runs count 6·N·D."""
    cfg = model.cfg
    if cfg.attention == "full":
        context = seq_len
    elif cfg.attention == "sliding_window":
        context = min(cfg.window, seq_len)
    else:
        return {}
    return {"n_layer": cfg.n_layers, "d_model": cfg.d_model, "n_ctx": context}


def drop_nonfinite_scores(records: Records) -> tuple[Records, int]:
    """``records`` without their non-finite scores (a diverged model's: the SDK refuses such
    scores): a record keeps what else it holds (``correct``), and one with nothing else to
    store is left out; stderr says so. Return the records and how many lost their score."""
    kept: Records = []
    for record in records:
        score = record.get("score")
        if isinstance(score, float) and not math.isfinite(score):
            record = {k: v for k, v in record.items() if k != "score"}
            if record.get("correct") is None:
                continue
        kept.append(record)
    hit = sum(1 for r in records if isinstance(r.get("score"), float)
              and not math.isfinite(r["score"]))
    if hit:
        print(f"stepstone: {hit} of {len(records)} evaluation records have a non-finite score "
              "(the model diverged): stored without it, or left out when they hold nothing "
              "else", file=sys.stderr)
    return kept, hit


def fit(
    model: Transformer,
    cfg: TrainConfig,
    run: Any,
    next_batch: NextBatch,
    evaluate: Evaluate,
    device: torch.device,
    summary_extras: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``model`` for ``cfg.steps`` steps, logging to ``run``, then evaluate it, log the
    metrics (at step ``cfg.steps``) and the records (``run.log_eval(records, name="eval")``),
    and write and return the summary: the final metrics, then ``summary_extras``, then the
    training bookkeeping (parameters, tokens, FLOPs, time). A diverged model finishes too: its
    non-finite metrics are logged (the lab flags them) and its records' non-finite scores are
    left out (:func:`drop_nonfinite_scores`, counted as ``eval/nonfinite_scores``)."""
    n_params, n_params_non_embedding = count_params(model)
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay)
    scaler = grad_scaler(cfg.precision, device, cfg.grad_scaler)

    tokens, loss_value, started = 0, float("nan"), time.perf_counter()
    window_tokens, window_start = 0, started
    for step in range(cfg.steps):
        x, y = next_batch(step)
        lr = lr_at(step, cfg.steps, cfg.lr, cfg.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.set_step(step)

        with autocast(cfg.precision, device):
            logits = model(x.to(device))
        loss = kshot_loss(logits, y.to(device), k=cfg.kshot_k)
        optimizer.zero_grad(set_to_none=True)
        torch.autograd.backward(scaler.scale(loss))
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(optimizer)
        scaler.update()

        tokens += x.numel()
        window_tokens += x.numel()
        loss_value = loss.item()
        last = step == cfg.steps - 1
        if step % cfg.log_every == 0 or last:
            now = time.perf_counter()
            run.log(
                {
                    "train/loss": loss_value,
                    "train/lr": lr,
                    "train/grad_norm": float(grad_norm),
                    "train/tokens": tokens,
                    "throughput/tokens_per_s": window_tokens / max(now - window_start, 1e-9),
                },
                step=step,
            )
            window_tokens, window_start = 0, now
        if cfg.eval_every > 0 and step % cfg.eval_every == 0 and step > 0 and not last:
            metrics, _ = evaluate()
            run.log(metrics, step=step)

    elapsed = time.perf_counter() - started
    metrics, records = evaluate(with_records=True)
    run.log(metrics, step=cfg.steps)  # a non-finite value is stored and flagged by the SDK
    records, nonfinite = drop_nonfinite_scores(records)
    run.log_eval(records, name="eval")
    flops, flops_method = training_flops(n_params, tokens,
                                         n_params_non_embedding=n_params_non_embedding,
                                         **kaplan_shape(model, x.shape[1]))
    summary = {
        **metrics,
        **(summary_extras or {}),
        "train/loss": loss_value,
        "n_params": n_params,
        "n_params_non_embedding": n_params_non_embedding,
        "tokens": tokens,
        "flops": flops,
        "flops_method": flops_method,
        "seed": cfg.seed,
        "steps": cfg.steps,
        "train/time_s": elapsed,
        "throughput/tokens_per_s": tokens / max(elapsed, 1e-9),
        "smoke": cfg.smoke,
        **({"eval/nonfinite_scores": nonfinite} if nonfinite else {}),
    }
    run.summary.update(summary)
    return summary
