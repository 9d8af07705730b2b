"""The store: every SQL statement of stepstone, and the content-addressed objects.

``Lab``, ``find_lab``, ``init_lab`` and ``open_lab`` come from :mod:`stepstone.store.lab`,
imported on first use: the run's writer needs only the modules it writes with, and
``import stepstone`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepstone.store.lab import Lab, find_lab, init_lab, open_lab

__all__ = ["Lab", "find_lab", "init_lab", "open_lab"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'stepstone.store' has no attribute {name!r}")
    from stepstone.store import lab

    value = getattr(lab, name)
    globals()[name] = value
    return value
