"""Options and output helpers shared by every command."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from stepstone.cells import json_text

F = TypeVar("F", bound=Callable[..., Any])


def lab_option(func: F) -> F:
    """``--lab PATH``: the lab (default: ``STEPSTONE_LAB`` or the nearest ``.stepstone/``)."""
    return click.option(
        "--lab",
        "lab",
        default=None,
        envvar="STEPSTONE_LAB",
        metavar="PATH",
        help="Lab folder or store URL (default: $STEPSTONE_LAB or the nearest .stepstone/).",
    )(func)


def json_option(func: F) -> F:
    """``--json``: machine-readable output for scripts and agents."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON instead of a table."
    )(func)


def print_json(payload: Any) -> None:
    """Print ``payload`` as JSON (non-finite floats become strings)."""
    click.echo(json_text(payload))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str = "") -> None:
    """Print ``rows`` as a rich table: one line per row, long cells cut with an ellipsis
    (``--json`` has every value in full). Piped output gets a wide, fixed width."""
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(soft_wrap=False, width=200)
    table = Table(title=title or None, show_lines=False)
    for col in columns:
        table.add_column(col, no_wrap=True, overflow="ellipsis", max_width=48)
    for row in rows:
        table.add_row(*(format_cell(row.get(col)) for col in columns))
    console.print(table)


def format_cell(value: Any) -> str:
    """Render one table cell: floats with 4 significant digits, None as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)
