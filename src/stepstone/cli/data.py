"""``stepstone export | query``: get data out, for spreadsheets, notebooks and SQL."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from stepstone.cli.common import echo, json_option, lab_option, print_json, print_table
from stepstone.errors import UsageError
from stepstone.store.export import FORMATS, history_rows, run_rows, write_rows
from stepstone.store.lab import open_lab
from stepstone.store.query import run_query


@click.command("export")
@click.argument("what", type=click.Choice(["runs", "history"]))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (default: standard output; required for Parquet).")
@click.option("--run", "run_refs", multiple=True, help="Only these runs (repeatable).")
@click.option("--project", help="Only runs of this project.")
@click.option("--status", help="Only runs with this status.")
@click.option("--key", "keys", multiple=True, help="History: only these metric keys.")
@lab_option
@click.option("--json", "as_json", is_flag=True,
              help="With --out: print what was written as JSON (rows as JSON: --format jsonl).")
def export_cmd(what: str, fmt: str, out: Path | None, run_refs: tuple[str, ...],
               project: str | None, status: str | None, keys: tuple[str, ...],
               lab: str | None, as_json: bool) -> None:
    """Export runs (one row each, config.* and summary.* columns) or their metric history.

    \b
    Example:
      stepstone export runs --format parquet --out runs.parquet
      stepstone export history --run 3f9k2a1b --key train/loss > loss.csv
    """
    if as_json and out is None:
        raise UsageError("--json describes the file --out writes; for the rows as JSON lines "
                         "on standard output use --format jsonl")
    with open_lab(lab, readonly=True) as opened:
        if run_refs:
            ids = [opened.runs.resolve_id(r) for r in run_refs]
            records = opened.runs.list(ids=ids)
        else:
            records = opened.runs.list(project=project, status=status)
        if what == "runs":
            rows = run_rows(records)
        else:
            rows = history_rows(opened, [r.id for r in records], list(keys) or None)
    data = write_rows(rows, fmt, out)
    if data is not None:
        sys.stdout.buffer.write(data)
    elif as_json:
        print_json({"what": what, "format": fmt, "rows": len(rows), "out": str(out)})
    else:
        echo(f"wrote {len(rows)} rows to {out}", err=True)


@click.command("query")
@click.option("--sql", required=True, help="One read-only SELECT over the lab's tables.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True),
              default=60.0, show_default=True, help="Stop the query after this many seconds.")
@lab_option
@json_option
def query_cmd(sql: str, timeout_s: float, lab: str | None, as_json: bool) -> None:
    """Run a read-only SQL query on the lab (the database refuses any write).

    Tables: runs, run_configs, run_summaries, eval_records, metric_texts, notebook_pages, and
    ``points`` (run_id, key, step, value, time): the metric chunks unpacked as the query
    reads them (filter on run_id and key to read only those chunks).

    \b
    Example:
      stepstone query --sql "SELECT status, COUNT(*) AS n FROM runs GROUP BY status"
      stepstone query --sql "SELECT step, value FROM points WHERE key = 'loss'" --json
    """
    with open_lab(lab, readonly=True) as opened:
        result = run_query(opened.db, sql, timeout_s=timeout_s)
    if as_json:
        print_json(result.rows)
    elif result.rows:
        print_table(result.rows, result.columns, title=f"{len(result.rows)} rows")
    else:
        echo("no rows")
