"""What the framework integrations share: the run they log to, and parameter counts."""

from __future__ import annotations

import sys
from typing import Any

import stepstone
from stepstone.sdk import session
from stepstone.sdk.run import Run


class ManagedRun:
    """The run an integration logs to, started lazily.

    It is the run given, else the current ``stepstone.run`` (as wandb's integrations
    reuse ``wandb.run``), else one started with ``init_kwargs``. Only a run the
    integration started is finished by it; if the framework logs again after that
    (``trainer.test()`` after ``fit()``), the same run is resumed and finished again.
    """

    def __init__(self, run: Run | None = None, **init_kwargs: Any) -> None:
        self._run = run
        self.owned = False
        self.ended = False
        self.init_kwargs = {k: v for k, v in init_kwargs.items() if v is not None}

    @property
    def run(self) -> Run | None:
        """The run, if one was started (never starts or resumes one)."""
        return self._run

    @property
    def started(self) -> bool:
        return self._run is not None

    @property
    def id(self) -> str | None:
        return self._run.id if self._run is not None else self.init_kwargs.get("id")

    @property
    def project(self) -> str | None:
        return self._run.project if self._run is not None else self.init_kwargs.get("project")

    def get(self) -> Run:
        run = self._run
        if run is None:
            current = session.current()
            if current is not None:
                run = current
                config = self.init_kwargs.get("config")
                if config:
                    run.config.update(config)
            else:
                run = stepstone.init(**self.init_kwargs)
                self.owned = True
            self._run = run
        elif self.ended and self.owned:
            run = self._reopen(run)
        return run

    def _reopen(self, run: Run) -> Run:
        self.ended = False
        if run.dir is None:  # never recorded (no lab): a fresh unrecorded run
            self._run = stepstone.init(**{**self.init_kwargs, "mode": "disabled"})
        else:
            self._run = stepstone.init(id=run.id, resume="allow", lab=run.dir,
                                       project=run.project, save_code=False)
        return self._run

    def end(self, ok: bool = True, *, reason: str | None = None) -> None:
        """Finish the run if the integration started it; a failure's reason comes from the
        exception being handled, when there is one."""
        run = self._run
        if run is None or not self.owned or self.ended:
            if run is not None:
                run.flush()
            return
        self.ended = True
        if ok:
            run.finish()
            return
        exc = sys.exc_info()[1]
        if isinstance(exc, KeyboardInterrupt):
            run.finish(status="killed", reason=reason or "interrupted (KeyboardInterrupt)")
            return
        if reason is None and exc is not None:
            reason = f"{type(exc).__name__}: {exc}"
        run.finish(exit_code=1, reason=reason or "training failed")


def count_params(model: Any) -> tuple[int, int]:
    """(parameters, parameters outside embedding tables) of a torch module.

    Shared tensors (a tied output layer) count once; the non-embedding count leaves out
    every ``torch.nn.Embedding`` (token and position tables), as scaling-law papers do.
    The count is :func:`stepstone.analysis.flops.count_parameters` where the analysis
    extra is installed, and the same rule written out here where it is not.
    """
    try:
        from stepstone.analysis.flops import count_parameters
    except ImportError:
        pass
    else:
        counted = count_parameters(model)
        return int(counted.total), int(counted.non_embedding)
    import torch

    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    embedding: set[int] = set()
    embedded = 0
    for module in model.modules():
        if isinstance(module, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
            for p in module.parameters(recurse=False):
                if id(p) not in embedding:
                    embedding.add(id(p))
                    embedded += p.numel()
    return total, total - embedded
