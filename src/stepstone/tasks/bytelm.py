"""A byte-level language model on a corpus that needs no download.

The corpus is a fixed, documented selection of the Python standard library's source files
(:data:`stepstone.tasks.corpus.STDLIB_FILES`), or any folder of text files (``--corpus-dir``).
Training and evaluation are split by file; the task refuses a split in which a document sits on
both sides, and records the corpus fingerprint (a hash of every file's hash) with the run.

Training samples random windows of ``seq_len + 1`` bytes from the training files. Evaluation is
likelihood-based: the next-byte loss (nats per byte, and bits per byte) and top-1 accuracy over
fixed windows read from the start of each evaluation file, with one record per window and
position bucket (buckets: ``file``, ``position_bucket``; score: the mean log-likelihood in nats
per byte, higher is better).

Run it (seed 0 by default; each run lands in the lab found from the working directory)::

    python -m stepstone.tasks.bytelm
    python -m stepstone.tasks.bytelm --corpus-dir ~/notes --steps 2000
    STEPSTONE_SMOKE=1 python -m stepstone.tasks.bytelm      # a handful of steps, end to end

From Python: ``train(ByteLMConfig(kshot_k=4))`` returns the final metrics.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

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
from stepstone.tasks.corpus import Corpus, Document, load_corpus
from stepstone.tasks.loop import fit
from stepstone.tasks.losses import kshot_loss
from stepstone.tasks.model import ModelConfig, Transformer

PROJECT = "bytelm"
VOCAB_SIZE = 256
POSITION_EDGES = (8, 32, 128, 512, 2048)


@dataclass
class ByteLMConfig:
    # data
    corpus_dir: str = field(default="", metadata={"help": "folder of text files; empty: stdlib"})
    corpus_glob: str = "**/*"
    eval_fraction: float = 0.2
    seq_len: int = 128
    # model
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    mlp_ratio: int = 4
    attention: str = field(default="full", metadata={"help": "full|sliding_window|linear|delta"})
    window: int = 32
    position: str = "rope"
    prores_steps: int = 0
    layernorm_scaling: bool = False
    # training
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.1
    warmup_steps: int = 30
    grad_clip: float = 1.0
    kshot_k: int = field(default=1, metadata={"help": "k of the k-shot loss; 1 = cross-entropy"})
    precision: str = "fp32"
    grad_scaler: bool = field(default=True, metadata={"help": "fp16: scale the loss (off: "
                                                      "no scaler, a known precision bug)"})
    # evaluation and bookkeeping
    eval_windows: int = field(default=64, metadata={"help": "evaluation windows in all"})
    eval_every: int = 100
    log_every: int = 10
    seed: int = 0
    threads: int = field(default=1, metadata={"help": "torch threads; 0 = torch's default"})
    device: str = "auto"
    smoke: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be between 0 and 1, not {self.eval_fraction}")
        check_precision(self.precision)
        self.model_config()  # validates the model fields

    def model_config(self) -> ModelConfig:
        return ModelConfig(
            vocab_size=VOCAB_SIZE,
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


def smoke_config(cfg: ByteLMConfig) -> ByteLMConfig:
    """The same config cut to a handful of steps and a tiny evaluation."""
    return dataclasses.replace(
        cfg,
        steps=min(cfg.steps, 5),
        eval_windows=min(cfg.eval_windows, 4),
        eval_every=0,
        log_every=1,
        smoke=True,
    )


def run_name(cfg: ByteLMConfig) -> str:
    attention = f"swa{cfg.window}" if cfg.attention == "sliding_window" else cfg.attention
    return f"bytelm-{attention}-d{cfg.d_model}-s{cfg.seed}"


def position_bucket(position: int, edges: tuple[int, ...] = POSITION_EDGES) -> str:
    """``"0-7"``, ``"8-31"``, ... for a position in the context window."""
    lo = 0
    for hi in edges:
        if position < hi:
            return f"{lo}-{hi - 1}"
        lo = hi
    return f">={edges[-1]}"


class TrainStream:
    """Random windows of ``seq_len + 1`` bytes from the training documents, each document
    chosen with probability proportional to its length."""

    def __init__(self, docs: Sequence[Document], seq_len: int, generator: torch.Generator):
        usable = [d for d in docs if len(d.data) > seq_len]
        if not usable:
            raise ValueError(f"no training document is longer than seq_len {seq_len}")
        self.docs = [torch.frombuffer(bytearray(d.data), dtype=torch.uint8) for d in usable]
        self.weights = torch.tensor([len(d) - seq_len for d in self.docs], dtype=torch.float)
        self.seq_len = seq_len
        self.generator = generator

    def batch(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        which = torch.multinomial(self.weights, batch_size, True, generator=self.generator)
        rows = []
        for i in which.tolist():
            doc = self.docs[i]
            start = int(torch.randint(len(doc) - self.seq_len, (1,), generator=self.generator))
            rows.append(doc[start : start + self.seq_len + 1])
        chunk = torch.stack(rows).long()
        return chunk[:, :-1], chunk[:, 1:]


def eval_windows(
    docs: Sequence[Document], seq_len: int, count: int
) -> list[tuple[str, int, torch.Tensor]]:
    """Up to ``count`` (file, offset, window) triples: consecutive windows of ``seq_len + 1``
    bytes from the start of each evaluation file, taken round-robin over the files."""
    per_file = [[(d.path, o) for o in range(0, len(d.data) - seq_len, seq_len)] for d in docs]
    data = {d.path: d.data for d in docs}
    picked: list[tuple[str, int, torch.Tensor]] = []
    for i in range(max((len(p) for p in per_file), default=0)):
        for windows in per_file:
            if i < len(windows) and len(picked) < count:
                path, offset = windows[i]
                raw = bytearray(data[path][offset : offset + seq_len + 1])
                picked.append((path, offset, torch.frombuffer(raw, dtype=torch.uint8).long()))
    if not picked:
        raise ValueError(f"no evaluation document is longer than seq_len {seq_len}")
    return picked


@torch.no_grad()
def evaluate(
    model: Transformer,
    windows: Sequence[tuple[str, int, torch.Tensor]],
    cfg: ByteLMConfig,
    device: torch.device,
    with_records: bool = False,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Next-byte loss (nats), bits per byte and accuracy, overall and per position bucket; and
    one record per (window, position bucket) when asked."""
    model.eval()
    chunk = torch.stack([w for _, _, w in windows])
    x, y = chunk[:, :-1], chunk[:, 1:]
    losses, correct = [], []
    for i in range(0, len(x), 64):
        with autocast(cfg.precision, device):
            logits = model(x[i : i + 64].to(device))
        logits = logits.float().cpu()
        target = y[i : i + 64]
        losses.append(kshot_loss(logits, target, k=1, reduction="none").view(target.shape))
        correct.append(logits.argmax(-1) == target)
    loss, hit = torch.cat(losses), torch.cat(correct)  # (W, T)
    buckets = [position_bucket(p) for p in range(cfg.seq_len)]
    names = list(dict.fromkeys(buckets))
    columns = {b: torch.tensor([p for p, q in enumerate(buckets) if q == b]) for b in names}
    metrics = {
        "eval/loss": loss.mean().item(),
        "eval/bpb": loss.mean().item() / math.log(2),
        "eval/accuracy": hit.float().mean().item(),
    }
    for b, cols in columns.items():
        metrics[f"eval/loss_pos_{b}"] = loss[:, cols].mean().item()
    records: list[dict[str, Any]] = []
    if with_records:
        for w, (path, offset, _) in enumerate(windows):
            for b, cols in columns.items():
                records.append(
                    {
                        "id": f"{path}@{offset}/pos{b}",
                        "score": -loss[w, cols].mean().item(),
                        "file": path,
                        "position_bucket": b,
                    }
                )
    model.train()
    return metrics, records


def train(
    cfg: ByteLMConfig | None = None, run: Any = None, *, lab: str | None = None
) -> dict[str, Any]:
    """Train and evaluate one model and return its final metrics (the summary it wrote).

    Logs to ``run`` when given (the caller finishes it), else to a new run in ``lab`` (or the
    lab found from the working directory) that is finished here. A run's config wins over
    ``cfg`` key by key (wandb sweep semantics)."""
    cfg = cfg if cfg is not None else ByteLMConfig()
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
        cfg = config_from(ByteLMConfig, run_config(run), base=cfg)  # launcher-given config wins
        name_for_config(run, given=name, resolved=run_name(cfg))
        if smoke_enabled(cfg.smoke):
            cfg = smoke_config(cfg)
        corpus = load_corpus(cfg.corpus_dir, cfg.eval_fraction, cfg.corpus_glob)
        with torch_threads(cfg.threads):
            return _train(cfg, corpus, run)


def _train(cfg: ByteLMConfig, corpus: Corpus, run: Any) -> dict[str, Any]:
    set_seed(cfg.seed)
    device = pick_device(cfg.device)
    stream = TrainStream(corpus.train, cfg.seq_len, torch.Generator().manual_seed(cfg.seed))
    windows = eval_windows(corpus.eval, cfg.seq_len, cfg.eval_windows)

    def next_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        return stream.batch(cfg.batch_size)  # random windows: the step does not matter

    model = Transformer(cfg.model_config()).to(device)
    evaluate_model = partial(evaluate, model, windows, cfg, device)
    return fit(
        model, cfg, run, next_batch, evaluate_model, device, summary_extras=corpus.manifest()
    )


def main(argv: Sequence[str] | None = None) -> int:
    cfg = parse_config(ByteLMConfig, argv, __doc__, prog="python -m stepstone.tasks.bytelm")
    summary = train(cfg)
    keys = ("eval/loss", "eval/bpb", "eval/accuracy", "n_params", "tokens", "flops", "train/time_s")
    print(json.dumps({k: summary[k] for k in keys} | {"data": summary["data/fingerprint"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
