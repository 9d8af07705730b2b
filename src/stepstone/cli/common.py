"""Options and output helpers shared by every command."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from stepstone.display import cell, json_text, terminal_safe

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
    """Print ``payload`` as JSON (:func:`stepstone.display.json_text`: NaN and ±inf as null)."""
    click.echo(json_text(payload))


def echo(text: Any = "", *, err: bool = False) -> None:
    """Print a line: every command prints its text through here (JSON through
    :func:`print_json`, tables through :func:`print_table`), as any line may hold what a
    person or a program wrote (a name, a note, a page, a config value): terminal escapes in
    it are shown, not obeyed (:func:`stepstone.display.terminal_safe`)."""
    click.echo(terminal_safe(text), err=err)


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str = "") -> None:
    """Print ``rows`` as a rich table: one line per row, long cells cut with an ellipsis
    (``--json`` has every value in full). Piped output gets a wide, fixed width. Cells and
    title are plain text: neither rich markup (``[link=...]``) nor terminal escapes in them
    act."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(soft_wrap=False, width=200)
    table = Table(title=Text(terminal_safe(title)) if title else None, show_lines=False)
    for col in columns:
        table.add_column(col, no_wrap=True, overflow="ellipsis", max_width=48)
    for row in rows:
        table.add_row(*(Text(terminal_safe(cell(row.get(col)))) for col in columns))
    console.print(table)




def monitor_options(func: F) -> F:
    """The health monitor of a launch: ``--monitor`` and the options that tune and arm it
    (any of them turns it on). See docs/tracking.md, "Health monitors"."""
    options = [
        click.option("--monitor", is_flag=True,
                     help="Watch each run: non-finite loss, divergence, stalls, throughput "
                          "drops; each alert is a note on the run and in the notebook."),
        click.option("--on-alert", metavar="CMD|URL",
                     help="On each alert run this shell command (STEPSTONE_ALERT set, the "
                          "alert as JSON on stdin), or POST the JSON to an http(s) URL."),
        click.option("--stop-on-alert", is_flag=True,
                     help="Stop a run on its first alert (killed, with the alert as reason)."),
        click.option("--stall", metavar="DURATION",
                     help="A run that logs nothing this long while it lives has stalled "
                          "(before its first point: 3 times this long) [default: 10m]."),
        click.option("--diverge", type=float, metavar="K",
                     help="A loss beyond K times its running minimum diverged [default: 3]."),
        click.option("--throughput-drop", type=float, metavar="F",
                     help="A throughput below (1-F) of its median dropped [default: 0.5]."),
        click.option("--monitor-key", "monitor_keys", multiple=True, metavar="KEY",
                     help="Loss keys to watch (default: every key named *loss*)."),
        click.option("--monitor-every", type=float, metavar="SECONDS",
                     help="How often the monitor reads the run's new points [default: 5]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def monitor_env(opts: dict[str, Any]) -> dict[str, str]:
    """The environment that hands a launch's runs their health monitor (empty: none asked)."""
    tuned = ("on_alert", "stall", "diverge", "throughput_drop", "monitor_every")
    if not (opts.pop("monitor") or opts["stop_on_alert"] or opts["monitor_keys"]
            or any(opts[k] is not None for k in tuned)):
        for key in (*tuned, "stop_on_alert", "monitor_keys"):
            opts.pop(key)
        return {}
    from stepstone.analysis.health import HealthRules
    from stepstone.errors import UsageError
    from stepstone.launch.monitor import MonitorSpec
    from stepstone.method.ideas import parse_hours

    stall = parse_hours(opts.pop("stall"), "--stall")
    given = {"divergence": opts.pop("diverge"), "throughput_drop": opts.pop("throughput_drop"),
             "stall_seconds": None if stall is None else stall * 3600}
    try:
        rules = HealthRules(**{k: v for k, v in given.items() if v is not None},
                            keys=tuple(opts.pop("monitor_keys")))
    except ValueError as exc:
        raise UsageError(f"the health monitor's settings: {exc}") from exc
    every = opts.pop("monitor_every")
    if every is not None and not every > 0:
        raise UsageError(f"--monitor-every is a positive number of seconds, not {every}")
    spec = MonitorSpec(rules=rules, on_alert=opts.pop("on_alert"),
                       stop=opts.pop("stop_on_alert"),
                       poll_seconds=every if every is not None else 5.0)
    return spec.to_env()
