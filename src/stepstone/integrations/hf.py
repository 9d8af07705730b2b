"""Hugging Face Transformers: a ``TrainerCallback`` that records a ``Trainer`` run.

::

    from transformers import Trainer, TrainingArguments
    from stepstone.integrations.hf import StepstoneCallback

    trainer = Trainer(model=model, args=TrainingArguments("out", report_to="none"),
                      train_dataset=train, eval_dataset=val,
                      callbacks=[StepstoneCallback(project="gpt2-tiny", question="q3")])
    trainer.train()

At the start of training it records the training arguments (config key
``training_args``), the model's config (``model_config``) and the parameter counts
(summary keys ``n_params`` and ``n_params_non_embedding``, embedding tables left
out). Every ``Trainer.log`` call is logged at the global step, with keys named as
wandb's callback names them (``train/loss``, ``train/learning_rate``, ``eval/loss``,
``test/...``); the one-off totals (``train_runtime``, ``train_loss``, ``total_flos``,
...) go to the summary, with ``tokens`` when ``include_num_input_tokens_seen`` is on
and the checkpoint paths (``checkpoint/*``). The run is finished when training ends;
an ``evaluate()`` or ``predict()`` after that resumes it, logs, and finishes it again.
"""

from __future__ import annotations

import os
from numbers import Number
from typing import Any

from stepstone.integrations._common import ManagedRun, count_params
from stepstone.sdk.run import Run

try:
    from transformers import TrainerCallback
except ImportError as exc:  # pragma: no cover - guarded by the extra
    raise ImportError(
        "StepstoneCallback needs transformers: pip install 'stepstone[hf]'"
    ) from exc

SINGLE_VALUES = ("train_runtime", "train_samples_per_second", "train_steps_per_second",
                 "train_loss", "total_flos")


def rewrite_logs(logs: dict[str, Any]) -> dict[str, Any]:
    """``eval_loss`` → ``eval/loss``, ``test_acc`` → ``test/acc``, ``loss`` → ``train/loss``."""
    out: dict[str, Any] = {}
    for key, value in logs.items():
        if key.startswith("eval_"):
            out["eval/" + key[len("eval_"):]] = value
        elif key.startswith("test_"):
            out["test/" + key[len("test_"):]] = value
        else:
            out["train/" + key] = value
    return out


def _loggable(value: Any) -> bool:
    return isinstance(value, (Number, str)) and not isinstance(value, complex)


def _model_config(model: Any) -> dict[str, Any] | None:
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "to_dict"):
        return None
    data: dict[str, Any] = config.to_dict()
    return data


class StepstoneCallback(TrainerCallback):
    """Record a ``transformers.Trainer`` run in a stepstone lab.

    ``project``, ``name``, ``config``, ``tags``, ``notes``, ``group``, ``job_type``,
    ``id``, ``lab``, ``question``, ``baseline``, ``kind`` and any other keyword go to
    :func:`stepstone.init` when training starts; ``run`` logs to an existing run
    instead (finishing it is then yours); without it a current ``stepstone.run`` is
    reused.
    """

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        config: Any = None,
        *,
        lab: str | os.PathLike[str] | None = None,
        id: str | None = None,
        tags: list[str] | None = None,
        notes: str | None = None,
        group: str | None = None,
        job_type: str | None = None,
        question: str | None = None,
        baseline: str | None = None,
        kind: str | None = None,
        run: Run | None = None,
        **init_kwargs: Any,
    ) -> None:
        self._managed = ManagedRun(
            run, project=project, name=name, config=config, lab=lab, id=id, tags=tags,
            notes=notes, group=group, job_type=job_type, question=question, baseline=baseline,
            kind=kind, **init_kwargs,
        )
        self._training = False
        self._setup_done = False
        self._checkpoints: list[str] = []

    @property
    def run(self) -> Run | None:
        """The stepstone run, once training has started."""
        return self._managed.run

    # -- setup --------------------------------------------------------------------------------
    def _setup(self, args: Any, state: Any, model: Any) -> Run:
        run = self._managed.get()
        if self._setup_done:
            return run
        self._setup_done = True
        config: dict[str, Any] = {}
        if hasattr(args, "to_sanitized_dict"):
            config["training_args"] = args.to_sanitized_dict()
        model_config = _model_config(model)
        if model_config is not None:
            config["model_config"] = model_config
        if config:
            run.config.update(config)
        if model is not None:
            summary: dict[str, Any] = {"model_class": type(model).__name__}
            try:
                n_params, n_non_embedding = count_params(model)
            except Exception:  # not a torch module
                pass
            else:
                summary.update(n_params=n_params, n_params_non_embedding=n_non_embedding)
            run.summary.update(summary)
        return run

    # -- callbacks ---------------------------------------------------------------------------
    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None,
                       **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        self._training = True
        self._setup(args, state, model)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None,
               model: Any = None, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        run = self._setup(args, state, model)
        single = {k: v for k, v in logs.items() if k in SINGLE_VALUES and _loggable(v)}
        if single:
            run.summary.update(single)
        metrics = rewrite_logs(
            {k: v for k, v in logs.items() if k not in SINGLE_VALUES and _loggable(v)}
        )
        if metrics:
            run.log(metrics, step=int(state.global_step))

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not state.is_world_process_zero or not self._managed.started:
            return
        path = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if path not in self._checkpoints:
            self._checkpoints.append(path)
        info: dict[str, Any] = {"checkpoint/last_path": path,
                                "checkpoint/paths": list(self._checkpoints)}
        if getattr(state, "best_model_checkpoint", None):
            info["checkpoint/best_path"] = state.best_model_checkpoint
        self._managed.get().summary.update(info)

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None,
                     **kwargs: Any) -> None:
        self._training = False
        if not state.is_world_process_zero or not self._managed.started:
            return
        run = self._managed.get()
        summary: dict[str, Any] = {"train/global_step": int(state.global_step)}
        tokens = getattr(state, "num_input_tokens_seen", 0)
        if tokens:
            summary["tokens"] = int(tokens)
        if getattr(state, "best_model_checkpoint", None):
            summary["checkpoint/best_path"] = state.best_model_checkpoint
        run.summary.update(summary)
        self._managed.end(ok=True)

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero and not self._training and self._managed.started:
            self._managed.end(ok=True)  # an evaluate() after training: the run ends again

    def on_predict(self, args: Any, state: Any, control: Any, metrics: Any = None,
                   **kwargs: Any) -> None:
        if not state.is_world_process_zero:
            return
        if metrics:
            self.on_log(args, state, control, logs=dict(metrics), model=kwargs.get("model"))
        if not self._training and self._managed.started:
            self._managed.end(ok=True)


__all__ = ["SINGLE_VALUES", "StepstoneCallback", "rewrite_logs"]
