"""Precision lints: fp16 without a gradient scaler, and values outside a format's range."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

import stepstone
from stepstone.cli import main
from stepstone.configs.precision import SUMMARY_KEY, config_lints, precision_of
from stepstone.errors import UsageError
from stepstone.method import result_page
from stepstone.sdk.lints import value_lints
from stepstone.store import open_lab


@pytest.mark.parametrize("config", [
    {"precision": "fp16"},
    {"train": {"dtype": "float16"}},
    {"dtype": "float16"},  # an explicit top-level precision
    {"precision": "fp16", "grad_scaler": False},
    {"amp_dtype": "half", "loss_scale": 1},  # a static scale of 1 is no scaling
    {"fp16": {"enabled": True, "loss_scale": 1}},  # DeepSpeed with scaling turned off
    {"use_amp": True},  # autocast on CUDA is float16 by default
    {"fp16": True, "grad_scaler": False},  # Hugging Face with the scaler turned off
    # a training setting wins over a model's storage dtype
    {"model": {"torch_dtype": "bfloat16"}, "trainer": {"precision": "16-true"}},
])
def test_fp16_lint_fires(config: dict) -> None:
    [lint] = config_lints(config)
    assert lint.code == "fp16-no-grad-scaler" and "gradient scaler" in lint.message


HF_FP32 = {  # what a Hugging Face run records: the checkpoint's config and the training args
    "model": {"torch_dtype": "float16", "dtype": "float16", "hidden_size": 768},
    "training_args": {"fp16": False, "bf16": False, "max_steps": 1000},
}


@pytest.mark.parametrize("config", [
    {"precision": "fp32"},
    {"precision": "bf16"},  # bf16 has fp32's exponent range: no scaler needed
    {"dtype": "bfloat16", "grad_scaler": False},
    {"precision": "fp16", "grad_scaler": True},
    {"optim": {"precision": "fp16"}, "amp": {"use_grad_scaler": "yes"}},
    {"fp16": {"enabled": True, "loss_scale": 0}},  # DeepSpeed's dynamic loss scaling
    {"fp16": {"enabled": True}},  # DeepSpeed scales dynamically by default (loss_scale 0)
    {"precision": "16-mixed"},  # Lightning adds the scaler itself
    {"precision": 16},
    {"mixed_precision": "fp16"},  # Accelerate adds a GradScaler itself
    {"fp16": True, "per_device_train_batch_size": 8},  # Hugging Face Trainer scales itself
    # Hugging Face fp32 training of a checkpoint stored in float16
    HF_FP32,
    # the same flattened at the top level, as experiment trackers log it
    {"torch_dtype": "float16", "dtype": "float16", "fp16": False, "bf16": False},
    {"torch_dtype": "float16"},  # a checkpoint's dtype alone is not the training precision
    {"data": {"dtype": "float16"}, "model": {"dtype": "float16"}},  # dtypes of other things
    {"use_amp": False, "dtype": "float16"},  # amp off: fp32 compute
    {"mixed_precision": "no", "train": {"dtype": "float16"}},
    {},
])
def test_fp16_lint_stays_quiet(config: dict) -> None:
    assert config_lints(config) == []


def test_precision_of() -> None:
    assert precision_of({"model": {"precision": "bf16-mixed"}}) == ("bf16", False)
    assert precision_of({"precision": "fp32"}) == (None, False)
    assert precision_of(HF_FP32) == (None, False)
    hf_bf16 = {**HF_FP32, "training_args": {"fp16": False, "bf16": True}}
    assert precision_of(hf_bf16) == ("bf16", False)
    hf_fp16 = {**HF_FP32, "training_args": {"fp16": True, "bf16": False}}
    assert precision_of(hf_fp16) == ("fp16", True)  # the Trainer's own scaler
    assert precision_of({"use_amp": True, "train": {"dtype": "bfloat16"}}) == ("bf16", False)
    assert precision_of({"trainer": {"precision": "16-mixed"}}) == ("fp16", True)
    assert precision_of({"train": {"dtype": "float16"}}) == ("fp16", False)
    assert precision_of({"model": {"dtype": "float16"}}) == (None, False)


def test_lint_at_init_warns_and_records_then_shows_on_the_result_page(
        lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = stepstone.init(project="t", lab=lab, config={"precision": "fp16", "lr": 1e-3})
    err = capsys.readouterr().err
    assert "precision warning: trains in fp16 without a gradient scaler" in err
    assert run.summary[SUMMARY_KEY][0].startswith("trains in fp16")
    run.log({"loss": 1.0})
    run.finish()
    with open_lab(lab) as opened:
        assert opened.runs.get(run.id).summary[SUMMARY_KEY]
        page = result_page.record_run_result(opened, run.id)
        assert page is not None and "Precision lint: trains in fp16" in page.body
        assert page.data["precision_lints"]
    quiet = stepstone.init(project="t", lab=lab, config={"precision": "fp16",
                                                         "grad_scaler": True})
    assert "precision warning" not in capsys.readouterr().err
    assert SUMMARY_KEY not in quiet.summary
    quiet.finish()
    with open_lab(lab) as opened:
        page = result_page.record_run_result(opened, quiet.id)
        assert "Precision lint" not in page.body and page.data["precision_lints"] == []
    out, errs = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(errs):
        main(["show", run.id, "--lab", str(lab), "--json"])
    assert json.loads(out.getvalue())["precision_lints"][0].startswith("trains in fp16")


def test_values_outside_the_range() -> None:
    x = np.array([1.0, 70000.0, -2.0, 0.5])
    [over] = value_lints(x, "fp16", name="logits")
    assert over.code == "precision-overflow" and "logits" in over.message
    assert "65504" in over.message
    assert value_lints(x, "bf16") == []  # bf16 reaches 3.4e38
    tiny = np.full(100, 1e-9)
    [under] = value_lints(tiny, "fp16", name="grads")
    assert under.code == "precision-underflow"
    assert value_lints(np.array([1.0, np.inf]), "bf16")[0].code == "precision-nonfinite"
    assert value_lints(np.ones(4), "float16") == []
    with pytest.raises(UsageError, match="fp16 or bf16"):
        value_lints(np.ones(4), "int8")


def test_lint_precision_on_a_tensor_records_on_the_run(
        lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    run = stepstone.init(project="t", lab=lab, config={"precision": "bf16"})
    assert capsys.readouterr().err.count("precision warning") == 0
    found = stepstone.lint_precision(torch.tensor([1.0, 1e6]), "fp16", name="activations")
    assert [f.code for f in found] == ["precision-overflow"]
    assert "activations" in capsys.readouterr().err
    assert stepstone.lint_precision(torch.ones(3), "fp16") == []
    run.finish()
    with open_lab(lab) as opened:
        summary = opened.runs.get(run.id).summary
        assert len(summary[SUMMARY_KEY]) == 1 and "activations" in summary[SUMMARY_KEY][0]
        page = result_page.record_run_result(opened, run.id)
        assert "Precision lint: activations" in page.body


def test_the_sdk_stays_light() -> None:
    import subprocess

    code = ("import sys, stepstone; stepstone.init(mode='disabled'); "
            "from stepstone.configs import precision; "
            "precision.config_lints({'precision': 'fp16'}); print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("task", ["mqar", "bytelm"])
def test_reference_tasks_lint_only_when_their_scaler_is_off(task: str) -> None:
    from dataclasses import asdict

    from stepstone.tasks import get_task

    module = get_task(task)
    cls = module.MQARConfig if task == "mqar" else module.ByteLMConfig
    assert config_lints(asdict(cls(precision="fp16"))) == []
    [lint] = config_lints(asdict(cls(precision="fp16", grad_scaler=False)))
    assert lint.code == "fp16-no-grad-scaler"


def test_a_data_scaler_is_not_a_gradient_scaler() -> None:
    from stepstone.configs.precision import scaler_of

    config = {"train": {"precision": "fp16"}, "data": {"scaler": "standard"}}
    assert scaler_of(config) is None
    assert [lint.code for lint in config_lints(config)] == ["fp16-no-grad-scaler"]
    assert scaler_of({"train": {"scaler": True}}) is True
    assert scaler_of({"fp16": {"loss_scale": 0}}) is True  # DeepSpeed: 0 is dynamic scaling


def test_a_precision_setting_added_after_init_warns_once(
        lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = stepstone.init(project="t", lab=lab, config={"lr": 1e-3})
    assert "precision warning" not in capsys.readouterr().err
    run.config.update({"training_args": {"fp16": False}})  # the HF callback, fp32
    assert "precision warning" not in capsys.readouterr().err
    run.config.update({"train": {"precision": "fp16"}})  # a later hyperparameter dump
    assert capsys.readouterr().err.count("precision warning: trains in fp16") == 1
    run.config["seed"] = 3  # later changes do not repeat it
    assert "precision warning" not in capsys.readouterr().err
    assert len(run.summary[SUMMARY_KEY]) == 1
    run.finish()
