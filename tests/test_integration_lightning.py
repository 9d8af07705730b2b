"""The Lightning logger, against the real library: a tiny model trained a few steps on the CPU."""

from __future__ import annotations

import pytest

pytest.importorskip("lightning")
torch = pytest.importorskip("torch")

import lightning.pytorch as pl  # noqa: E402
from lightning.pytorch.callbacks import ModelCheckpoint  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

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
