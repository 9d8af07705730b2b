"""MQAR: multi-query associative recall with a small transformer.

The synthetic recall task of Zoology (Arora, Eyuboglu et al. 2023): K key-value pairs, then each
key again as a query; the model must answer each query with its value. Only the K query positions
are supervised, and accuracy is counted over them. See :mod:`stepstone.tasks.mqar_data`.

Difficulty buckets in the per-query evaluation records: ``num_kv_pairs`` (K) and
``query_distance_bucket`` (how far back the key is). Full attention solves it at small width;
sliding-window attention with a window shorter than the query distance cannot (docs/tasks.md).

Run it (seed 0 by default; each run lands in the lab found from the working directory)::

    python -m stepstone.tasks.mqar
    python -m stepstone.tasks.mqar --attention sliding_window --window 8
    STEPSTONE_SMOKE=1 python -m stepstone.tasks.mqar       # a handful of steps, end to end

From Python: ``train(MQARConfig(attention="linear"))`` returns the final metrics.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch

from stepstone.tasks.common import (
    autocast,
    check_precision,
    config_from,
    name_for_config,
    open_run,
    parse_config,
    pick_device,
    run_config,
    set_seed,
    smoke_enabled,
    torch_threads,
)
from stepstone.tasks.loop import fit
from stepstone.tasks.losses import kshot_loss
from stepstone.tasks.model import ModelConfig, Transformer
from stepstone.tasks.mqar_data import MQARBatch, check_shape, distance_bucket, generate_mqar

PROJECT = "mqar"


@dataclass
class MQARConfig:
    # data
    vocab_size: int = 64
    seq_len: int = 32
    num_kv_pairs: tuple[int, ...] = field(
        default=(4, 8), metadata={"help": "K values; training cycles through them"}
    )
    power_a: float = 0.01
    random_fillers: bool = False
    # model
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 2
    mlp_ratio: int = 0
    attention: str = field(default="full", metadata={"help": "full|sliding_window|linear|delta"})
    window: int = 8
    position: str = "rope"
    prores_steps: int = 0
    layernorm_scaling: bool = False
    # training
    steps: int = 600
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 0.1
    warmup_steps: int = 50
    grad_clip: float = 1.0
    kshot_k: int = field(default=1, metadata={"help": "k of the k-shot loss; 1 = cross-entropy"})
    precision: str = "fp32"
    grad_scaler: bool = field(default=True, metadata={"help": "fp16: scale the loss (off: "
                                                      "no scaler, a known precision bug)"})
    # evaluation and bookkeeping
    eval_examples: int = field(default=256, metadata={"help": "evaluation examples per K"})
    eval_every: int = 100
    log_every: int = 10
    seed: int = 0
    threads: int = field(default=1, metadata={"help": "torch threads; 0 = torch's default"})
    device: str = "auto"
    smoke: bool = False

    def __post_init__(self) -> None:
        self.num_kv_pairs = tuple(int(k) for k in self.num_kv_pairs)
        if not self.num_kv_pairs:
            raise ValueError("num_kv_pairs needs at least one value")
        for k in self.num_kv_pairs:
            check_shape(self.vocab_size, self.seq_len, k)
        check_precision(self.precision)
        self.model_config()  # validates the model fields

    def model_config(self) -> ModelConfig:
        return ModelConfig(
            vocab_size=self.vocab_size,
            max_seq_len=self.seq_len,
            d_model=self.d_model,
            n_layers=self.n_layers,
            n_heads=self.n_heads,
            mlp_ratio=self.mlp_ratio,
            attention=self.attention,
            window=self.window,
            position=self.position,
            prores_steps=self.prores_steps,
            layernorm_scaling=self.layernorm_scaling,
        )


def smoke_config(cfg: MQARConfig) -> MQARConfig:
    """The same config cut to a handful of steps and a tiny evaluation."""
    return dataclasses.replace(
        cfg,
        steps=min(cfg.steps, 5),
        eval_examples=min(cfg.eval_examples, 8),
        eval_every=0,
        log_every=1,
        smoke=True,
    )


def run_name(cfg: MQARConfig) -> str:
    attention = f"swa{cfg.window}" if cfg.attention == "sliding_window" else cfg.attention
    return f"mqar-{attention}-d{cfg.d_model}-s{cfg.seed}"


@torch.no_grad()
def evaluate(
    model: Transformer,
    eval_sets: Sequence[MQARBatch],
    cfg: MQARConfig,
    device: torch.device,
    with_records: bool = False,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Loss and accuracy over the supervised (query) positions, overall, per K and per query
    distance bucket; and, when asked, one record per query: id, score (the log-probability of
    the right value, in nats: higher is better), correct, prediction, and the buckets
    num_kv_pairs and query_distance_bucket."""
    model.eval()
    metrics: dict[str, float] = {}
    records: list[dict[str, Any]] = []
    total_loss, total_correct, total = 0.0, 0, 0
    by_distance: dict[str, list[bool]] = {}
    for batch in eval_sets:
        with autocast(cfg.precision, device):
            logits = model(batch.inputs.to(device))
        rows = torch.arange(len(batch.inputs))[:, None]
        query_logits = logits[rows, batch.query_positions.to(device)].float().cpu()  # (N, K, V)
        answers = batch.targets[rows, batch.query_positions]  # (N, K)
        losses = kshot_loss(query_logits, answers, k=1, reduction="none").view(answers.shape)
        predictions = query_logits.argmax(-1)
        correct = predictions == answers
        k = batch.num_kv_pairs
        metrics[f"eval/loss_k{k}"] = losses.mean().item()
        metrics[f"eval/accuracy_k{k}"] = correct.float().mean().item()
        total_loss += losses.sum().item()
        total_correct += int(correct.sum())
        total += answers.numel()
        for distance, hit in zip(
            batch.query_distances.flatten().tolist(), correct.flatten().tolist(), strict=True
        ):
            by_distance.setdefault(distance_bucket(distance), []).append(hit)
        if with_records:
            for i in range(answers.shape[0]):
                for j in range(answers.shape[1]):
                    records.append(
                        {
                            "id": f"k{k}/ex{i}/q{j}",
                            "score": -losses[i, j].item(),
                            "correct": bool(correct[i, j]),
                            "prediction": int(predictions[i, j]),
                            "num_kv_pairs": k,
                            "query_distance_bucket": distance_bucket(
                                int(batch.query_distances[i, j])
                            ),
                        }
                    )
    for bucket, hits in sorted(by_distance.items(), key=lambda kv: int(kv[0].split("-")[0])):
        metrics[f"eval/accuracy_dist_{bucket}"] = sum(hits) / len(hits)
    metrics["eval/loss"] = total_loss / max(total, 1)
    metrics["eval/accuracy"] = total_correct / max(total, 1)
    model.train()
    return metrics, records


def train(
    cfg: MQARConfig | None = None, run: Any = None, *, lab: str | None = None
) -> dict[str, Any]:
    """Train and evaluate one model and return its final metrics (the summary it wrote).

    Logs to ``run`` when given (the caller finishes it), else to a new run in ``lab`` (or the
    lab found from the working directory) that is finished here. A run's config wins over
    ``cfg`` key by key (wandb sweep semantics)."""
    cfg = cfg if cfg is not None else MQARConfig()
    smoke = smoke_enabled(cfg.smoke)
    tags = [PROJECT, cfg.attention] + (["smoke"] if smoke else [])
    name = run_name(cfg)
    with open_run(
        run,
        project=PROJECT,
        name=name,
        config=asdict(cfg),
        tags=tags,
        smoke=smoke,
        lab=lab,
    ) as run:
        cfg = config_from(MQARConfig, run_config(run), base=cfg)  # launcher-given config wins
        name_for_config(run, given=name, resolved=run_name(cfg))
        if smoke_enabled(cfg.smoke):
            cfg = smoke_config(cfg)
        with torch_threads(cfg.threads):
            return _train(cfg, run)


def _train(cfg: MQARConfig, run: Any) -> dict[str, Any]:
    set_seed(cfg.seed)
    device = pick_device(cfg.device)
    train_seq, eval_seq = np.random.SeedSequence(cfg.seed).spawn(2)
    train_rng, eval_rng = np.random.default_rng(train_seq), np.random.default_rng(eval_seq)
    eval_sets = [
        generate_mqar(
            cfg.eval_examples,
            k,
            cfg.seq_len,
            cfg.vocab_size,
            eval_rng,
            cfg.power_a,
            cfg.random_fillers,
        )
        for k in cfg.num_kv_pairs
    ]

    def next_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        k = cfg.num_kv_pairs[step % len(cfg.num_kv_pairs)]  # cycle through the K values
        batch = generate_mqar(
            cfg.batch_size,
            k,
            cfg.seq_len,
            cfg.vocab_size,
            train_rng,
            cfg.power_a,
            cfg.random_fillers,
        )
        return batch.inputs, batch.targets

    model = Transformer(cfg.model_config()).to(device)
    evaluate_model = partial(evaluate, model, eval_sets, cfg, device)
    return fit(model, cfg, run, next_batch, evaluate_model, device)


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_config(MQARConfig, argv, __doc__, prog="python -m stepstone.tasks.mqar")
    summary = train(cfg)
    keys = ["eval/loss", "eval/accuracy", *sorted(k for k in summary if "/accuracy_" in k)]
    keys += ["n_params", "tokens", "flops", "train/time_s"]
    print(json.dumps({k: summary[k] for k in keys}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
