"""A small decoder-only transformer shared by the reference tasks.

One module, readable in one sitting. The variants the seeds talk about are switched by config:

- ``attention``: ``"full"`` (causal softmax), ``"sliding_window"`` (causal softmax restricted to
  the last ``window`` positions, the current one included), ``"linear"`` (causal linear
  attention with the elu+1 feature map) or ``"delta"`` (the delta rule, written as the naive
  recurrence ``S_t = S_{t-1} + beta_t (v_t - S_{t-1} k_t) k_t^T``, ``o_t = S_t q_t``).
- ``prores_steps``: ProRes, progressive residual warmup. Layer ``l`` of ``L`` (1-based) scales
  both of its residual branches by ``min(t / (l * T), 1)`` at training step ``t``; ``T`` is
  ``prores_steps``. 0 turns it off. Call :meth:`Transformer.set_step` every step.
- ``layernorm_scaling``: the Curse-of-Depth LayerNorm scaling, the output of every norm inside
  layer ``l`` is multiplied by ``1 / sqrt(l)``.

``position`` is ``"rope"`` (rotary, in every attention variant), ``"learned"`` (absolute) or
``"none"``. ``mlp_ratio = 0`` leaves the MLPs out (an attention-only model). Pre-LayerNorm
blocks, GELU MLP, tied input and output embeddings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

ATTENTIONS = ("full", "sliding_window", "linear", "delta")
POSITIONS = ("rope", "learned", "none")


@dataclass
class ModelConfig:
    vocab_size: int = 128
    max_seq_len: int = 128
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 2
    mlp_ratio: int = 4
    attention: str = "full"
    window: int = 16
    position: str = "rope"
    prores_steps: int = 0
    layernorm_scaling: bool = False
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, not {self.attention!r}")
        if self.position not in POSITIONS:
            raise ValueError(f"position must be one of {POSITIONS}, not {self.position!r}")
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_heads {self.n_heads}")
        if self.position == "rope" and (self.d_model // self.n_heads) % 2:
            raise ValueError("rope needs an even head dimension")
        if self.attention == "sliding_window" and self.window < 1:
            raise ValueError(f"window must be at least 1, not {self.window}")


def sliding_window_mask(
    seq_len: int, window: int, device: torch.device | None = None
) -> torch.Tensor:
    """Boolean (T, T) mask, True where query i may attend to key j: ``i - window < j <= i``."""
    i = torch.arange(seq_len, device=device)[:, None]
    j = torch.arange(seq_len, device=device)[None, :]
    return (j <= i) & (j > i - window)


def causal_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal linear attention with phi(x) = elu(x) + 1, in its (exact) masked quadratic form.

    ``o_i = sum_{j<=i} phi(q_i).phi(k_j) v_j / sum_{j<=i} phi(q_i).phi(k_j)``. Shapes (B, H, T, D).
    """
    q, k = F.elu(q) + 1, F.elu(k) + 1
    scores = (q @ k.transpose(-2, -1)).tril()  # (B, H, T, T), nonnegative, causal
    return (scores @ v) / (scores.sum(-1, keepdim=True) + 1e-6)


def delta_rule(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor
) -> torch.Tensor:
    """The delta rule as a naive recurrence over time. q, k, v: (B, H, T, D); beta: (B, H, T).

    Keys and queries are L2-normalised so that the state update is a contraction for beta <= 1.
    """
    q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    b, h, t, d = q.shape
    state = q.new_zeros(b, h, v.shape[-1], d)  # maps keys to values
    outs = []
    for i in range(t):
        k_i, v_i, q_i = k[:, :, i], v[:, :, i], q[:, :, i]
        pred = (state @ k_i.unsqueeze(-1)).squeeze(-1)  # what the state recalls for k_i
        update = (beta[:, :, i, None] * (v_i - pred)).unsqueeze(-1) * k_i.unsqueeze(-2)
        state = state + update
        outs.append((state @ q_i.unsqueeze(-1)).squeeze(-1))
    return torch.stack(outs, dim=2)


def rope_tables(
    seq_len: int, head_dim: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables (T, head_dim / 2) of rotary position embeddings (base 10000)."""
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2, device=device).float() / head_dim))
    angles = torch.arange(seq_len, device=device).float()[:, None] * inv_freq[None, :]
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs of channels of x (B, H, T, D) by position-dependent angles."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    out = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)
    return out.flatten(-2).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.beta = nn.Linear(cfg.d_model, cfg.n_heads) if cfg.attention == "delta" else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_heads, c // self.n_heads).transpose(1, 2) for z in (q, k, v))
        if self.cfg.position == "rope":
            cos, sin = rope_tables(t, c // self.n_heads, x.device)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        kind = self.cfg.attention
        if kind == "full":
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif kind == "sliding_window":
            mask = sliding_window_mask(t, self.cfg.window, x.device)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        elif kind == "linear":
            y = causal_linear_attention(q, k, v)
        else:
            assert self.beta is not None
            beta = torch.sigmoid(self.beta(x)).transpose(1, 2)  # (B, H, T)
            y = delta_rule(q.float(), k.float(), v.float(), beta.float()).to(v.dtype)
        out: torch.Tensor = self.proj(y.transpose(1, 2).reshape(b, t, c))
        return out


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.mlp_ratio * cfg.d_model)
        self.proj = nn.Linear(cfg.mlp_ratio * cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.proj(F.gelu(self.fc(x)))
        return out


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int) -> None:
        super().__init__()
        self.layer = layer  # 1-based
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model) if cfg.mlp_ratio > 0 else None
        self.mlp = MLP(cfg) if cfg.mlp_ratio > 0 else None
        self.drop = nn.Dropout(cfg.dropout)
        self.norm_scale = 1.0 / math.sqrt(layer) if cfg.layernorm_scaling else 1.0
        # ProRes residual scale; a buffer so that it follows the module across devices.
        self.residual_scale: torch.Tensor
        self.register_buffer("residual_scale", torch.ones(()), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.residual_scale
        x = x + a * self.drop(self.attn(self.ln1(x) * self.norm_scale))
        if self.mlp is not None and self.ln2 is not None:
            x = x + a * self.drop(self.mlp(self.ln2(x) * self.norm_scale))
        return x


def prores_scale(step: int, layer: int, warmup_steps: int) -> float:
    """ProRes residual scale of layer ``layer`` (1-based) at step ``step``: min(t / (l T), 1)."""
    if warmup_steps <= 0:
        return 1.0
    return min(step / (layer * warmup_steps), 1.0)


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        learned = cfg.position == "learned"
        self.pos_emb = nn.Embedding(cfg.max_seq_len, cfg.d_model) if learned else None
        self.blocks = nn.ModuleList(Block(cfg, layer) for layer in range(1, cfg.n_layers + 1))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # tied
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2 scaled init of residual projections
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layers))
        self.set_step(0)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def set_step(self, step: int) -> None:
        """Set the ProRes residual scales for training step ``step`` (a no-op when it is off)."""
        for block in self.blocks:
            assert isinstance(block, Block)
            scale = prores_scale(step, block.layer, self.cfg.prores_steps)
            block.residual_scale.fill_(scale)

    def residual_scales(self) -> list[float]:
        return [float(block.residual_scale) for block in self.blocks]  # type: ignore[arg-type]

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Token ids (B, T) -> logits (B, T, vocab_size)."""
        _, t = idx.shape
        if t > self.cfg.max_seq_len:
            raise ValueError(f"sequence length {t} exceeds max_seq_len {self.cfg.max_seq_len}")
        x = self.tok_emb(idx)
        if self.pos_emb is not None:
            x = x + self.pos_emb(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits: torch.Tensor = self.head(self.ln_f(x))
        return logits


def count_params(model: Transformer) -> tuple[int, int]:
    """(total, non-embedding) parameter counts.

    Non-embedding excludes the token and position embeddings (Kaplan et al. 2020); the output
    head is tied to the token embedding, so it is counted once, as an embedding.
    """
    total = sum(p.numel() for p in model.parameters())  # tied weights are yielded once
    embedding = model.tok_emb.weight.numel()
    if model.pos_emb is not None:
        embedding += model.pos_emb.weight.numel()
    return total, total - embedding
