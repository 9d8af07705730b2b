"""``import stepstone as wandb`` runs an ordinary wandb-instrumented script unchanged."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import pytest

from stepstone.store import init_lab, open_lab

SCRIPT = textwrap.dedent("""
    import argparse
    import stepstone as wandb

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args()

    wandb.init(project="compat", name="wandb-script", config=args, tags=["compat"],
               notes="a plain wandb script", group="g", job_type="train", entity="me",
               reinit=True)
    wandb.config.update({"epochs": 3})
    assert wandb.config.lr == 0.01
    for epoch in range(wandb.config.epochs):
        for step in range(10):
            wandb.log({"train/loss": 1.0 / (1 + step + 10 * epoch), "epoch": epoch})
        wandb.log({"val": {"loss": 0.5 / (epoch + 1)}})
    wandb.run.summary["best_val_loss"] = 0.5 / 3
    print("done training")
    wandb.finish()
""")


def test_wandb_shaped_script_runs_unchanged(tmp_path):
    root = init_lab(tmp_path)
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, env={"STEPSTONE_LAB": str(root), "PATH": "/usr/bin:/bin"},
                            timeout=120)
    assert result.returncode == 0, result.stderr
    with open_lab(root) as lab:
        (record,) = lab.runs.list()
        history = lab.metrics.history(record.id)
        log = lab.run_object(record.id, "log", "output.log")
    assert record.name == "wandb-script" and record.tags == ["compat"]
    assert record.group_name == "g" and record.job_type == "train"
    assert record.config == {"lr": 0.01, "epochs": 3}
    assert len(history["train/loss"]) == 30
    assert history["val/loss"].values[-1] == 0.5 / 3
    assert record.summary["best_val_loss"] == 0.5 / 3
    assert record.status == "finished"
    assert b"done training" in log


def test_uncaught_exception_marks_the_run_failed(tmp_path):
    root = init_lab(tmp_path)
    script = tmp_path / "boom.py"
    script.write_text("import stepstone\nstepstone.init(project='p')\n"
                      "stepstone.log({'x': 1})\nraise ValueError('bad batch')\n")
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, env={"STEPSTONE_LAB": str(root)}, timeout=120)
    assert result.returncode == 1
    with open_lab(root) as lab:
        (record,) = lab.runs.list()
    assert record.status == "failed" and "ValueError: bad batch" in record.reason


MEDIA_SCRIPT = textwrap.dedent("""
    import numpy as np
    import torch
    import stepstone as wandb

    wandb.login()
    torch.manual_seed(0)
    run = wandb.init(project="compat", name="media", config={"lr": 0.05, "epochs": 3})
    wandb.define_metric("epoch")
    wandb.define_metric("val/*", step_metric="epoch", summary="last")
    wandb.define_metric("val/loss", summary="min")
    wandb.define_metric("val/acc", summary="max,mean")
    run.define_metric("train/loss", summary="best", goal="minimize")

    model = torch.nn.Linear(4, 1)
    wandb.watch(model, log="all", log_freq=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=wandb.config.lr)
    x = torch.randn(64, 4)
    y = x.sum(dim=1, keepdim=True)
    val = [(0.9, 0.50), (0.5, 0.75), (0.7, 0.70)]
    for epoch in range(wandb.config.epochs):
        for _ in range(5):
            loss = torch.nn.functional.mse_loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            wandb.log({"train/loss": loss.item()})
        wandb.log({"epoch": epoch, "val/loss": val[epoch][0], "val/acc": val[epoch][1]})

    table = wandb.Table(columns=["id", "prediction", "target"])
    with torch.no_grad():
        predictions = model(x[:3])
    for i in range(3):
        table.add_data(i, predictions[i, 0], float(y[i, 0]))
    gray = np.linspace(0.0, 1.0, 64).reshape(8, 8)
    wandb.log({
        "predictions": table,
        "weights": wandb.Histogram(model.weight.detach(), num_bins=8),
        "sample": wandb.Image(gray, caption="a ramp"),
        "samples": [wandb.Image(torch.rand(3, 8, 8)), wandb.Image(gray)],
    })
    wandb.unwatch(model)
    wandb.finish()
""")


def test_a_wandb_script_with_media_define_metric_and_watch_runs_unchanged(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("numpy")
    pil = pytest.importorskip("PIL.Image")
    root = init_lab(tmp_path)
    script = tmp_path / "train.py"
    script.write_text(MEDIA_SCRIPT)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, env={"STEPSTONE_LAB": str(root), "PATH": "/usr/bin:/bin"},
                            timeout=300)
    assert result.returncode == 0, result.stderr
    with open_lab(root) as lab:
        (record,) = lab.runs.list()
        history = lab.metrics.history(record.id)
        media = {o.name: lab.objects.get(o.hash)
                 for o in lab.run_objects(record.id, "media")}
    summary = record.summary
    assert record.status == "finished" and record.seed == 0
    assert summary["val/loss"] == 0.7 and summary["val/loss.min"] == 0.5
    assert summary["val/acc.max"] == 0.75 and summary["val/acc.mean"] == pytest.approx(0.65)
    assert summary["train/loss.best"] == min(history["train/loss"].values)
    assert summary["val/loss.last"] == 0.7 and summary["val/acc.last"] == 0.7  # both rules
    assert "val/loss.max" not in summary and "epoch.min" not in summary
    # media: no metrics (a run slowed past a second also has the sampler's system/ keys)
    assert {k for k in history if not k.startswith("system/")} == {
        "train/loss", "epoch", "val/loss", "val/acc"}
    assert sorted(media) == ["predictions@18.table.json", "sample@18.png",
                             "samples@18-0.png", "samples@18-1.png", "weights@18.histogram.json"]
    table = json.loads(media["predictions@18.table.json"])
    assert table["columns"] == ["id", "prediction", "target"]
    assert [row[0] for row in table["data"]] == [0, 1, 2]
    assert all(isinstance(v, float) for row in table["data"] for v in row[1:])
    histogram = json.loads(media["weights@18.histogram.json"])
    assert sum(histogram["counts"]) == 4 and len(histogram["bins"]) == 9
    ramp = pil.open(io.BytesIO(media["sample@18.png"]))
    assert ramp.size == (8, 8) and ramp.getpixel((0, 0)) == 0 and ramp.getpixel((7, 7)) == 255
    assert pil.open(io.BytesIO(media["samples@18-0.png"])).size == (8, 8)
    assert media["samples@18-1.png"] == media["sample@18.png"]
