"""A stored scaling-law fit, as the read API returns it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from stepstone.api._display import html_table
from stepstone.configs import flatten
from stepstone.store.lab import Lab


@dataclass(frozen=True)
class Fit:
    """A stored scaling-law fit: its form, the runs it used and its result."""

    id: str
    created_at: float
    label: str
    form: str
    source: str
    run_ids: list[str]
    flops_method: str | None
    result: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created_at": self.created_at, "label": self.label,
                "form": self.form, "source": self.source, "run_ids": self.run_ids,
                "flops_method": self.flops_method, "result": self.result}

    def _repr_html_(self) -> str:
        rows = [{"field": k, "value": v} for k, v in self.to_dict().items() if k != "result"]
        rows += [{"field": f"result.{k}", "value": v}
                 for k, v in flatten(self.result, strict=False).items()]
        return html_table(rows, ("field", "value"), caption=f"fit {self.id} ({self.label})")


def stored_fits(lab: Lab, label: str | None = None) -> list[Fit]:
    """The lab's stored fits, newest first; with ``label``, those whose label is it or holds it
    as a whole word."""
    word = (re.compile(rf"(?<![\w-]){re.escape(label)}(?![\w-])")
            if label is not None else None)
    return [Fit(**row.to_dict()) for row in lab.fits()
            if word is None or row.label == label or word.search(row.label or "")]
