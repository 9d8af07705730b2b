"""The store: every SQL statement of stepstone, and the content-addressed objects.

``Lab``, ``find_lab``, ``init_lab`` and ``open_lab`` are :mod:`stepstone.store.lab`'s, named
here as well (``from stepstone.store import open_lab``), and imported from there on first use:
importing one module of the store (``stepstone.store.runs`` for its records) does not load them
all. No module of the store imports them from here: each imports the module that defines what
it uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stepstone._lazy import lazy_names

if TYPE_CHECKING:
    from stepstone.store.lab import Lab, find_lab, init_lab, open_lab

__all__ = ["Lab", "find_lab", "init_lab", "open_lab"]

__getattr__, __dir__ = lazy_names(globals(), dict.fromkeys(__all__, "lab"))
