"""A run's summary in the read API: a dict that is written back on ``update``, as in wandb."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


class Summary(dict):  # type: ignore[type-arg]
    """The run's summary. ``summary[key] = value`` and ``del summary[key]`` change this copy
    only, until ``run.update()`` writes it to the lab (wandb does the same);
    ``summary.update({...})`` writes at once. ``_json_dict`` is the plain dict (wandb's
    export recipe reads it)."""

    def __init__(self, data: Mapping[str, Any], write: Callable[[Summary], None]) -> None:
        super().__init__(data)
        self._write = write
        self._stored = dict(data)

    @property
    def _json_dict(self) -> dict[str, Any]:
        return dict(self)

    def update(self, data: Any = None, **kwargs: Any) -> None:  # type: ignore[override]
        """Set keys and write the summary now (with no arguments: write the edits)."""
        super().update(dict(data or {}, **kwargs))
        self._write(self)

    def changes(self) -> tuple[dict[str, Any], list[str]]:
        """What differs from the stored summary: (keys set or changed, keys removed)."""
        changed = {k: v for k, v in self.items()
                   if k not in self._stored or self._stored[k] != v}
        removed = [k for k in self._stored if k not in self]
        return changed, removed

    def saved(self) -> None:
        """Mark the current contents as stored."""
        self._stored = dict(self)
