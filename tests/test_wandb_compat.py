"""``import stepstone as wandb`` runs an ordinary wandb-instrumented script unchanged."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
