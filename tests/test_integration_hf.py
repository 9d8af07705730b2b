"""The Transformers callback, against the real library: a tiny GPT-2 built from a config
(nothing downloaded), trained a few steps on random tokens on the CPU."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")  # the Trainer needs it

from stepstone.integrations.hf import StepstoneCallback, rewrite_logs  # noqa: E402
from stepstone.store import init_lab, open_lab  # noqa: E402


class RandomTokens(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, n: int, length: int = 8, vocab: int = 32, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.data = torch.randint(0, vocab, (n, length), generator=g)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.data[i], "labels": self.data[i]}


def _tiny_gpt2() -> transformers.GPT2LMHeadModel:
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=32, n_positions=16, n_embd=16, n_layer=2,
                                     n_head=2)
    return transformers.GPT2LMHeadModel(config)


def _args(tmp_path, **kwargs) -> transformers.TrainingArguments:  # type: ignore[no-untyped-def]
    defaults = dict(
        output_dir=str(tmp_path / "out"), max_steps=4, per_device_train_batch_size=4,
        per_device_eval_batch_size=4, learning_rate=1e-3, logging_steps=1,
        eval_strategy="steps", eval_steps=2, save_strategy="steps", save_steps=4,
        report_to="none", use_cpu=True, disable_tqdm=True, include_num_input_tokens_seen=True,
        dataloader_num_workers=0, seed=0,
    )
    defaults.update(kwargs)
    return transformers.TrainingArguments(**defaults)


def test_rewrite_logs_names_keys_like_wandb() -> None:
    assert rewrite_logs({"loss": 1, "eval_loss": 2, "test_acc": 3}) == {
        "train/loss": 1, "eval/loss": 2, "test/acc": 3}


def test_callback_records_args_model_config_params_losses_and_evals(tmp_path) -> None:
    lab = init_lab(tmp_path / "lab")
    callback = StepstoneCallback(project="hf", name="gpt2-tiny", lab=lab, tags=["hf"],
                                 config={"data": "random"})
    model = _tiny_gpt2()
    trainer = transformers.Trainer(model=model, args=_args(tmp_path), callbacks=[callback],
                                   train_dataset=RandomTokens(16),
                                   eval_dataset=RandomTokens(4, seed=1))
    trainer.train()
    run_id = callback.run.id
    with open_lab(lab) as opened:
        record = opened.runs.get(run_id)
        history = opened.metrics.history(run_id)
    assert record.status == "finished" and record.name == "gpt2-tiny"
    assert record.config["data"] == "random"
    assert record.config["training_args"]["learning_rate"] == 1e-3
    assert record.config["training_args"]["max_steps"] == 4
    assert record.config["model_config"]["n_layer"] == 2
    assert record.config["model_config"]["n_embd"] == 16
    assert record.summary["n_params"] == model.num_parameters()
    assert record.summary["n_params_non_embedding"] == model.num_parameters(
        exclude_embeddings=True)
    assert record.summary["n_params_non_embedding"] < record.summary["n_params"]
    assert history["train/loss"].steps == [1, 2, 3, 4]
    assert history["eval/loss"].steps == [2, 4]
    assert "train/learning_rate" in history
    assert record.summary["train_loss"] > 0 and "train_runtime" in record.summary
    assert record.summary["tokens"] == 4 * 4 * 8
    assert record.summary["checkpoint/last_path"].endswith("checkpoint-4")


def test_evaluate_after_training_resumes_the_run_and_finishes_it(tmp_path) -> None:
    lab = init_lab(tmp_path / "lab")
    callback = StepstoneCallback(project="hf", lab=lab)
    trainer = transformers.Trainer(
        model=_tiny_gpt2(), args=_args(tmp_path, eval_strategy="no", save_strategy="no"),
        callbacks=[callback], train_dataset=RandomTokens(16))
    trainer.train()
    metrics = trainer.evaluate(RandomTokens(4, seed=2))
    with open_lab(lab) as opened:
        record = opened.runs.get(callback.run.id)
        history = opened.metrics.history(callback.run.id)
    assert record.status == "finished"
    assert history["eval/loss"].values == [pytest.approx(metrics["eval_loss"])]
    assert history["eval/loss"].steps == [4]
