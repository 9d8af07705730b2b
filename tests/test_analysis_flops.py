"""FLOPs estimates against published numbers, and parameter counting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stepstone.analysis import count_parameters, estimate_flops, flops_6nd, flops_kaplan
from stepstone.analysis.flops import flops_measured, kaplan_params
from stepstone.errors import AnalysisError


def test_6nd_gpt3_published_compute() -> None:
    # GPT-3 175B on 300B tokens: 3.14e23 FLOPs (Brown et al. 2020, Table D.1)
    est = flops_6nd(175e9, 300e9)
    assert est.flops == pytest.approx(3.14e23, rel=0.005)
    assert est.method == "6ND"


def test_kaplan_parameter_count_gpt3_shape() -> None:
    # 12·n_layer·d_model² for GPT-3 175B (96 layers, d_model 12288) is about 174B
    assert kaplan_params(n_layer=96, d_model=12288) == 12 * 96 * 12288**2
    assert kaplan_params(n_layer=96, d_model=12288) == pytest.approx(175e9, rel=0.01)


@pytest.mark.parametrize(
    ("n_layer", "d_model", "n_ctx"),
    [
        pytest.param(12, 768, 1024, id="gpt2-small"),
        pytest.param(96, 12288, 2048, id="gpt3-175b"),
        pytest.param(4, 128, 4096, id="long-context-toy"),
    ],
)
def test_kaplan_attention_term(n_layer: int, d_model: int, n_ctx: int) -> None:
    est = flops_kaplan(n_layer=n_layer, d_model=d_model, n_ctx=n_ctx, tokens=1e9)
    base = flops_6nd(kaplan_params(n_layer=n_layer, d_model=d_model), 1e9)
    # Kaplan et al. 2020 §2.1: the context term adds n_ctx / (12·d_model) relative to 6N
    assert est.flops / base.flops - 1 == pytest.approx(n_ctx / (12 * d_model), rel=1e-12)
    assert est.method == "kaplan"


def test_estimate_flops_prefers_measured_then_kaplan_then_6nd() -> None:
    assert estimate_flops(measured=1e20, n_params=1e9, tokens=1e10).method == "measured"
    shape = estimate_flops(n_layer=2, d_model=64, n_ctx=128, tokens=1e6)
    assert shape.method == "kaplan"
    assert estimate_flops(n_params=1e9, tokens=2e10).method == "6ND"
    assert estimate_flops(n_params=1e9, tokens=2e10).flops == pytest.approx(1.2e20)
    assert flops_measured(5e18).to_dict()["method"] == "measured"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({}, "Cannot estimate FLOPs", id="nothing"),
        pytest.param({"n_params": 1e9}, "Cannot estimate FLOPs", id="no-tokens"),
        pytest.param({"n_params": -1.0, "tokens": 1e9}, "positive", id="negative"),
        pytest.param({"measured": float("nan")}, "positive", id="nan-measured"),
        pytest.param({"n_layer": 2, "d_model": 64, "n_ctx": 128}, "tokens", id="kaplan-no-D"),
    ],
)
def test_estimate_flops_refusals(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        estimate_flops(**kwargs)  # type: ignore[arg-type]


class FakeParam:
    def __init__(self, n: int, requires_grad: bool = True) -> None:
        self.n = n
        self.requires_grad = requires_grad

    def numel(self) -> int:
        return self.n


class Module:
    """Just enough of torch.nn.Module for count_parameters."""

    def __init__(self, **children: object) -> None:
        self.params: dict[str, FakeParam] = {}
        self.children = {k: v for k, v in children.items() if isinstance(v, Module)}
        self.params = {k: v for k, v in children.items() if isinstance(v, FakeParam)}

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        yield prefix, self
        for name, child in self.children.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def parameters(self, recurse: bool = True) -> Iterator[FakeParam]:
        yield from self.params.values()
        if recurse:
            for child in self.children.values():
                yield from child.parameters()

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, FakeParam]]:
        seen: set[int] = set()
        for mod_name, mod in self.named_modules(prefix):
            for name, p in mod.params.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mod_name}.{name}" if mod_name else name), p


class Embedding(Module):
    pass


class MyEmbedding(Embedding):  # a subclass still counts as embedding
    pass


class Linear(Module):
    pass


def gpt(tied: bool) -> Module:
    vocab, ctx, d = 100, 16, 8
    wte = FakeParam(vocab * d)
    head = wte if tied else FakeParam(vocab * d)
    blocks = Module(
        attn=Linear(weight=FakeParam(3 * d * d), bias=FakeParam(3 * d)),
        mlp=Linear(weight=FakeParam(4 * d * d), frozen=FakeParam(10, requires_grad=False)),
    )
    return Module(
        wte=Embedding(weight=wte),
        wpe=MyEmbedding(weight=FakeParam(ctx * d)),
        h=blocks,
        lm_head=Linear(weight=head),
    )


def test_count_parameters_tied_head() -> None:
    count = count_parameters(gpt(tied=True))
    body = 3 * 64 + 24 + 4 * 64 + 10
    assert count.total == 800 + 128 + body
    assert count.non_embedding == body
    assert count.embedding == 928
    assert count.trainable == count.total - 10
    assert set(count.embedding_modules) == {"wte", "wpe"}
    assert count.method == "torch-module"


def test_count_parameters_untied_head_and_exclude() -> None:
    body = 3 * 64 + 24 + 4 * 64 + 10
    count = count_parameters(gpt(tied=False))
    assert count.non_embedding == body + 800  # an untied head is not an embedding by default
    assert count_parameters(gpt(tied=False), exclude=["lm_head"]).non_embedding == body


def test_count_parameters_refuses_non_module() -> None:
    with pytest.raises(AnalysisError, match=r"nn\.Module"):
        count_parameters(object())


def test_task_training_flops_use_kaplan_when_the_shape_is_known() -> None:
    pytest.importorskip("torch")
    from stepstone.analysis.flops import flops_kaplan
    from stepstone.tasks.common import training_flops

    n_ne = 2 * 64 * 2 * (2 * 64 + 256)
    flops, method = training_flops(200_000, 1_000_000, n_params_non_embedding=n_ne, n_layer=2,
                                   d_model=64, n_ctx=64)
    expected = (6 * n_ne + 6 * 2 * 64 * 64) * 1_000_000
    assert method == "kaplan" and flops == pytest.approx(expected)
    assert flops == flops_kaplan(n_layer=2, d_model=64, n_ctx=64, tokens=1_000_000,
                                 n_params=n_ne).flops
    assert training_flops(200_000, 1_000_000) == (6 * 200_000 * 1_000_000, "6ND")
