"""The store: every SQL statement of stepstone, and the content-addressed objects.

``Lab``, ``find_lab``, ``init_lab`` and ``open_lab`` are :mod:`stepstone.store.lab`'s, named
here as well (``from stepstone.store import open_lab``). No module of the store imports them
from here: each imports the module that defines what it uses.
"""

from __future__ import annotations

from stepstone.store.lab import Lab, find_lab, init_lab, open_lab

__all__ = ["Lab", "find_lab", "init_lab", "open_lab"]
