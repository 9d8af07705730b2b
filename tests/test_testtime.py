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
from stepstone.cli.curves import curve_points, run_curves
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
    assert "it stays flat (+" in flat.summary and "it flat" not in flat.summary
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
    # `steps` is the training-step count here; the knob's training value is another key
    run = stepstone.init(project="t", lab=lab, config={"steps": 600, "eval": {"steps": 32},
                                                       "model": {"recursion_steps": 16}})
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
        # no config key is guessed from the knob's name: not the 600 training steps
        [(_, unnamed)] = run_curves(opened, [run.id], "steps", "accuracy")
        assert unnamed.train_value is None and unnamed.beyond is None
        [(_, curve)] = run_curves(opened, [run.id], "steps", "accuracy",
                                  train_value="model.recursion_steps")
        assert curve.train_value == 16
        assert curve.beyond is not None and curve.beyond.verdict == "improves"
        assert curve.beyond.from_knob == 16 and curve.beyond.to_knob == 32
        # the key is exact: no suffix matching
        with pytest.raises(UsageError, match="no number at 'recursion_steps'"):
            run_curves(opened, [run.id], "steps", "accuracy", train_value="recursion_steps")
        [(_, per_example)] = run_curves(opened, [run.id], "samples")
        assert per_example.metric == "accuracy"
        assert [p.mean for p in per_example.points] == [0.25, 1.0]
        [(_, loss)] = run_curves(opened, [run.id], "steps", "loss")
        assert not loss.higher_is_better and loss.best.knob == 32


def test_curve_command_with_several_runs(lab: Path) -> None:
    curves = {  # run name: (its config, accuracy by recursion steps)
        "deep": ({"steps": 600, "model": {"recursion_steps": 16}},
                 {8: 0.60, 16: 0.70, 32: 0.76, 64: 0.80}),
        "shallow": ({"steps": 700, "model": {"recursion_steps": 8}},
                    {4: 0.50, 8: 0.70, 16: 0.65, 32: 0.55}),
    }
    ids = {}
    for name, (config, points) in curves.items():
        run = stepstone.init(project="t", lab=lab, name=name, config=config)
        for steps, acc in points.items():
            run.log_curve("steps", steps, {"accuracy": acc})
        run.finish()
        ids[name] = run.id
    code, out, err = cli(lab, "curve", ids["deep"], ids["shallow"], "--knob", "steps",
                         "--train-value", "model.recursion_steps", "--json")
    assert code == 0, err
    deep, shallow = json.loads(out)["curves"]
    assert (deep["name"], deep["train_value"]) == ("deep", 16)
    assert (shallow["name"], shallow["train_value"]) == ("shallow", 8)
    assert deep["beyond"]["verdict"] == "improves"
    assert deep["beyond"]["change"] == pytest.approx(0.10)
    assert shallow["beyond"]["verdict"] == "degrades"
    assert (shallow["beyond"]["from_knob"], shallow["beyond"]["to_knob"]) == (8, 32)
    assert shallow["beyond"]["change"] == pytest.approx(-0.15)
    assert shallow["below"]["verdict"] == "degrades"  # 4 steps cost 0.20
    # one number for every run
    code, out, err = cli(lab, "curve", ids["deep"], ids["shallow"], "--knob", "steps",
                         "--train-value", "16", "--json")
    assert code == 0, err
    assert [c["train_value"] for c in json.loads(out)["curves"]] == [16, 16]
    # the table: one column per run, the union of the knob values, the training value marked
    code, out, err = cli(lab, "curve", ids["deep"], ids["shallow"], "--knob", "steps",
                         "--train-value", "model.recursion_steps")
    assert code == 0, err
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines()
             if line.count("│") == 4]
    header = next(line for line in out.splitlines() if "steps" in line and "deep" in line)
    assert header.index("steps") < header.index("deep") < header.index("shallow")
    assert cells == [["4", "", "0.5"], ["8", "0.6", "0.7 (train)"],
                         ["16", "0.7 (train)", "0.65"], ["32", "0.76", "0.55"],
                         ["64", "0.8", ""]]
    assert "deep: best accuracy 0.8" in out and "shallow: best accuracy 0.7" in out
    code, _, err = cli(lab, "curve", ids["deep"], "--knob", "steps", "--train-value",
                       "recursion_steps")
    assert code == 2 and "no number at 'recursion_steps'" in err


def test_curve_from_the_mqar_reference_task(lab: Path, tmp_path: Path) -> None:
    """The MQAR reference task's data and evaluation at K = 2 to 16 pairs, with a model whose
    answer is known: it holds the first 4 key-value pairs of a sequence (a state of fixed
    capacity, trained at K = 4). Each key is queried once, so its accuracy is min(1, 4 / K):
    flat below the training value, halving with each doubling beyond it."""
    torch = pytest.importorskip("torch")

    from stepstone.tasks import mqar
    from stepstone.tasks.mqar_data import generate_mqar

    capacity, vocab = 4, 64

    class FixedCapacity(torch.nn.Module):
        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            logits = torch.zeros(*inputs.shape, vocab)
            logits[..., 0] = 5.0  # not a value token: a miss is never right by chance
            for i, row in enumerate(inputs.tolist()):
                memory: dict[int, int] = {}
                for j in range(capacity):  # the first pairs win over later tokens
                    memory.setdefault(row[2 * j], row[2 * j + 1])
                for pos, token in enumerate(row):
                    if token in memory:
                        logits[i, pos, memory[token]] = 10.0
            return logits

    cfg = mqar.MQARConfig(vocab_size=vocab, seq_len=64, num_kv_pairs=(capacity,), device="cpu")
    run = stepstone.init(project="mqar", lab=lab, name="mqar-testtime")
    model = FixedCapacity()
    for k in (2, 4, 8, 16):
        batch = generate_mqar(32, k, cfg.seq_len, cfg.vocab_size, k, cfg.power_a)
        metrics, _ = mqar.evaluate(model, [batch], cfg, torch.device("cpu"))
        run.log_curve("num_kv_pairs", k, {"accuracy": metrics["eval/accuracy"],
                                          "loss": metrics["eval/loss"]}, train_value=capacity)
    run.finish()
    figure = tmp_path / "curve.png"
    code, out, err = cli(lab, "curve", run.id, "--knob", "num_kv_pairs", "--metric",
                         "accuracy", "--plot", str(figure), "--json")
    assert code == 0, err
    [curve] = json.loads(out)["curves"]
    assert [p["knob"] for p in curve["points"]] == [2, 4, 8, 16]
    assert [p["mean"] for p in curve["points"]] == pytest.approx([1.0, 1.0, 0.5, 0.25])
    assert curve["train_value"] == 4
    assert curve["beyond"]["from_knob"] == 4 and curve["beyond"]["to_knob"] == 16
    assert curve["beyond"]["verdict"] == "degrades"
    assert curve["beyond"]["change"] == pytest.approx(-0.75)
    assert curve["below"]["to_knob"] == 2 and curve["below"]["verdict"] == "flat"
    assert figure.stat().st_size > 1000
    code, out, err = cli(lab, "curve", run.id, "--knob", "num_kv_pairs", "--metric", "loss",
                         "--json")
    assert code == 0, err
    [loss] = json.loads(out)["curves"]
    assert loss["higher_is_better"] is False and loss["beyond"]["verdict"] == "degrades"
    code, out, err = cli(lab, "curve", run.id, "--knob", "num_kv_pairs", "--metric", "loss")
    assert code == 0, err
    assert "(train)" in out and "beyond training" in out
    code, _, err = cli(lab, "curve", run.id, "--knob", "context")
    assert code == 1 and "no test-time curve over 'context'" in err
