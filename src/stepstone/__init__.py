"""stepstone: track ML runs fast, and answer research questions with them.

Shaped like ``wandb`` for the common calls, so ``import stepstone as wandb`` works::

    import stepstone
    run = stepstone.init(project="mqar", config={"lr": 3e-4})
    for step in range(100):
        stepstone.log({"loss": 1.0 / (step + 1)})
    stepstone.finish()

The wandb stand-ins ``login``, ``watch``, ``unwatch``, ``define_metric``, ``Table``,
``Image``, ``Audio``, ``Video``, ``Histogram``, ``Artifact``, ``log_artifact`` and
``use_artifact`` are here too (see ``docs/tracking.md`` for what each records). To make
``import wandb`` itself resolve to stepstone, for libraries that log to wandb, see
``docs/integrations/wandb.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stepstone._lazy import lazy_names
from stepstone.sdk import hooks
from stepstone.sdk.handles import Config, Summary
from stepstone.sdk.media import Audio, Histogram, Image, Table, Video

if TYPE_CHECKING:
    from stepstone.sdk.artifacts import Artifact
    from stepstone.sdk.run import Run
    from stepstone.sdk.session import init
    from stepstone.store.lab import Lab

__version__ = "0.1.0"

run: Run | None = None
config: Config = Config()
summary: Summary = Summary()


def _result_page() -> Callable[[Lab, str], Any]:
    """The method's result page, which the SDK writes at a run's end (:mod:`stepstone.sdk.hooks`).
    Imported on first use, not by ``import stepstone``: ``method/`` would slow the start of
    every script (an import for start-up speed; ``sdk/`` itself never imports ``method/``)."""
    from stepstone.method.result_page import record_run_result

    return record_run_result


hooks.hand_result_page(_result_page)


def _require_run(what: str) -> Run:
    if run is None:
        from stepstone.errors import UsageError

        raise UsageError(f"stepstone.{what}() needs a run: call stepstone.init() first")
    return run


def log(data: dict[str, Any], step: int | None = None, commit: bool = True) -> None:
    """Log metrics to the current run (see :meth:`Run.log`)."""
    _require_run("log").log(data, step=step, commit=commit)


def log_eval(records: Any, name: str = "eval", step: int | None = None) -> int:
    """Store per-example evaluation records on the current run (see :meth:`Run.log_eval`)."""
    return _require_run("log_eval").log_eval(records, name=name, step=step)


def log_curve(knob: str, value: float, metrics: dict[str, Any], *,
              train_value: float | None = None) -> int:
    """Record a test-time compute curve point on the current run (see :meth:`Run.log_curve`)."""
    return _require_run("log_curve").log_curve(knob, value, metrics, train_value=train_value)


def lint_precision(values: Any, fmt: str = "fp16", *, name: str | None = None) -> Any:
    """Check a tensor or array against fp16/bf16's range; warn and record it on the current
    run (see :func:`stepstone.sdk.lints.lint_precision`). Returns the lints found."""
    from stepstone.sdk.lints import lint_precision as _lint  # not at `import stepstone`

    return _lint(values, fmt, name=name, summary=None if run is None else run.summary)


def save(path: str, name: str | None = None) -> str | None:
    """Store a file with the current run."""
    return _require_run("save").save(path, name=name)


def log_artifact(artifact_or_path: Any, name: str | None = None, type: str | None = None,
                 aliases: list[str] | None = None, tags: list[str] | None = None) -> Artifact:
    """Store an artifact's files with the current run (see :meth:`Run.log_artifact`)."""
    return _require_run("log_artifact").log_artifact(artifact_or_path, name=name, type=type,
                                                     aliases=aliases, tags=tags)


def use_artifact(artifact_or_name: Any, type: str | None = None,
                 aliases: list[str] | None = None, use_as: str | None = None) -> Any:
    """An artifact logged to this lab, recorded as an input of the current run (see
    :meth:`Run.use_artifact`): ``use_artifact("model:latest").download()``."""
    return _require_run("use_artifact").use_artifact(artifact_or_name, type=type,
                                                     aliases=aliases, use_as=use_as)


def define_metric(name: str, step_metric: str | None = None, step_sync: bool | None = None,
                  hidden: bool | None = None, summary: str | None = None,
                  goal: str | None = None, overwrite: bool | None = None) -> None:
    """Summarize a metric at finish, like ``wandb.define_metric`` (see
    :meth:`Run.define_metric`)."""
    _require_run("define_metric").define_metric(
        name, step_metric=step_metric, step_sync=step_sync, hidden=hidden, summary=summary,
        goal=goal, overwrite=overwrite)


def watch(models: Any = None, criterion: Any = None, log: str | None = "gradients",
          log_freq: int = 1000, idx: int | None = None, log_graph: bool = False) -> None:
    """``wandb.watch``: accepted and does nothing (see :meth:`Run.watch`)."""
    _require_run("watch").watch(models, criterion, log=log, log_freq=log_freq, idx=idx,
                                log_graph=log_graph)


def unwatch(models: Any = None) -> None:
    """``wandb.unwatch``: nothing to undo, as :func:`watch` records nothing."""


def login(key: str | None = None, relogin: bool | None = None, host: str | None = None,
          **options: Any) -> bool:
    """``wandb.login``: a lab needs no account, so this does nothing and returns True."""
    return True


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Flush and finish the current run (no-op when there is none)."""
    if run is not None:
        run.finish(exit_code=exit_code)


# ``init``, ``Run`` and ``Artifact`` are imported on first use: they need the store's modules,
# which ``import stepstone`` alone (a script that never starts a run, the command line) does not.
__getattr__, __dir__ = lazy_names(globals(), {"init": "sdk.session", "Run": "sdk.run",
                                              "Artifact": "sdk.artifacts"})


def Api(*args: Any, **kwargs: Any) -> Any:
    """Read runs, histories and evaluations of a lab (needs the ``analysis`` extra); takes
    :class:`stepstone.api.Api`'s arguments (``lab``, and wandb's ``overrides``, ``timeout``)."""
    from stepstone.api import Api as _Api

    return _Api(*args, **kwargs)


__all__ = [
    "Api", "Artifact", "Audio", "Config", "Histogram", "Image", "Run", "Summary", "Table",
    "Video", "__version__", "config", "define_metric", "finish", "init", "lint_precision", "log",
    "log_artifact", "log_curve", "log_eval", "login", "run", "save", "summary", "unwatch",
    "use_artifact", "watch",
]
