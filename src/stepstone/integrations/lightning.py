"""PyTorch Lightning: a ``Logger`` that records a training run in a stepstone lab.

::

    from lightning.pytorch import Trainer
    from stepstone.integrations.lightning import StepstoneLogger

    logger = StepstoneLogger(project="mnist", question="q12", baseline="small@2026-11-21")
    Trainer(logger=logger, max_epochs=3).fit(model, datamodule)

It records the module's hyperparameters (``save_hyperparameters()``) as the config,
every logged metric at the trainer's global step, the parameter counts
(``n_params``, ``n_params_non_embedding`` in the summary), the paths of the
checkpoints ``ModelCheckpoint`` writes (``checkpoint/*`` summary keys; with
``log_model=True`` the files themselves are stored too), the media logged with
``log_image``, ``log_audio``, ``log_video``, ``log_table`` and ``log_text`` (the calls of
Lightning's ``WandbLogger``, at the step of the scalars of the moment), and the run's end state:
finished when ``fit`` returns, failed (with the exception) or killed (Ctrl-C) when it
does not. Works with ``lightning.pytorch`` and with the older ``pytorch_lightning``.
"""

from __future__ import annotations

import importlib
import os
import weakref
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

from stepstone.errors import UsageError
from stepstone.integrations._common import ManagedRun, count_params
from stepstone.sdk.media import Audio, Image, Media, Table, Video
from stepstone.sdk.run import Run


def _lightning() -> tuple[Any, Any, Any, Any, Any, Any]:
    """The Lightning pieces a logger needs, from ``lightning`` or the older package names."""
    for fabric, pytorch in (("lightning.fabric", "lightning.pytorch"),
                            ("lightning_fabric", "pytorch_lightning")):
        try:
            fabric_logger = importlib.import_module(f"{fabric}.utilities.logger")
            loggers = importlib.import_module(f"{pytorch}.loggers.logger")
            rank_zero = importlib.import_module(f"{pytorch}.utilities.rank_zero")
        except ImportError:
            continue
        return (loggers.Logger, loggers.rank_zero_experiment, rank_zero.rank_zero_only,
                fabric_logger._add_prefix, fabric_logger._convert_params,
                fabric_logger._sanitize_callable_params)
    raise ImportError("StepstoneLogger needs PyTorch Lightning: pip install 'stepstone[lightning]'")


_PIECES = _lightning()
Logger: Any = _PIECES[0]
_add_prefix, _convert_params, _sanitize_callable_params = _PIECES[3:]
_F = TypeVar("_F", bound=Callable[..., Any])


def rank_zero_only(fn: _F) -> _F:
    """Lightning's ``rank_zero_only``: run ``fn`` on the main process only."""
    return cast(_F, _PIECES[2](fn))


def rank_zero_experiment(fn: _F) -> _F:
    """Lightning's ``rank_zero_experiment``: other processes get a dummy experiment."""
    return cast(_F, _PIECES[1](fn))


def _rank() -> int:
    return int(getattr(_PIECES[2], "rank", 0))


# what each media call passes on to its stepstone kind, a list with one value per item
_MediaKind = type[Image] | type[Audio] | type[Video]
_MEDIA_OPTIONS: dict[_MediaKind, tuple[str, ...]] = {
    Image: ("caption", "mode"), Audio: ("caption", "sample_rate"),
    Video: ("caption", "fps", "format"),
}


def _media(kind: _MediaKind, items: Any, options: dict[str, Any]) -> list[Media]:
    """One ``kind`` per item, each given its own entry of every option list, as Lightning's
    ``WandbLogger`` does (``log_image("x", [a, b], caption=["a", "b"])``); bad input raises
    before anything is logged."""
    noun = kind.__name__.lower()
    call = f"log_{noun}"
    if not isinstance(items, list) or not items:
        raise UsageError(f"{call} takes a non-empty list of {noun}s, got {items!r:.80}")
    allowed = _MEDIA_OPTIONS[kind]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UsageError(f"{call} does not take {', '.join(unknown)}: its options are "
                         f"{', '.join(allowed)}, each a list with one value per {noun}")
    for name, values in options.items():
        if not isinstance(values, (list, tuple)) or len(values) != len(items):
            raise UsageError(f"{call}: {name} must be a list of {len(items)} values, one per "
                             f"{noun}, got {values!r:.80}")
    return [kind(item, **{name: values[i] for name, values in options.items()})
            for i, item in enumerate(items)]


class StepstoneLogger(Logger):  # type: ignore[misc]
    """A Lightning logger writing to a stepstone run.

    ``project``, ``name``, ``config``, ``tags``, ``notes``, ``group``, ``job_type``,
    ``id``, ``lab``, ``question``, ``baseline``, ``kind`` and any other keyword go to
    :func:`stepstone.init` when the run starts. ``run`` logs to an existing run instead
    (the logger then leaves finishing it to you); without it, a current
    ``stepstone.run`` is reused. ``save_dir`` is where Lightning puts checkpoints
    (default: the trainer's ``default_root_dir``), under ``<project>/<run id>/``.
    """

    LOGGER_JOIN_CHAR = "-"

    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        config: Any = None,
        *,
        lab: str | os.PathLike[str] | None = None,
        save_dir: str | os.PathLike[str] | None = None,
        id: str | None = None,
        tags: list[str] | None = None,
        notes: str | None = None,
        group: str | None = None,
        job_type: str | None = None,
        question: str | None = None,
        baseline: str | None = None,
        kind: str | None = None,
        run: Run | None = None,
        prefix: str = "",
        log_model: bool = False,
        **init_kwargs: Any,
    ) -> None:
        super().__init__()
        self._project = project
        self._save_dir = os.fspath(save_dir) if save_dir is not None else None
        self._prefix = prefix
        self._log_model = log_model
        self._stored: dict[str, float] = {}
        self._trainer: weakref.ref[Any] | None = None  # set by log_graph: the media's step
        self._managed = ManagedRun(
            run, project=project, name=name, config=config, lab=lab, id=id, tags=tags,
            notes=notes, group=group, job_type=job_type, question=question, baseline=baseline,
            kind=kind, **init_kwargs,
        )

    # -- what Lightning asks of a logger -------------------------------------------------------
    @property
    @rank_zero_experiment
    def experiment(self) -> Run:
        """The stepstone run (started on first use)."""
        return self._managed.get()

    @property
    def run(self) -> Run:
        """The stepstone run (an alias of :attr:`experiment`)."""
        run: Run = self.experiment
        return run

    @property
    def name(self) -> str:
        project = self._managed.project
        return project or self._project or "stepstone"

    @property
    def version(self) -> str | None:
        """The run id (asking for it starts the run, as Lightning expects)."""
        if not self._managed.started and _rank() == 0:
            self.experiment  # noqa: B018 - starts the run
        return self._managed.id

    @property
    def save_dir(self) -> str | None:
        return self._save_dir

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any,
                        **kwargs: Any) -> None:
        """Record hyperparameters as the run's config (nested dicts stay nested)."""
        converted = _sanitize_callable_params(_convert_params(params))
        if converted:
            self.experiment.config.update(converted)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Record metrics at ``step`` (Lightning passes the global step)."""
        prefixed = _add_prefix(dict(metrics), self._prefix, self.LOGGER_JOIN_CHAR)
        if prefixed:
            self.experiment.log(prefixed, step=step)

    @rank_zero_only
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        """Record the model's parameter counts (Lightning calls this once, at the start of
        each ``fit``, ``validate``...; the module's trainer gives the media their step)."""
        trainer = getattr(model, "_trainer", None)
        self._trainer = weakref.ref(trainer) if trainer is not None else None
        try:
            n_params, n_non_embedding = count_params(model)
        except Exception:  # not a torch module: nothing to count
            return
        self.experiment.summary.update(
            {"n_params": n_params, "n_params_non_embedding": n_non_embedding}
        )

    # -- media: the calls of Lightning's WandbLogger ------------------------------------------
    @rank_zero_only
    def log_image(self, key: str, images: list[Any], step: int | None = None,
                  **kwargs: Any) -> None:
        """Record images (tensors, arrays, PIL images or file paths; see
        :class:`stepstone.Image`) under ``key``; each keyword is a list with one value per
        image: ``caption`` (stored with it), ``mode``."""
        self._log_media(key, _media(Image, images, kwargs), step)

    @rank_zero_only
    def log_audio(self, key: str, audios: list[Any], step: int | None = None,
                  **kwargs: Any) -> None:
        """Record sounds (arrays or file paths; see :class:`stepstone.Audio`) under ``key``;
        each keyword is a list with one value per sound: ``caption``, ``sample_rate``."""
        self._log_media(key, _media(Audio, audios, kwargs), step)

    @rank_zero_only
    def log_video(self, key: str, videos: list[Any], step: int | None = None,
                  **kwargs: Any) -> None:
        """Record videos (arrays or file paths; see :class:`stepstone.Video`) under ``key``;
        each keyword is a list with one value per video: ``caption``, ``fps``, ``format``."""
        self._log_media(key, _media(Video, videos, kwargs), step)

    @rank_zero_only
    def log_table(self, key: str, columns: list[str] | None = None,
                  data: list[list[Any]] | None = None, dataframe: Any = None,
                  step: int | None = None) -> None:
        """Record a :class:`stepstone.Table` under ``key``, from ``columns`` and ``data``
        (rows) or from a pandas ``dataframe``."""
        self._log_media(key, [Table(columns=columns, data=data, dataframe=dataframe)], step)

    @rank_zero_only
    def log_text(self, key: str, columns: list[str] | None = None,
                 data: list[list[str]] | None = None, dataframe: Any = None,
                 step: int | None = None) -> None:
        """Record text as a table (:meth:`log_table`)."""
        self.log_table(key, columns, data, dataframe, step)

    def _log_media(self, key: str, items: list[Media], step: int | None) -> None:
        """Store ``items`` at ``step``; without one, at the step Lightning logs its metrics of
        the moment at (so an image from ``training_step`` lands beside that step's loss)."""
        trainer = self._trainer() if self._trainer is not None else None
        if step is None and trainer is not None:
            step = int(trainer.fit_loop.epoch_loop._batches_that_stepped)
        self.experiment.log(_add_prefix({key: items}, self._prefix, self.LOGGER_JOIN_CHAR),
                            step=step)

    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Record where the checkpoints are (and store them, with ``log_model=True``)."""
        run = self.experiment
        info: dict[str, Any] = {}
        best = getattr(checkpoint_callback, "best_model_path", "") or ""
        last = getattr(checkpoint_callback, "last_model_path", "") or ""
        if best:
            info["checkpoint/best_model_path"] = str(best)
        if last:
            info["checkpoint/last_model_path"] = str(last)
        score = getattr(checkpoint_callback, "best_model_score", None)
        if score is not None:
            try:
                info["checkpoint/best_model_score"] = float(score)
            except (TypeError, ValueError):
                pass
        paths = sorted({str(p) for p in getattr(checkpoint_callback, "best_k_models", {})}
                       | {str(p) for p in (best, last) if p})
        if paths:
            info["checkpoint/paths"] = paths
        if info:
            run.summary.update(info)
        if self._log_model:
            for path in paths:
                file = Path(path)
                if not file.is_file():
                    continue
                mtime = file.stat().st_mtime
                if self._stored.get(path) != mtime:
                    run.save(file, name=f"checkpoints/{file.name}")
                    self._stored[path] = mtime

    @rank_zero_only
    def save(self) -> None:
        """Nothing to do: the run's writer flushes in the background."""

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Mark the run's end: ``success`` finishes it; ``failed`` records the exception."""
        if status in ("success", "finished"):
            self._managed.end(ok=True)
        else:
            self._managed.end(ok=False)

    def __getstate__(self) -> dict[str, Any]:
        """Picklable for spawned workers: they resume the same run by its id."""
        state = self.__dict__.copy()
        state["_trainer"] = None  # a weak reference does not pickle; log_graph sets it again
        managed = self._managed
        kwargs = dict(managed.init_kwargs)
        if managed.id is not None:
            kwargs.update(id=managed.id, resume="allow")
        state["_managed"] = ManagedRun(None, **kwargs)
        return state


__all__ = ["StepstoneLogger"]
