"""Runs and histories as flat rows: the one shape behind exports and DataFrames."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from stepstone.configs import flatten
from stepstone.errors import UsageError
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord

RUN_FIELDS = ("id", "name", "project", "status", "kind", "group_name", "job_type", "created_at",
              "ended_at", "exit_code", "reason", "question_id", "baseline", "seed", "last_step",
              "git_commit", "code_snapshot", "imported_from")
FORMATS = ("csv", "jsonl", "parquet")


def run_rows(records: Iterable[RunRecord]) -> list[dict[str, Any]]:
    """One row per run: its fields, ``tags`` joined, ``config.*`` and ``summary.*`` columns."""
    rows = []
    for r in records:
        row: dict[str, Any] = {f: getattr(r, f) for f in RUN_FIELDS}
        row["tags"] = ",".join(r.tags)
        row.update({f"config.{k}": v for k, v in flatten(r.config, strict=False).items()})
        row.update({f"summary.{k}": v for k, v in r.summary.items()})
        rows.append(row)
    return rows


def history_rows(lab: Lab, run_ids: Sequence[str], keys: Sequence[str] | None = None
                 ) -> list[dict[str, Any]]:
    """One row per point: run_id, key, step, value, time, text. A point logged as text has
    its text in ``text`` and no ``value``; system metrics (``system/*``) have the sample's
    number as their step."""
    rows: list[dict[str, Any]] = []
    for run_id in run_ids:
        for key, series in lab.metrics.history(run_id, keys).items():
            rows.extend(
                {"run_id": run_id, "key": key, "step": s, "value": v, "time": t, "text": None}
                for s, v, t in zip(series.steps, series.values, series.times, strict=True)
            )
        rows.extend({"run_id": run_id, "key": key, "step": step, "value": None, "time": ts,
                     "text": text}
                    for key, step, ts, text in lab.metrics.text_points(run_id, keys))
    return rows


def write_rows(rows: list[dict[str, Any]], fmt: str, out: Path | None) -> bytes | None:
    """Write rows as CSV, JSON lines or Parquet to ``out`` (or return the bytes for stdout)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    if fmt == "parquet":
        if out is None:
            raise UsageError("Parquet is binary: give --out FILE.parquet")
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise UsageError(
                "Parquet export needs pyarrow: pip install 'stepstone[analysis]'"
            ) from exc
        table = pa.Table.from_pylist([{c: _cell(row.get(c)) for c in columns} for row in rows])
        try:
            pq.write_table(table, out)
        except OSError as exc:
            raise _unwritable(out, exc) from None
        return None
    buf = io.StringIO()
    if fmt == "csv":
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    else:
        for row in rows:
            buf.write(json.dumps(row, default=str) + "\n")
    data = buf.getvalue().encode()
    if out is None:
        return data
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise _unwritable(out, exc) from None
    return None


def _unwritable(out: Path, exc: OSError) -> UsageError:
    why = exc.strerror or str(exc).splitlines()[0]
    return UsageError(f"cannot write {out}: {why}; give --out a file in a folder that exists "
                      "and that you can write")


def _cell(value: Any) -> Any:
    """Parquet columns need one type: nested values become JSON text."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
