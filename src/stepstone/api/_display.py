"""Escaped HTML tables: how runs, run lists and fits render in a notebook."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from stepstone.display import cell

MAX_HTML_ROWS = 50


def html_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], caption: str = "",
               total: int | None = None) -> str:
    """The first :data:`MAX_HTML_ROWS` rows, then a line counting the rest of ``total``."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell(row.get(c)))}</td>" for c in columns) + "</tr>"
        for row in rows[:MAX_HTML_ROWS]
    )
    shown = min(len(rows), MAX_HTML_ROWS)
    total = len(rows) if total is None else total
    more = (f"<p>… and {total - shown} more</p>" if total > shown else "")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<table class="stepstone">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>{more}")
