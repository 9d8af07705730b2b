"""The shared training loop on its own: what it logs, when it evaluates, what it returns."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from stepstone.tasks.common import MemoryRun  # noqa: E402
from stepstone.tasks.loop import fit  # noqa: E402
from stepstone.tasks.model import ModelConfig, Transformer  # noqa: E402
from stepstone.tasks.mqar import MQARConfig  # noqa: E402


def test_fit_logs_evaluates_and_summarises() -> None:
    cfg = MQARConfig(vocab_size=16, seq_len=8, num_kv_pairs=(2,), d_model=8, n_heads=2,
                     steps=5, eval_every=2, log_every=2, seed=7)
    torch.manual_seed(0)
    model = Transformer(ModelConfig(vocab_size=16, max_seq_len=8, d_model=8, n_layers=1,
                                    n_heads=2))
    asked: list[bool] = []

    def next_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randint(16, (3, 8))
        return x, x.roll(-1, dims=1)

    def evaluate(with_records: bool = False) -> tuple[dict[str, float], list[dict[str, object]]]:
        asked.append(with_records)
        return {"eval/loss": 1.5}, ([{"id": "a", "score": -1.5}] if with_records else [])

    run = MemoryRun()
    summary = fit(model, cfg, run, next_batch, evaluate, torch.device("cpu"),
                  summary_extras={"data/source": "x"})
    assert asked == [False, True]  # at step 2 (step 4 is the last: the final one stands)
    assert [s for s, _ in run.history["train/loss"]] == [0, 2, 4]
    assert [s for s, _ in run.history["eval/loss"]] == [2, 5]
    assert run.evals["eval"] == [{"id": "a", "score": -1.5}]
    assert list(summary)[:3] == ["eval/loss", "data/source", "train/loss"]
    assert summary["tokens"] == 5 * 3 * 8 and summary["steps"] == 5 and summary["seed"] == 7
    # Kaplan's count: non-embedding N, plus the attention term over the 8-token context
    assert summary["flops_method"] == "kaplan"
    assert summary["flops"] == pytest.approx(
        (6 * summary["n_params_non_embedding"] + 6 * 1 * 8 * 8) * summary["tokens"])
    assert summary == run.summary


def test_the_shape_for_kaplans_count_follows_the_attention() -> None:
    from stepstone.tasks.loop import kaplan_shape

    def shape(**kind: object) -> dict[str, int]:
        cfg = ModelConfig(vocab_size=16, max_seq_len=64, d_model=8, n_layers=3, n_heads=2,
                          **kind)  # type: ignore[arg-type]
        return kaplan_shape(Transformer(cfg), 64)

    assert shape() == {"n_layer": 3, "d_model": 8, "n_ctx": 64}
    assert shape(attention="sliding_window", window=16) == {"n_layer": 3, "d_model": 8,
                                                            "n_ctx": 16}
    assert shape(attention="sliding_window", window=100)["n_ctx"] == 64
    assert shape(attention="linear") == {} and shape(attention="delta") == {}  # 6·N·D
