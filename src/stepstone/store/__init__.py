"""The store: every SQL statement of stepstone, and the content-addressed objects.

``Lab``, ``find_lab``, ``init_lab`` and ``open_lab`` are :mod:`stepstone.store.lab`'s, named
here as well (``from stepstone.store import open_lab``), and imported from there on first use:
importing one module of the store (``stepstone.store.runs`` for its records) does not load them
all. No module of the store imports them from here: each imports the module that defines what
it uses.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepstone.store.lab import Lab, find_lab, init_lab, open_lab

__all__ = ["Lab", "find_lab", "init_lab", "open_lab"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("stepstone.store.lab"), name)
    raise AttributeError(f"module 'stepstone.store' has no attribute {name!r}")
