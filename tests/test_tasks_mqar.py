"""The MQAR task end to end: a few steps through the SDK, read back from the lab."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from _tasks_helpers import train_in_lab  # noqa: E402
from stepstone.store.lab import open_lab  # noqa: E402
from stepstone.tasks import TASKS, get_task  # noqa: E402
from stepstone.tasks.common import MemoryRun, parse_config  # noqa: E402
from stepstone.tasks.mqar import MQARConfig, main, train  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(autouse=True)
def _no_smoke_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No smoke mode from the environment (conftest.py already clears the lab variables)."""
    monkeypatch.delenv("STEPSTONE_SMOKE", raising=False)


def tiny(**overrides: object) -> MQARConfig:
    base: dict[str, object] = dict(
        vocab_size=32, seq_len=32, num_kv_pairs=(2, 4), d_model=16, n_heads=2, steps=4,
        batch_size=8, eval_examples=6, eval_every=2, log_every=1,
    )  # fmt: skip
    base.update(overrides)
    return MQARConfig(**base)  # type: ignore[arg-type]


def test_a_few_steps_land_in_the_lab(tmp_path: Path) -> None:
    result, record, history, records = train_in_lab(train, tiny(), "mqar", tmp_path)
    assert record.status == "finished"
    assert record.config["d_model"] == 16 and record.config["num_kv_pairs"] == [2, 4]
    summary = record.summary
    tokens = 4 * 8 * 32
    assert summary["tokens"] == tokens == result["tokens"]
    assert summary["n_params"] > summary["n_params_non_embedding"] > 0
    assert summary["flops"] == pytest.approx(  # Kaplan's count, full attention over 32 tokens
        (6 * summary["n_params_non_embedding"] + 6 * 2 * 32 * 16) * tokens)
    assert summary["flops_method"] == "kaplan"
    assert summary["seed"] == 0
    assert 0.0 <= summary["eval/accuracy"] <= 1.0 and summary["eval/loss"] > 0
    assert {"eval/accuracy_k2", "eval/accuracy_k4"} <= set(summary)
    assert history["train/loss"].steps == [0, 1, 2, 3]
    assert len(history["throughput/tokens_per_s"]) == 4
    assert history["eval/accuracy"].steps == [2, 4]  # mid-training and final
    # one record per supervised query: 6 examples x (2 + 4) queries
    assert len(records) == 6 * 2 + 6 * 4
    first = records[0]
    assert {"id", "score", "correct", "prediction", "num_kv_pairs", "query_distance_bucket"} <= set(
        first
    )
    assert first["score"] <= 0.0  # a log-probability
    assert {r["num_kv_pairs"] for r in records} == {2, 4}
    accuracy = sum(r["correct"] for r in records) / len(records)
    assert accuracy == pytest.approx(summary["eval/accuracy"])


def test_train_opens_and_finishes_its_own_run(tmp_path: Path) -> None:
    result = train(tiny(steps=2, eval_every=0), lab=str(tmp_path))
    lab = open_lab(tmp_path / ".stepstone")
    try:
        (record,) = lab.runs.list(project="mqar")
    finally:
        lab.close()
    assert record.status == "finished" and record.kind == "adhoc"
    assert record.name == "mqar-full-d16-s0"
    assert record.summary["eval/accuracy"] == pytest.approx(result["eval/accuracy"])


def test_smoke_mode_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPSTONE_SMOKE", "1")
    result = train(tiny(steps=1000, eval_examples=100), lab=str(tmp_path))
    assert result["steps"] == 5 and result["smoke"] is True
    lab = open_lab(tmp_path / ".stepstone")
    try:
        (record,) = lab.runs.list(project="mqar")
        records = lab.evals.records(record.id)
    finally:
        lab.close()
    assert record.kind == "smoke" and "smoke" in record.tags
    assert len(records) == 8 * 2 + 8 * 4


def test_the_run_config_wins_over_the_script_defaults() -> None:
    run = MemoryRun(config={"d_model": 32, "seed": 3})  # as a sweep launcher would set them
    result = train(tiny(steps=1, eval_every=0), run=run)
    assert result["seed"] == 3
    reference = MemoryRun()
    small = train(tiny(steps=1, eval_every=0), run=reference)
    assert result["n_params"] > small["n_params"]
    assert reference.config["d_model"] == 16  # the task filled in the config it ran with


@pytest.mark.parametrize(
    "overrides",
    [
        {"attention": "sliding_window", "window": 4},
        {"attention": "linear"},
        {"attention": "delta", "seq_len": 16, "num_kv_pairs": (2,)},
        {"prores_steps": 2, "layernorm_scaling": True, "mlp_ratio": 2, "n_layers": 3},
        {"kshot_k": 4, "precision": "bf16"},
        {"precision": "fp16", "position": "learned", "random_fillers": True},
    ],
)
def test_variants_train_end_to_end(overrides: dict[str, object]) -> None:
    run = MemoryRun()
    result = train(tiny(steps=2, eval_every=0, **overrides), run=run)
    assert torch.isfinite(torch.tensor(result["train/loss"]))
    assert len(run.history["train/loss"]) == 2
    assert run.evals["eval"]


def test_flags_come_from_the_dataclass() -> None:
    cfg = parse_config(
        MQARConfig,
        ["--num-kv-pairs", "2,4", "--attention", "sliding_window", "--window", "4",
         "--no-random-fillers", "--smoke", "--lr", "0.01"],
        None,
    )  # fmt: skip
    assert cfg.num_kv_pairs == (2, 4) and cfg.attention == "sliding_window" and cfg.window == 4
    assert cfg.random_fillers is False and cfg.smoke is True and cfg.lr == 0.01
    assert parse_config(MQARConfig, ["--num-kv-pairs", "2", "8"], None).num_kv_pairs == (2, 8)
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert get_task("mqar").MQARConfig is MQARConfig and set(TASKS) == {"mqar", "bytelm"}


def test_runs_as_a_module() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "stepstone.tasks.mqar", "--help"],
        capture_output=True, text=True, timeout=120, env={"PYTHONPATH": str(SRC)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "--num-kv-pairs" in out.stdout and "python -m stepstone.tasks.mqar" in out.stdout


def test_bad_flags_exit_with_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--attention", "flash"])
    assert exc.value.code == 2
    assert "attention must be one of" in capsys.readouterr().err
    with pytest.raises(ValueError, match="too short"):
        MQARConfig(seq_len=16, num_kv_pairs=(8,))
    with pytest.raises(ValueError, match="precision"):
        MQARConfig(precision="fp8")


def test_a_diverged_run_finishes_with_its_non_finite_values_flagged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result, record, history, records = train_in_lab(
        train, tiny(lr=1e30, grad_clip=0.0, warmup_steps=0), "mqar", tmp_path)
    assert record.status == "finished"
    assert result["eval/loss"] != result["eval/loss"]  # NaN: the model diverged
    assert history["eval/loss"].steps[-1] == 4  # logged, flagged non-finite by the lab
    assert records and all(r.get("score") is None and "correct" in r for r in records)
    assert record.summary["eval/nonfinite_scores"] == len(records)
    assert capsys.readouterr().err.count("non-finite score") == 1
