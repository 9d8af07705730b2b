"""Libraries that log to wandb themselves run unchanged with stepstone standing in for wandb:
Hugging Face's ``Trainer(report_to="wandb")``, Lightning's own ``WandbLogger``, and a
CleanRL-style script that logs only through TensorBoard's ``SummaryWriter`` with
``sync_tensorboard=True``. Each drives the real library from the environment, tiny and
on the CPU (models built from a config: nothing is downloaded)."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import pytest

from stepstone.integrations.as_wandb import SHIM, python_path
from stepstone.store import open_lab


def _run(args: list[str], cwd: Path, lab: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``args`` in a fresh process writing to ``lab``, offline (no hub, no wandb server)."""
    environ = {**os.environ, "STEPSTONE_LAB": str(lab), "HF_HUB_OFFLINE": "1",
               "TRANSFORMERS_OFFLINE": "1", "WANDB_MODE": "offline", **env}
    result = subprocess.run(args, cwd=cwd, env=environ, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _as_wandb(script: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "stepstone.integrations.as_wandb", str(script), *args]


def _only_run(lab: Path) -> tuple[object, dict[str, list[int]], dict[str, bytes]]:
    """The lab's one run, each metric's steps, and its artifact files by name."""
    with open_lab(lab) as opened:
        (record,) = opened.runs.list()
        steps = {k: list(s.steps) for k, s in opened.metrics.history(record.id).items()}
        files = {o.name: opened.objects.get(o.hash)
                 for o in opened.run_objects(record.id) if o.role == "artifact"}
        manifests = {o.name: json.loads(opened.objects.get(o.hash))
                     for o in opened.run_objects(record.id, "artifact-manifest")}
    files.update({f"manifest:{k}": json.dumps(v).encode() for k, v in manifests.items()})
    return record, steps, files


SHIM_SCRIPT = textwrap.dedent("""
    import importlib.metadata, sys
    import wandb
    import wandb.sdk
    from wandb.sdk.lib import RunDisabled
    from wandb.sdk.lib.config_util import ConfigError
    from wandb.wandb_run import Run
    from lightning_utilities.core.imports import RequirementCache
    import stepstone, stepstone.errors

    shim = sys.argv[1]
    assert Run is stepstone.Run is wandb.sdk.wandb_run.Run and wandb.Artifact is stepstone.Artifact
    assert ConfigError is stepstone.errors.ConfigError and isinstance(RunDisabled, type)
    assert wandb.Audio is stepstone.Audio and wandb.Video is stepstone.Video
    assert importlib.metadata.version("wandb") == wandb.__version__
    assert bool(RequirementCache("wandb>=0.12.10")), str(RequirementCache("wandb>=0.12.10"))
    loaded = [m for name, m in sys.modules.items() if name.split(".")[0] == "wandb"]
    assert all(m.__file__.startswith(shim) for m in loaded), [m.__file__ for m in loaded]
    files = [m.__file__ for name, m in sys.modules.items()
             if name != "__main__" and "stepstone" in (getattr(m, "__file__", None) or "")]
    assert len(files) == len(set(files)), "a module was loaded twice under two names"
    assert "wandb.sdk.run" not in sys.modules and "stepstone.sdk" in sys.modules
    assert wandb.run is None
    run = wandb.init(project="shim", settings=wandb.Settings(start_method="thread"))
    assert wandb.run is run and wandb.config is run.config and wandb.summary is run.summary
    wandb.termwarn("said once", repeat=False)
    wandb.termwarn("said once", repeat=False)
    wandb.require("service")
    wandb.finish()
    assert wandb.run is None
    print("shim ok")
""")


def test_import_wandb_resolves_to_stepstone_only_when_asked(tmp_path, lab):
    spec = importlib.util.find_spec("wandb")  # the environment's own wandb, untouched
    assert spec is not None and not str(spec.origin).startswith(str(SHIM))
    script = tmp_path / "shim.py"
    script.write_text(SHIM_SCRIPT)
    result = _run(_as_wandb(script, str(SHIM)), tmp_path, lab)
    assert "shim ok" in result.stdout
    assert result.stderr.count("said once") == 1
    assert result.stderr.count("init(settings=...) is ignored: these wandb settings do not "
                               "apply to a lab (start_method)") == 1
    # the PYTHONPATH one-liner: any plain `python` started with it
    out = _run([sys.executable, str(script), str(SHIM)], tmp_path, lab,
               PYTHONPATH=python_path({"PYTHONPATH": os.environ.get("PYTHONPATH", "")}))
    assert "shim ok" in out.stdout


def test_the_shim_reports_the_version_the_facade_claims():
    from stepstone.integrations import wandb_compat

    (record,) = SHIM.glob("wandb-*.dist-info")
    assert record.name == f"wandb-{wandb_compat.__version__}.dist-info"
    assert f"Version: {wandb_compat.__version__}\n" in (record / "METADATA").read_text()


def test_the_alias_refuses_once_the_real_wandb_is_loaded(tmp_path, lab):
    script = tmp_path / "late.py"
    script.write_text("print('ran')\n")
    code = ("import sys, wandb, runpy\n"
            "sys.argv = ['as_wandb', sys.argv[1]]\n"
            "runpy.run_module('stepstone.integrations.as_wandb', run_name='__main__')\n")
    environ = {**os.environ, "STEPSTONE_LAB": str(lab), "WANDB_MODE": "offline"}
    result = subprocess.run([sys.executable, "-c", code, str(script)], env=environ,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "ran" not in result.stdout
    assert result.stderr.strip().splitlines() == [
        "stepstone: the real wandb is already imported in this process; turn the alias on "
        "before anything imports wandb (e.g. `stepstone run --as-wandb -- python train.py`)"]


HF_SCRIPT = textwrap.dedent("""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    class Tokens(torch.utils.data.Dataset):
        def __init__(self, n):
            self.x = torch.randint(0, 32, (n, 8), generator=torch.Generator().manual_seed(n))
        def __len__(self):
            return len(self.x)
        def __getitem__(self, i):
            return {"input_ids": self.x[i], "labels": self.x[i]}

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=32, n_positions=8, n_embd=16, n_layer=1, n_head=2,
                        bos_token_id=0, eos_token_id=0)
    args = TrainingArguments("out", max_steps=6, logging_steps=2, eval_strategy="steps",
                             eval_steps=3, save_steps=3, per_device_train_batch_size=4,
                             report_to="wandb", run_name="hf-tiny", use_cpu=True,
                             disable_tqdm=True)
    Trainer(model=GPT2LMHeadModel(config), args=args, train_dataset=Tokens(64),
            eval_dataset=Tokens(8)).train()
""")


@pytest.mark.parametrize("log_model", ["false", "checkpoint"])
def test_hf_trainer_reporting_to_wandb(tmp_path, lab, log_model):
    pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    script = tmp_path / "train.py"
    script.write_text(HF_SCRIPT)
    if log_model == "false":  # through the CLI flag
        _run([sys.executable, "-m", "stepstone", "run", "--as-wandb", "--name", "hf-tiny",
              "--", sys.executable, str(script)], tmp_path, lab)
    else:
        _run(_as_wandb(script), tmp_path, lab, WANDB_LOG_MODEL=log_model)
    record, steps, files = _only_run(lab)
    assert record.status == "finished" and record.name == "hf-tiny"  # type: ignore[attr-defined]
    # every point at the trainer's global step (logging every 2, evaluating every 3 steps)
    assert steps["train/loss"] == steps["train/grad_norm"] == [2, 4, 6]
    assert steps["train/learning_rate"] == [2, 4, 6]
    assert steps["eval/loss"] == steps["eval/runtime"] == [3, 6]
    assert steps["train/global_step"] == [2, 3, 4, 6, 6, 6]
    summary = record.summary  # type: ignore[attr-defined]
    assert summary["train/global_step"] == 6 and "train_loss" in summary
    assert record.config["model/num_parameters"] > 0  # type: ignore[attr-defined]
    if log_model == "false":
        assert files == {}
        return
    saved = tmp_path / "out" / "checkpoint-6" / "model.safetensors"
    # the architecture at the start, checkpoints 3 and 6, the final model: four versions
    assert files["model-hf-tiny:v2/model.safetensors"] == saved.read_bytes()
    assert files["model-hf-tiny:v3/model.safetensors"] == saved.read_bytes()
    assert b"GPT2LMHeadModel" in files["model-hf-tiny:v0/model_architecture.txt"]
    assert "model-hf-tiny:v1/optimizer.pt" in files
    manifest = json.loads(files["manifest:model-hf-tiny:v3"])
    assert manifest["type"] == "model" and manifest["aliases"] == ["final_model"]
    assert manifest["metadata"]["final_model"] is True
    with open_lab(lab) as opened:  # content-addressed: the same weights stored once
        hashes = {o.name: o.hash for o in opened.run_objects(record.id, "artifact")}  # type: ignore[attr-defined]
    assert (hashes["model-hf-tiny:v2/model.safetensors"]
            == hashes["model-hf-tiny:v3/model.safetensors"])


LIGHTNING_SCRIPT = textwrap.dedent("""
    import sys
    import torch
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import WandbLogger

    class Tiny(pl.LightningModule):
        def __init__(self, lr=0.1):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Linear(4, 1)
        def training_step(self, batch, i):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train/loss", loss)
            if self.global_step == 4:
                self.logger.log_image("samples", [x[:1, None].sigmoid()], step=self.global_step,
                                      caption=[f"batch {i}"])
            return loss
        def validation_step(self, batch, i):
            x, y = batch
            self.log("val/loss", torch.nn.functional.mse_loss(self.net(x), y))
            if i == 0:
                self.logger.log_table("preds", columns=["y"], data=[[float(y[0])]])
        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    torch.manual_seed(0)
    x = torch.randn(32, 4)
    data = torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    logger = WandbLogger(project="pl", name="pl-tiny", log_model=sys.argv[1] == "yes")
    trainer = pl.Trainer(max_steps=6, log_every_n_steps=2, val_check_interval=3,
                         limit_val_batches=2, logger=logger, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu",
                         callbacks=[ModelCheckpoint(every_n_train_steps=3, save_top_k=-1)])
    trainer.fit(Tiny(), loader, loader)
    print("checkpoints:", trainer.checkpoint_callback.dirpath)
""")


@pytest.mark.parametrize("log_model", ["no", "yes"])
def test_lightning_wandb_logger(tmp_path, lab, log_model):
    pytest.importorskip("lightning")
    pytest.importorskip("PIL")
    script = tmp_path / "train.py"
    script.write_text(LIGHTNING_SCRIPT)
    out = _run(_as_wandb(script, log_model), tmp_path, lab).stdout
    record, steps, files = _only_run(lab)
    with open_lab(lab) as opened:
        media = sorted(o.name for o in opened.run_objects(record.id, "media"))  # type: ignore[attr-defined]
        caption = opened.run_object(record.id, "caption",  # type: ignore[attr-defined]
                                    "samples@4.png.caption.txt")
    assert record.status == "finished" and record.config == {"lr": 0.1}  # type: ignore[attr-defined]
    # at Lightning's global step (what it passes as trainer/global_step), not at call counts
    assert steps["train/loss"] == [1, 3, 5]
    assert steps["val/loss"] == [2, 5]
    assert steps["trainer/global_step"] == [1, 2, 3, 4, 5, 5]  # 4: log_image's
    # media too: log_image's at its step, log_table's (no step given) at the last global step
    # logged, as wandb plots them (the sanity check's, before any, at the run's own step 0)
    assert media == ["preds@0.table.json", "preds@1.table.json", "preds@5.table.json",
                     "samples@4.png"]
    assert caption == b"batch 4"
    if log_model == "no":
        assert files == {}
        return
    folder = tmp_path / out.split("checkpoints:", 1)[1].strip()
    assert files["model-" + record.id + ":v0/model.ckpt"] == (  # type: ignore[attr-defined]
        folder / "epoch=0-step=3.ckpt").read_bytes()
    assert files["model-" + record.id + ":v1/model.ckpt"] == (  # type: ignore[attr-defined]
        folder / "epoch=0-step=6.ckpt").read_bytes()
    # a later run takes the checkpoints back through the logger's own artifact calls
    script = tmp_path / "evaluate.py"
    script.write_text(LIGHTNING_USE_SCRIPT)
    out = _run(_as_wandb(script, f"model-{record.id}"), tmp_path, lab).stdout  # type: ignore[attr-defined]
    used, fetched = (Path(line.split(" ", 1)[1]) for line in out.splitlines()[-2:])
    assert used.read_bytes() == (folder / "epoch=0-step=6.ckpt").read_bytes()
    assert fetched.read_bytes() == (folder / "epoch=0-step=3.ckpt").read_bytes()
    with open_lab(lab) as opened:
        (user,) = [r for r in opened.runs.list() if r.name == "pl-eval"]
        inputs = [(v.name, v.version, v.run_id) for v in opened.artifacts.used_by(user.id)]
    assert inputs == [(f"model-{record.id}", "v1", record.id)]  # type: ignore[attr-defined]


LIGHTNING_USE_SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(project="pl", name="pl-eval")
    used = logger.use_artifact(f"pl/{sys.argv[1]}:latest", artifact_type="model")
    print("used", Path(used.download()) / "model.ckpt")
    first = WandbLogger.download_artifact(f"{sys.argv[1]}:v0", save_dir="first",
                                          artifact_type="model", use_artifact=False)
    print("fetched", Path(first) / "model.ckpt")
    logger.experiment.finish()
""")

LIGHTNING_MEDIA_SCRIPT = textwrap.dedent("""
    import numpy as np
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(project="pl", name="pl-media")
    tone = np.sin(np.arange(800) / 8.0) * 0.5
    logger.log_audio("speech", [tone, tone[:400]], step=7, sample_rate=[16000, 8000],
                     caption=["a", "b"])
    frames = np.zeros((3, 3, 8, 8), dtype=np.uint8)
    frames[:, 1] = np.arange(3)[:, None, None] * 100
    logger.log_video("rollout", [frames], step=7, fps=[2], format=["gif"])
    logger.experiment.finish()
""")


def test_lightning_wandb_logger_logs_audio_and_video(tmp_path, lab):
    pytest.importorskip("lightning")
    pil = pytest.importorskip("PIL.Image")
    script = tmp_path / "media.py"
    script.write_text(LIGHTNING_MEDIA_SCRIPT)
    _run(_as_wandb(script), tmp_path, lab)
    with open_lab(lab) as opened:
        (record,) = opened.runs.list()
        media = {o.name: opened.objects.get(o.hash)
                 for o in opened.run_objects(record.id, "media")}
        captions = {o.name: opened.objects.get(o.hash)
                    for o in opened.run_objects(record.id, "caption")}
    assert record.status == "finished"
    # at the step given, Lightning's trainer/global_step, as its scalars
    assert sorted(media) == ["rollout@7.gif", "speech@7-0.wav", "speech@7-1.wav"]
    assert captions == {"speech@7-0.wav.caption.txt": b"a", "speech@7-1.wav.caption.txt": b"b"}
    with wave.open(io.BytesIO(media["speech@7-1.wav"])) as sound:
        assert (sound.getframerate(), sound.getnframes(), sound.getnchannels()) == (8000, 400, 1)
    gif = pil.open(io.BytesIO(media["rollout@7.gif"]))
    assert gif.n_frames == 3 and gif.info["duration"] == 500
    gif.seek(2)
    assert gif.convert("RGB").getpixel((0, 0)) == (0, 200, 0)


TENSORBOARD_SCRIPT = textwrap.dedent("""
    import numpy as np
    import wandb
    from torch.utils.tensorboard import SummaryWriter

    wandb.init(project="cleanrl", name="ppo", config={"lr": 2.5e-4}, sync_tensorboard=True,
               monitor_gym=True, save_code=True)
    writer = SummaryWriter("runs/ppo")
    writer.add_text("hyperparameters", "|param|value|\\n|-|-|\\n|lr|0.00025|")
    for global_step in range(0, 512, 128):
        writer.add_scalar("charts/episodic_return", global_step / 10, global_step)
        writer.add_scalar("losses/value_loss", 1.0 / (global_step + 1), global_step)
        writer.add_scalars("loss", {"train": 1.0, "val": 2.0}, global_step)
    writer.add_scalar("charts/SPS", 1234, 384, new_style=True)
    writer.add_histogram("weights", np.arange(100.0), 384)
    writer.add_image("frame", np.zeros((3, 4, 4)), 384)
    writer.add_audio("sound", np.sin(np.arange(800) / 8.0) * 0.5, 384, sample_rate=8000)
    writer.add_audio("sound", np.zeros(800), 512)
    writer.add_pr_curve("pr", np.array([0, 1, 1]), np.array([0.1, 0.6, 0.9]), 384)
    writer.add_pr_curve("pr", np.array([0, 1, 1]), np.array([0.2, 0.6, 0.9]), 512)
    writer.close()
    wandb.finish()
""")


def test_a_tensorboard_only_script_with_sync_tensorboard(tmp_path, lab):
    pytest.importorskip("torch.utils.tensorboard")
    np = pytest.importorskip("numpy")
    script = tmp_path / "ppo.py"
    script.write_text(TENSORBOARD_SCRIPT)
    err = _run(_as_wandb(script), tmp_path, lab).stderr
    with open_lab(lab) as opened:
        (record,) = opened.runs.list()
        history = opened.metrics.history(record.id)
        texts = opened.metrics.texts(record.id)
        media = {o.name: opened.objects.get(o.hash)
                 for o in opened.run_objects(record.id, "media")}
    steps = [0, 128, 256, 384]
    assert record.status == "finished"
    assert list(history["charts/episodic_return"].steps) == steps
    assert list(history["charts/episodic_return"].values) == pytest.approx([0, 12.8, 25.6, 38.4])
    assert list(history["losses/value_loss"].steps) == steps
    assert list(history["loss/train"].values) == [1.0] * 4
    assert list(history["loss/val"].steps) == steps
    assert list(history["charts/SPS"].steps) == [384]
    assert texts["hyperparameters"] == [(0, "|param|value|\n|-|-|\n|lr|0.00025|")]
    histogram = json.loads(media["weights@384.histogram.json"])
    assert sum(histogram["counts"]) == 100
    assert len(histogram["bins"]) == len(histogram["counts"]) + 1
    assert histogram["bins"][0] == 0.0 and histogram["bins"][-1] >= 99.0
    assert media["frame@384.png"].startswith(b"\x89PNG")
    with wave.open(io.BytesIO(media["sound@384.wav"])) as sound:  # add_audio's own WAV file
        assert (sound.getframerate(), sound.getnframes(), sound.getnchannels()) == (8000, 800, 1)
        samples = np.frombuffer(sound.readframes(800), dtype="<i2")
    expected = np.sin(np.arange(800) / 8.0) * 0.5 * 32767
    assert np.abs(samples - expected).max() <= 1
    assert media["sound@512.wav"].startswith(b"RIFF")
    # what is not mirrored is said, once per kind; an ignored init option too
    assert err.count("pr_curves summaries (tag 'pr') are not mirrored") == 1
    assert err.count("init(monitor_gym=...) is ignored") == 1
