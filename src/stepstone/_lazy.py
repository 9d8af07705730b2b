"""A package's public names imported from their submodules on first use (PEP 562), for start-up
speed: importing the package loads none of those submodules.

    __getattr__, __dir__ = lazy_names(globals(), {"diff": "_diff", "load_config": "_load"})

Beside it, the package imports the same names under ``if TYPE_CHECKING:`` for mypy and keeps
them in ``__all__``. This module imports nothing of stepstone, so every layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(namespace: dict[str, Any], homes: Mapping[str, str]
               ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of the package whose ``globals()`` is
    ``namespace``: ``homes`` maps each lazy name to its submodule (relative to the package,
    e.g. ``"sdk.run"``). A name's first use imports it and keeps it in the package."""
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        import importlib  # not at `import stepstone`: the first lazy name needs it

        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *homes})

    return __getattr__, __dir__
