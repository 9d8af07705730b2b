"""Test-time compute curves: the trend beyond the training value, logging through the SDK, and
a curve from the MQAR reference task (trained at K pairs, evaluated at fewer and more)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import stepstone
from _cli import cli
from stepstone.analysis import testtime_curve as curve_of
from stepstone.cli.standardize import curve_points, run_curves
from stepstone.errors import AnalysisError, MetricValueError, UsageError
from stepstone.store import open_lab


def test_curve_improves_beyond_training() -> None:
    # a recursive model trained with 16 steps, evaluated at 8 to 64
    curve = curve_of([8, 16, 32, 64], [0.60, 0.70, 0.76, 0.80], train_value=16,
                           knob="steps", metric="accuracy")
    assert [p.knob for p in curve.points] == [8, 16, 32, 64]
    assert curve.best.knob == 64
    assert curve.beyond is not None and curve.beyond.verdict == "improves"
    assert curve.beyond.from_knob == 16 and curve.beyond.to_knob == 64
    assert curve.beyond.change == pytest.approx(0.10)
    # least squares on log2(knob) over 16, 32, 64: slope 0.05 a doubling
    assert curve.beyond.slope_per_doubling == pytest.approx(0.05)
    assert curve.below is not None and curve.below.verdict == "degrades"  # 8 steps cost 0.10
    assert "improves" in curve.summary
    assert curve.to_dict()["beyond"]["verdict"] == "improves"


def test_curve_flat_degrading_and_lower_is_better() -> None:
    flat = curve_of([16, 32, 64], [0.70, 0.705, 0.702], train_value=16)
    assert flat.beyond is not None and flat.beyond.verdict == "flat"
    worse = curve_of([16, 32], [2.0, 2.5], train_value=16, metric="loss",
                           higher_is_better=False)
    assert worse.beyond is not None and worse.beyond.verdict == "degrades"
    assert worse.best.knob == 16
    # several evaluations at one knob value (seeds) are averaged with their spread
    seeds = curve_of([1, 1, 4, 4], [0.5, 0.7, 0.8, 0.8])
    assert seeds.at(1).mean == pytest.approx(0.6) and seeds.at(1).n == 2
    assert seeds.at(1).std == pytest.approx(math.sqrt(0.02))
    assert seeds.beyond is None  # no training value: no trend
    only = curve_of([16, 8], [0.7, 0.6], train_value=16)
    assert only.beyond is None and "no evaluation beyond" in only.summary
    with pytest.raises(AnalysisError, match="one metric value per evaluation"):
        curve_of([1, 2], [0.1])
    with pytest.raises(AnalysisError, match="not finite"):
        curve_of([1, 2], [0.1, float("nan")])


def test_log_curve_through_the_sdk(lab: Path) -> None:
    run = stepstone.init(project="t", lab=lab, config={"steps": 16})
    for steps, acc in ((8, 0.6), (16, 0.7), (32, 0.75)):
        run.log_curve("steps", steps, {"accuracy": acc, "loss": 1 - acc})
    with pytest.raises(UsageError, match="plain name"):
        run.log_curve("a/b", 1, {"x": 1.0})
    with pytest.raises(MetricValueError, match="not finite"):
        run.log_curve("steps", float("inf"), {"x": 1.0})
    # per-example records at each knob value make the same kind of curve
    for samples in (1, 4):
        run.log_eval([{"id": i, "correct": i < samples} for i in range(4)],
                     name="testtime/samples", step=samples)
    run.finish()
    with open_lab(lab) as opened:
        metric, knobs, values, train = curve_points(opened, run.id, "steps", "accuracy")
        assert (metric, knobs, values, train) == ("accuracy", [8, 16, 32], [0.6, 0.7, 0.75], None)
        with pytest.raises(UsageError, match="several metrics"):
            curve_points(opened, run.id, "steps")
        [(_, curve)] = run_curves(opened, [run.id], "steps", "accuracy")
        assert curve.train_value == 16  # from the run's config key named like the knob
        assert curve.beyond is not None and curve.beyond.verdict == "improves"
        [(_, per_example)] = run_curves(opened, [run.id], "samples")
        assert per_example.metric == "accuracy"
        assert [p.mean for p in per_example.points] == [0.25, 1.0]
        [(_, loss)] = run_curves(opened, [run.id], "steps", "loss")
        assert not loss.higher_is_better and loss.best.knob == 32


def test_curve_from_the_mqar_reference_task(lab: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Train a tiny MQAR model at K = 4 pairs through the task's ``train``, then evaluate it
    with the task's ``evaluate`` and data generator at K = 2 to 16: recall of more pairs than
    it was trained on is the knob beyond training."""
    torch = pytest.importorskip("torch")
    import numpy as np

    from stepstone.tasks import mqar
    from stepstone.tasks.mqar_data import generate_mqar

    made: list[torch.nn.Module] = []

    class Keep(mqar.Transformer):  # keeps the model the task trains, to evaluate it after
        def __init__(self, cfg: object) -> None:
            super().__init__(cfg)
            made.append(self)

    monkeypatch.setattr(mqar, "Transformer", Keep)
    monkeypatch.chdir(tmp_path)
    cfg = mqar.MQARConfig(vocab_size=64, seq_len=64, num_kv_pairs=(4,), d_model=32, n_layers=1,
                          n_heads=2, steps=40, batch_size=32, warmup_steps=5, eval_examples=16,
                          eval_every=0, log_every=10, threads=1, device="cpu")
    run = stepstone.init(project="mqar", lab=lab, name="mqar-testtime")
    summary = mqar.train(cfg, run=run)
    assert summary["steps"] == 40 and len(made) == 1
    model, device = made[0], torch.device("cpu")
    rng = np.random.default_rng(1)
    for k in (2, 4, 8, 16):
        batch = generate_mqar(32, k, cfg.seq_len, cfg.vocab_size, rng, cfg.power_a)
        metrics, _ = mqar.evaluate(model, [batch], cfg, device)
        run.log_curve("num_kv_pairs", k, {"accuracy": metrics["eval/accuracy"],
                                          "loss": metrics["eval/loss"]}, train_value=4)
    run.finish()
    figure = tmp_path / "curve.png"
    code, out, err = cli(lab, "curve", run.id, "--knob", "num_kv_pairs", "--metric",
                         "accuracy", "--plot", str(figure), "--json")
    assert code == 0, err
    [curve] = json.loads(out)["curves"]
    assert [p["knob"] for p in curve["points"]] == [2, 4, 8, 16]
    assert all(0 <= p["mean"] <= 1 for p in curve["points"])
    assert curve["train_value"] == 4
    assert curve["beyond"]["from_knob"] == 4 and curve["beyond"]["to_knob"] == 16
    assert curve["beyond"]["verdict"] in ("improves", "flat", "degrades")
    assert curve["below"]["to_knob"] == 2
    assert figure.stat().st_size > 1000
    code, out, err = cli(lab, "curve", run.id, "--knob", "num_kv_pairs", "--metric", "loss")
    assert code == 0, err
    assert "(train)" in out and "beyond training" in out
    code, _, err = cli(lab, "curve", run.id, "--knob", "context")
    assert code == 1 and "no test-time curve over 'context'" in err
