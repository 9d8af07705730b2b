"""What ``import wandb`` gives when stepstone stands in for wandb.

Libraries that log to wandb themselves (Hugging Face's ``WandbCallback``, Lightning's
``WandbLogger``, accelerate's ``WandBTracker``) import ``wandb`` and parts of its SDK.
With the wandb alias on (``stepstone run --as-wandb``, ``python -m
stepstone.integrations.as_wandb``, see :mod:`stepstone.integrations.as_wandb`), the
``wandb`` package found first is a small shim whose modules re-export this one, so
every name below is one object however it is reached (``wandb.Run`` is
``wandb.wandb_run.Run`` is ``stepstone.Run``) and stepstone's own modules are never
loaded twice. ``wandb.run``, ``wandb.config`` and ``wandb.summary`` follow the current
stepstone run.
"""

from __future__ import annotations

import sys
from typing import Any

import stepstone
from stepstone import (
    Api,
    Artifact,
    Audio,
    Histogram,
    Image,
    Table,
    Video,
    define_metric,
    finish,
    init,
    log,
    log_artifact,
    login,
    save,
    unwatch,
    use_artifact,
    watch,
)
from stepstone.errors import StepstoneError
from stepstone.sdk.run import Run

# The wandb release whose API this stands in for, with stepstone's mark (PEP 440 local
# version), reported as the ``wandb`` distribution's version to libraries that check it.
__version__ = "0.21.0+stepstone"

Error = StepstoneError  # wandb.Error, the root of wandb's errors

_said: set[str] = set()


def __getattr__(name: str) -> Any:
    """``wandb.run``, ``wandb.config``, ``wandb.summary``: the current stepstone run's."""
    if name in ("run", "config", "summary"):
        return getattr(stepstone, name)
    raise AttributeError(
        f"stepstone, standing in for wandb, has no wandb.{name}: see "
        "docs/integrations/wandb.md for what it provides")


class Settings:
    """``wandb.Settings``: its fields are kept and not used (a lab has no server settings)."""

    def __init__(self, **settings: Any) -> None:
        self.__dict__.update(settings)

    def update(self, settings: dict[str, Any] | None = None, **more: Any) -> None:
        self.__dict__.update(settings or {}, **more)


class RunDisabled:
    """wandb's placeholder for a disabled run. A disabled stepstone run is a :class:`Run`
    that records nothing, so no object is ever one of these."""


def require(requirement: str | None = None, experiment: str | None = None) -> None:
    """``wandb.require("service")``: nothing to switch on."""


def setup(settings: Any = None) -> None:
    """``wandb.setup()``: nothing to start (the writer starts with each run)."""


def termlog(string: str = "", newline: bool = True, repeat: bool = True,
            prefix: bool = True) -> None:
    """A message from a library to the terminal (stderr), marked ``stepstone:``."""
    _say(string, "", repeat, prefix, newline)


def termwarn(string: str, repeat: bool = True, prefix: bool = True) -> None:
    _say(string, "warning: ", repeat, prefix, True)


def termerror(string: str, repeat: bool = True, prefix: bool = True) -> None:
    _say(string, "error: ", repeat, prefix, True)


def _say(string: str, level: str, repeat: bool, prefix: bool, newline: bool) -> None:
    if not repeat:
        if string in _said:
            return
        _said.add(string)
    mark = f"stepstone: {level}" if prefix else level
    print("\n".join(mark + line for line in str(string).split("\n")),
          end="\n" if newline else "", file=sys.stderr)


__all__ = [
    "Api", "Artifact", "Audio", "Error", "Histogram", "Image", "Run", "RunDisabled", "Settings",
    "Table", "Video", "define_metric", "finish", "init", "log", "log_artifact", "login", "require",
    "save", "setup", "termerror", "termlog", "termwarn", "unwatch", "use_artifact", "watch",
]
