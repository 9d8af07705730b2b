"""The shared task transformer and its losses: variants, causality, ProRes, norm scaling, k-shot."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from stepstone.tasks.common import autocast, grad_scaler, make_optimizer  # noqa: E402
from stepstone.tasks.losses import kshot_loss, kshot_nll  # noqa: E402
from stepstone.tasks.model import (  # noqa: E402
    ATTENTIONS,
    ModelConfig,
    Transformer,
    causal_linear_attention,
    count_params,
    delta_rule,
    prores_scale,
    sliding_window_mask,
)

torch.set_num_threads(1)


def tiny(**overrides: object) -> Transformer:
    torch.manual_seed(0)
    base: dict[str, object] = dict(vocab_size=32, max_seq_len=24, d_model=16, n_layers=2, n_heads=2)
    base.update(overrides)
    return Transformer(ModelConfig(**base))  # type: ignore[arg-type]


@pytest.mark.parametrize("attention", ATTENTIONS)
def test_every_attention_is_causal(attention: str) -> None:
    model = tiny(attention=attention, window=4).eval()
    x = torch.randint(0, 32, (2, 24))
    y = x.clone()
    y[:, 15:] = torch.randint(0, 32, (2, 9))
    with torch.no_grad():
        a, b = model(x), model(y)
    assert a.shape == (2, 24, 32)
    assert torch.allclose(a[:, :15], b[:, :15], atol=1e-5)
    assert not torch.allclose(a[:, 15:], b[:, 15:])


def test_sliding_window_sees_only_the_window() -> None:
    assert sliding_window_mask(5, 2).int().tolist() == [
        [1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0],
        [0, 1, 1, 0, 0],
        [0, 0, 1, 1, 0],
        [0, 0, 0, 1, 1],
    ]
    model = tiny(attention="sliding_window", window=4, n_layers=1, position="learned").eval()
    x = torch.randint(0, 32, (1, 24))
    y = x.clone()
    y[0, 10] = (x[0, 10] + 1) % 32  # out of reach of position 14 (reaches 11..14)
    with torch.no_grad():
        a, b = model(x), model(y)
    assert torch.allclose(a[0, 14:], b[0, 14:], atol=1e-6)
    assert not torch.allclose(a[0, 10:14], b[0, 10:14])


def test_sliding_window_as_wide_as_the_sequence_is_full_attention() -> None:
    full = tiny(attention="full").eval()
    swa = tiny(attention="sliding_window", window=24).eval()
    x = torch.randint(0, 32, (2, 24))
    with torch.no_grad():
        assert torch.allclose(full(x), swa(x), atol=1e-5)


def test_linear_attention_matches_its_recurrent_form() -> None:
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 3, 7, 4) for _ in range(3))
    out = causal_linear_attention(q, k, v)
    fq, fk = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
    state, norm = torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4)
    for t in range(7):
        state = state + fk[:, :, t, :, None] * v[:, :, t, None, :]
        norm = norm + fk[:, :, t]
        num = (fq[:, :, t, :, None] * state).sum(-2)
        den = (fq[:, :, t] * norm).sum(-1, keepdim=True)
        assert torch.allclose(out[:, :, t], num / (den + 1e-6), atol=1e-5)


def test_delta_rule_recalls_what_it_stored() -> None:
    keys = torch.eye(4)[None, None, :3]  # three orthonormal keys
    values = torch.randn(1, 1, 3, 4)
    beta = torch.ones(1, 1, 3)
    out = delta_rule(keys, keys, values, beta)  # query = key: read back right after writing
    assert torch.allclose(out, values, atol=1e-5)
    # Writing a new value under an old key replaces it (the delta rule's point).
    keys2 = torch.cat([keys, keys[:, :, :1]], dim=2)
    values2 = torch.cat([values, torch.full((1, 1, 1, 4), 7.0)], dim=2)
    out2 = delta_rule(keys2, keys2, values2, torch.ones(1, 1, 4))
    assert torch.allclose(out2[0, 0, 3], torch.full((4,), 7.0), atol=1e-5)


def test_prores_warms_up_deeper_layers_later() -> None:
    assert prores_scale(0, 1, 10) == 0.0
    assert prores_scale(5, 1, 10) == 0.5
    assert prores_scale(5, 2, 10) == 0.25
    assert prores_scale(30, 2, 10) == 1.0
    assert prores_scale(0, 3, 0) == 1.0  # off
    model = tiny(prores_steps=10, n_layers=3)
    model.set_step(10)
    assert model.residual_scales() == pytest.approx([1.0, 0.5, 1 / 3])
    model.set_step(0)  # every residual branch off: logits come from the embeddings alone
    x = torch.randint(0, 32, (1, 24))
    with torch.no_grad():
        expected = model.head(model.ln_f(model.tok_emb(x)))
        assert torch.allclose(model(x), expected, atol=1e-6)


def test_layernorm_scaling_divides_by_sqrt_depth() -> None:
    model = tiny(layernorm_scaling=True, n_layers=4)
    scales = [block.norm_scale for block in model.blocks]
    assert scales == pytest.approx([1 / math.sqrt(layer) for layer in (1, 2, 3, 4)])
    assert [b.norm_scale for b in tiny(n_layers=2).blocks] == [1.0, 1.0]


def test_parameter_counts() -> None:
    model = tiny()  # rope: the token embedding (tied with the head) is the only embedding
    total, non_embedding = count_params(model)
    assert total == sum(p.numel() for p in model.parameters())
    assert total - non_embedding == 32 * 16
    learned = tiny(position="learned")
    total_l, non_embedding_l = count_params(learned)
    assert total_l - non_embedding_l == 32 * 16 + 24 * 16
    assert non_embedding_l == non_embedding
    attention_only = tiny(mlp_ratio=0)
    assert count_params(attention_only)[1] < non_embedding


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="attention"):
        ModelConfig(attention="flash")
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(d_model=30, n_heads=4)


# --- losses ------------------------------------------------------------------------------------


def test_kshot_with_k_1_is_cross_entropy_and_matches_the_naive_formula() -> None:
    torch.manual_seed(0)
    logits = torch.randn(50, 11) * 3
    targets = torch.randint(0, 11, (50,))
    ce = torch.nn.functional.cross_entropy(logits, targets)
    assert torch.allclose(kshot_loss(logits, targets, k=1), ce)
    assert torch.allclose(kshot_nll(logits, targets, k=1).mean(), ce, atol=1e-6)
    p = logits.double().softmax(-1)[torch.arange(50), targets]
    for k in (1, 2, 5, 32):
        naive = -torch.log(1 - (1 - p) ** k)
        got = kshot_nll(logits.double(), targets, k)
        assert torch.allclose(got, naive, rtol=1e-9, atol=1e-12)
        assert torch.allclose(kshot_loss(logits.double(), targets, k=k, reduction="none"), got)


def test_kshot_is_finite_at_the_extremes() -> None:
    logits = torch.tensor([[60.0, -60.0, 0.0], [-60.0, 60.0, 0.0], [0.0, 0.0, 0.0]])
    targets = torch.tensor([0, 0, 2])  # certain and right, certain and wrong, uniform
    logits.requires_grad_(True)
    loss = kshot_loss(logits, targets, k=8, reduction="none")
    assert torch.isfinite(loss).all()
    assert loss[0].item() == pytest.approx(0.0, abs=1e-6)
    assert loss[1].item() == pytest.approx(120.0 - math.log(8), rel=1e-4)  # -log(k p), p ~ e^-120
    assert loss[2].item() == pytest.approx(-math.log(1 - (2 / 3) ** 8), rel=1e-5)
    loss.sum().backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_kshot_loss_is_below_cross_entropy_and_ignores_padding() -> None:
    torch.manual_seed(0)
    logits = torch.randn(4, 6, 9)
    targets = torch.randint(0, 9, (4, 6))
    targets[:, :3] = -100
    ce = kshot_loss(logits, targets, k=1, reduction="none")
    k4 = kshot_loss(logits, targets, k=4, reduction="none")
    assert ce.shape == (12,)
    assert (k4 < ce).all()  # 1 - (1-p)^k > p for k > 1
    with pytest.raises(ValueError):
        kshot_loss(logits, targets, k=0)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_one_training_step_in_every_precision(precision: str) -> None:
    device = torch.device("cpu")
    model = tiny()
    optimizer = make_optimizer(model, 1e-2, 0.1)
    scaler = grad_scaler(precision, device)
    assert scaler.is_enabled() == (precision == "fp16")
    x = torch.randint(0, 32, (4, 24))
    before = [p.detach().clone() for p in model.parameters()]
    for _ in range(2):
        with autocast(precision, device):
            logits = model(x[:, :-1])
        if precision != "fp32":
            assert logits.dtype == (torch.bfloat16 if precision == "bf16" else torch.float16)
        loss = kshot_loss(logits, x[:, 1:], k=2)
        assert loss.dtype == torch.float32 and torch.isfinite(loss)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_training_flops_match_the_analysis_estimate() -> None:
    from stepstone.tasks.common import training_flops

    flops_mod = pytest.importorskip("stepstone.analysis.flops")
    flops, method = training_flops(123_456, 7_890_000)
    estimate = flops_mod.flops_6nd(123_456, 7_890_000)
    assert flops == pytest.approx(estimate.flops) and method == estimate.method == "6ND"
