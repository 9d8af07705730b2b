"""DataFrames of the read API: pandas on demand, and a pandas frame as the format asked for."""

from __future__ import annotations

import json
import math
from typing import Any

from stepstone.errors import UsageError
from stepstone.store.export import RUN_FIELDS, run_rows
from stepstone.store.runs import RunRecord

_FORMATS = ("pandas", "polars", "records")


def pandas_module() -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise UsageError(
            "DataFrames need pandas: pip install 'stepstone[analysis]'"
        ) from exc
    return pandas


def check_format(fmt: str) -> None:
    if fmt not in _FORMATS:
        raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(_FORMATS)}")


def convert(frame: Any, fmt: str) -> Any:
    """A pandas DataFrame as the format asked for."""
    check_format(fmt)
    if fmt == "records":
        return [{k: _none_if_nan(v) for k, v in row.items()} for row in frame.to_dict("records")]
    if fmt == "polars":
        try:
            import polars
        except ImportError as exc:
            raise UsageError("format='polars' needs Polars: pip install polars") from exc
        try:
            return polars.from_pandas(frame)
        except Exception:  # a column mixing types: Polars needs one type per column
            fixed = frame.copy()
            for col in fixed.columns:
                if fixed[col].dtype == object:
                    fixed[col] = [None if v is None else
                                  (v if isinstance(v, str) else json.dumps(v, default=str))
                                  for v in fixed[col]]
            return polars.from_pandas(fixed)
    return frame


def _none_if_nan(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def runs_frame(records: list[RunRecord], fmt: str) -> Any:
    """One row per run: its fields, ``tags``, ``config.*`` and ``summary.*`` columns, as the
    format asked for."""
    check_format(fmt)
    rows = run_rows(records)
    if fmt == "records":
        return rows
    pd = pandas_module()
    columns = list(dict.fromkeys(k for row in rows for k in row)) or [*RUN_FIELDS, "tags"]
    return convert(pd.DataFrame(rows, columns=columns), fmt)


def eval_frame(records: list[dict[str, Any]], run_id: str | None = None) -> Any:
    """Per-example evaluation records as a frame, with a ``run_id`` column first if given."""
    pd = pandas_module()
    first = ["name", "step", "id", "score", "correct", "prediction"]
    extra = sorted({k for r in records for k in r} - set(first))
    columns = ([] if run_id is None else ["run_id"]) + first + extra
    rows = records if run_id is None else [{"run_id": run_id, **r} for r in records]
    return pd.DataFrame(rows, columns=columns)
