"""The Lightning logger, against the real library: a tiny model trained a few steps on the CPU."""

from __future__ import annotations

import io
import json
import wave

import pytest

pytest.importorskip("lightning")
torch = pytest.importorskip("torch")

import lightning.pytorch as pl  # noqa: E402
from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from stepstone.errors import UsageError  # noqa: E402
from stepstone.integrations.lightning import StepstoneLogger  # noqa: E402
from stepstone.store import init_lab, open_lab  # noqa: E402


class Tiny(pl.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 4, fail_at: int = -1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.embed = torch.nn.Embedding(10, hidden)
        self.out = torch.nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(x)).squeeze(-1)

    def training_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        if self.global_step == self.hparams.fail_at:
            raise RuntimeError("boom in training_step")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self(x), y)
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self(x), y))

    def configure_optimizers(self):  # type: ignore[no-untyped-def]
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def _data() -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 10, (16,), generator=g)
    return DataLoader(TensorDataset(x, x.float() / 10), batch_size=4)


def _trainer(tmp_path, logger, **kwargs) -> pl.Trainer:  # type: ignore[no-untyped-def]
    return pl.Trainer(
        logger=logger, default_root_dir=tmp_path, max_steps=4, log_every_n_steps=1,
        limit_val_batches=1, val_check_interval=2, enable_progress_bar=False,
        enable_model_summary=False, accelerator="cpu", devices=1, **kwargs,
    )


def test_logger_records_hparams_metrics_checkpoints_and_end(tmp_path) -> None:
    lab = init_lab(tmp_path / "lab")
    logger = StepstoneLogger(project="lit", name="tiny", lab=lab, tags=["lightning"])
    ckpt = ModelCheckpoint(monitor="val/loss", save_top_k=1, save_last=True)
    _trainer(tmp_path, logger, callbacks=[ckpt]).fit(Tiny(lr=0.05), _data(), _data())
    run_id = logger.version
    with open_lab(lab) as opened:
        record = opened.runs.get(run_id)
        history = opened.metrics.history(run_id)
    assert record.status == "finished" and record.project == "lit" and record.name == "tiny"
    assert record.tags == ["lightning"]
    assert record.config["lr"] == 0.05 and record.config["hidden"] == 4
    assert history["train/loss"].steps == [0, 1, 2, 3]
    assert "val/loss" in history and "epoch" in history
    assert record.summary["n_params"] == 10 * 4 + 4 + 1
    assert record.summary["n_params_non_embedding"] == 5
    assert record.summary["checkpoint/best_model_path"].endswith(".ckpt")
    assert record.summary["checkpoint/best_model_path"] == ckpt.best_model_path
    assert record.summary["checkpoint/last_model_path"] == ckpt.last_model_path
    assert ckpt.best_model_path.startswith(str(tmp_path / "lit" / run_id))


def test_logging_after_fit_resumes_and_finishes_again(tmp_path) -> None:
    lab = init_lab(tmp_path / "lab")
    logger = StepstoneLogger(project="lit", lab=lab, log_model=True)
    model = Tiny()
    trainer = _trainer(tmp_path, logger, enable_checkpointing=True)
    trainer.fit(model, _data())
    trainer.validate(model, _data())
    with open_lab(lab) as opened:
        record = opened.runs.get(logger.version)
        history = opened.metrics.history(logger.version)
        stored = opened.run_objects(logger.version, "artifact")
    assert record.status == "finished"
    assert "val/loss" in history
    assert [o.name for o in stored] and stored[0].name.startswith("checkpoints/")


def test_a_failed_fit_marks_the_run_failed_with_the_exception(tmp_path) -> None:
    lab = init_lab(tmp_path / "lab")
    logger = StepstoneLogger(project="lit", lab=lab)
    with pytest.raises(RuntimeError, match="boom"):
        _trainer(tmp_path, logger, enable_checkpointing=False).fit(Tiny(fail_at=2), _data())
    with open_lab(lab) as opened:
        record = opened.runs.get(logger.version)
    assert record.status == "failed"
    assert "RuntimeError: boom in training_step" in (record.reason or "")
    assert record.last_step == 1


class TinyWithTables(Tiny):
    def validation_step(self, batch, batch_idx):  # type: ignore[no-untyped-def]
        super().validation_step(batch, batch_idx)
        if batch_idx == 0:
            x, y = batch
            self.logger.log_table("preds", columns=["x", "y"], data=[[int(x[0]), float(y[0])]])


class Samples(pl.Callback):
    """What a researcher's callback logs: media of each batch, other media once at the end."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # type: ignore[no-untyped-def]
        image = torch.full((3, 2, 2), batch_idx / 10)
        trainer.logger.log_image("samples", [image], caption=[f"batch {batch_idx}"])
        trainer.logger.log_text("targets", columns=["y"], data=[[float(y)] for y in batch[1]])

    def on_train_end(self, trainer, pl_module):  # type: ignore[no-untyped-def]
        logger = trainer.logger
        sound = torch.zeros(400).numpy()
        logger.log_audio("speech", [sound, sound], step=7, sample_rate=[8000, 8000],
                         caption=["a", "b"])
        logger.log_video("rollout", [torch.zeros(3, 3, 4, 4).numpy()], step=7, fps=[2])


def test_media_land_at_the_step_of_the_scalars_with_their_captions(tmp_path) -> None:
    pytest.importorskip("PIL")
    lab = init_lab(tmp_path / "lab")
    logger = StepstoneLogger(project="lit", lab=lab)
    _trainer(tmp_path, logger, callbacks=[Samples()], enable_checkpointing=False,
             num_sanity_val_steps=0).fit(TinyWithTables(), _data(), _data())
    run_id = logger.version
    with open_lab(lab) as opened:
        history = opened.metrics.history(run_id)
        media = {o.name: opened.objects.get(o.hash) for o in opened.run_objects(run_id, "media")}
        captions = {o.name: opened.objects.get(o.hash)
                    for o in opened.run_objects(run_id, "caption")}
    # no step given: where Lightning put that moment's scalars (training and validation)
    assert history["train/loss"].steps == [0, 1, 2, 3]
    assert history["val/loss"].steps == [1, 3]
    assert sorted(media) == [
        "preds@1.table.json", "preds@3.table.json", "rollout@7.gif",
        *[f"samples@{i}.png" for i in range(4)], "speech@7-0.wav", "speech@7-1.wav",
        *[f"targets@{i}.table.json" for i in range(4)],
    ]
    assert captions == {
        **{f"samples@{i}.png.caption.txt": f"batch {i}".encode() for i in range(4)},
        "speech@7-0.wav.caption.txt": b"a", "speech@7-1.wav.caption.txt": b"b",
    }
    assert media["samples@2.png"].startswith(b"\x89PNG")
    assert json.loads(media["preds@3.table.json"])["columns"] == ["x", "y"]
    assert json.loads(media["targets@0.table.json"])["columns"] == ["y"]
    assert len(json.loads(media["targets@0.table.json"])["data"]) == 4
    with wave.open(io.BytesIO(media["speech@7-1.wav"])) as sound:
        assert (sound.getframerate(), sound.getnframes()) == (8000, 400)
    assert media["rollout@7.gif"].startswith(b"GIF")


@pytest.mark.parametrize(("call", "message"), [
    (lambda lg: lg.log_image("x", [1, 2], caption=["one"]),
     "caption must be a list of 2 values, one per image"),
    (lambda lg: lg.log_image("x", [1], caption="one"),
     "caption must be a list of 1 values"),
    (lambda lg: lg.log_image("x", [1], masks=[None]), "log_image does not take masks"),
    (lambda lg: lg.log_audio("x", [1], rate=[8000]), "its options are caption, sample_rate"),
    (lambda lg: lg.log_video("x", []), "log_video takes a non-empty list of videos"),
    (lambda lg: lg.log_image("x", "a.png"), "log_image takes a non-empty list of images"),
], ids=["lengths", "not-a-list", "masks", "unknown-audio", "empty", "one-path"])
def test_bad_media_input_says_what_to_do_and_logs_nothing(tmp_path, call, message) -> None:
    lab = init_lab(tmp_path / "lab")
    logger = StepstoneLogger(project="lit", lab=lab)
    run_id = logger.version  # the run is started
    with pytest.raises(UsageError, match=message):
        call(logger)
    logger.finalize("success")
    with open_lab(lab) as opened:
        assert opened.runs.get(run_id).status == "finished"
        assert opened.run_objects(run_id, "media") == []
        assert opened.metrics.history(run_id) == {}
