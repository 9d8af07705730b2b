"""``stepstone export | query``: get data out, for spreadsheets, notebooks and SQL."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from stepstone.cli.common import json_option, lab_option, print_json, print_table
from stepstone.errors import UsageError
from stepstone.store.lab import open_lab
from stepstone.store.metrics import unpack
from stepstone.tables import FORMATS, history_rows, run_rows, write_rows


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
def export_cmd(what: str, fmt: str, out: Path | None, run_refs: tuple[str, ...],
               project: str | None, status: str | None, keys: tuple[str, ...],
               lab: str | None) -> None:
    """Export runs (one row each, config.* and summary.* columns) or their metric history.

    \b
    Example:
      stepstone export runs --format parquet --out runs.parquet
      stepstone export history --run 3f9k2a1b --key train/loss > loss.csv
    """
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
    else:
        click.echo(f"wrote {len(rows)} rows to {out}", err=True)


_WRITE = re.compile(r"\b(insert|update|delete|drop|alter|create|replace|attach|pragma|vacuum)\b",
                    re.IGNORECASE)


@click.command("query")
@click.option("--sql", required=True, help="A read-only SELECT over the lab's tables.")
@lab_option
@json_option
def query_cmd(sql: str, lab: str | None, as_json: bool) -> None:
    """Run a read-only SQL query on the lab.

    Tables: runs, run_configs, run_summaries, eval_records, metric_texts, and a
    ``points`` view (run_id, key, step, value, time) unpacked from metric_chunks.

    \b
    Example:
      stepstone query --sql "SELECT status, COUNT(*) AS n FROM runs GROUP BY status"
      stepstone query --sql "SELECT step, value FROM points WHERE key = 'loss'" --json
    """
    if _WRITE.search(sql) or not sql.lstrip().lower().startswith(("select", "with")):
        raise UsageError("query is read-only: give one SELECT (or WITH ... SELECT) statement")
    with open_lab(lab, readonly=True) as opened:
        if re.search(r"\bpoints\b", sql, re.IGNORECASE):
            _materialize_points(opened)
        try:
            rows = opened.db.query(sql)
        except Exception as exc:
            raise UsageError(f"the query failed: {exc}") from exc
    if as_json:
        print_json(rows)
    elif rows:
        print_table(rows, list(rows[0]), title=f"{len(rows)} rows")
    else:
        click.echo("no rows")


def _materialize_points(lab) -> None:  # type: ignore[no-untyped-def]
    """A temporary ``points`` table, unpacked from the columnar chunks."""
    db = lab.db
    db.execute("CREATE TEMP TABLE points (run_id TEXT, key TEXT, step INTEGER, value REAL, "
               "time REAL)")
    for row in db.query("SELECT run_id, key, steps, vals, times FROM metric_chunks ORDER BY id"):
        db.executemany(
            "INSERT INTO temp.points VALUES (?, ?, ?, ?, ?)",
            [(row["run_id"], row["key"], s, v, t) for s, v, t in
             zip(unpack("q", row["steps"]), unpack("d", row["vals"]), unpack("d", row["times"]),
                 strict=True)],
        )
