"""Read a lab from Python: runs, histories, summaries, evaluations and fits.

Shaped like ``wandb.Api()`` where it fits::

    import stepstone
    api = stepstone.Api(lab=".")
    runs = api.runs(filters={"config.model.attention": "full", "status": "finished"})
    run = api.run("3f9k2a1b")
    run.config["lr"], run.summary["val/loss"]
    df = run.history(keys=["train/loss"])          # pandas; format="polars" for Polars
    for row in run.scan_history(keys=["train/loss"]):
        ...

Filters are a dict of field → value, where a field is a run column (``status``,
``project``, ``tags``, ``question``, ``baseline``, ``kind``, ``name``, ...), a
``config.<dotted.path>`` or a ``summary.<key>``; a value is matched for equality
(membership for ``tags``) or is a dict of MongoDB-style operators like wandb's
(``$eq $ne $gt $gte $lt $lte $in $nin $exists $regex``); ``$and`` and ``$or`` take
lists of filters.

The DataFrames are built from the same rows as ``stepstone export``:
:meth:`Api.runs_frame` (one row per run, ``config.*`` and ``summary.*`` columns) and
:meth:`Api.history_frame` (one row per point: run_id, key, step, value, time). Runs,
run lists and fits render as escaped HTML tables in Jupyter.
"""

from __future__ import annotations

import html
import json
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

from stepstone.errors import NotFoundError, UsageError
from stepstone.store.lab import Lab, open_lab
from stepstone.store.runs import RunRecord, flatten

_FORMATS = ("pandas", "polars", "records")
_ALIASES = {
    "state": "status", "question": "question_id", "group": "group_name", "tag": "tags",
    "display_name": "name", "created": "created_at",
}
_PUSHED = {"status", "project", "question_id", "baseline", "kind"}
_MAX_HTML_ROWS = 50


# -- helpers -----------------------------------------------------------------------------------
def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise UsageError(
            "DataFrames need pandas: pip install 'stepstone[analysis]'"
        ) from exc
    return pandas


def _convert(frame: Any, fmt: str) -> Any:
    """A pandas DataFrame as the format asked for."""
    if fmt == "pandas":
        return frame
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
    raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(_FORMATS)}")


def _none_if_nan(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def _check_format(fmt: str) -> None:
    if fmt not in _FORMATS:
        raise UsageError(f"unknown format {fmt!r}: use one of {', '.join(_FORMATS)}")


def _cell(value: Any) -> str:
    """One escaped HTML table cell."""
    if value is None:
        text = ""
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = json.dumps(value, default=str, sort_keys=True)
    else:
        text = str(value)
    return html.escape(text)


def _html_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], caption: str = "",
                total: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(row.get(c))}</td>" for c in columns) + "</tr>"
        for row in rows[:_MAX_HTML_ROWS]
    )
    shown = min(len(rows), _MAX_HTML_ROWS)
    total = len(rows) if total is None else total
    more = (f"<p>… and {total - shown} more</p>" if total > shown else "")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<table class="stepstone">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>{more}")


def _when(ts: float | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


_MISSING = object()


def _lookup(data: Any, dotted: str) -> Any:
    """``data["a"]["b"]`` for ``"a.b"``, or ``_MISSING``; an exact flat key wins."""
    if isinstance(data, Mapping) and dotted in data:
        return data[dotted]
    node = data
    for part in dotted.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def _field(record: RunRecord, name: str) -> Any:
    if name.startswith("config."):
        return _lookup(record.config, name[len("config."):])
    for prefix in ("summary.", "summary_metrics."):
        if name.startswith(prefix):
            return _lookup(record.summary, name[len(prefix):])
    column = _ALIASES.get(name, name)
    if column == "duration":
        return record.duration
    if not hasattr(record, column) or column in ("config", "summary"):
        raise UsageError(
            f"unknown filter field {name!r}: use a run field (status, project, tags, question, "
            "baseline, kind, name, ...), config.<key> or summary.<key>"
        )
    return getattr(record, column)


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "$exists":
        return (actual is not _MISSING and actual is not None) == bool(expected)
    if actual is _MISSING:
        return op in ("$ne", "$nin")
    if op == "$eq":
        return _equal(actual, expected)
    if op == "$ne":
        return not _equal(actual, expected)
    if op == "$in":
        return any(_equal(actual, e) for e in expected)
    if op == "$nin":
        return not any(_equal(actual, e) for e in expected)
    if op == "$regex":
        return actual is not None and re.search(str(expected), str(actual)) is not None
    if op in ("$gt", "$gte", "$lt", "$lte"):
        try:
            if op == "$gt":
                return bool(actual > expected)
            if op == "$gte":
                return bool(actual >= expected)
            if op == "$lt":
                return bool(actual < expected)
            return bool(actual <= expected)
        except TypeError:
            return False
    raise UsageError(
        f"unknown filter operator {op!r}: use $eq $ne $gt $gte $lt $lte $in $nin $exists $regex"
    )


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list) and not isinstance(expected, list):
        return expected in actual  # tags: membership
    return bool(actual == expected)


def matches(record: RunRecord, filters: Mapping[str, Any]) -> bool:
    """Whether ``record`` passes every filter (see the module docstring for the syntax)."""
    for name, condition in filters.items():
        if name == "$and":
            if not all(matches(record, f) for f in condition):
                return False
            continue
        if name == "$or":
            if not any(matches(record, f) for f in condition):
                return False
            continue
        actual = _field(record, name)
        if isinstance(condition, Mapping) and condition and all(
            str(k).startswith("$") for k in condition
        ):
            if not all(_compare(op, actual, value) for op, value in condition.items()):
                return False
        elif not _compare("$eq", actual, condition):
            return False
    return True


def _sort_key(order: str) -> tuple[str, bool]:
    order = order.strip()
    if order.startswith("-"):
        return order[1:], True
    return order.lstrip("+"), False


def _sorted(records: list[RunRecord], order: str | None) -> list[RunRecord]:
    if not order:
        return records
    name, descending = _sort_key(order)
    present: list[tuple[Any, RunRecord]] = []
    missing: list[tuple[Any, RunRecord]] = []
    for r in records:
        value = _field(r, name)
        (missing if value is _MISSING or value is None else present).append((value, r))
    try:
        present.sort(key=lambda pair: pair[0], reverse=descending)
    except TypeError:
        present.sort(key=lambda pair: str(pair[0]), reverse=descending)
    return [r for _, r in present] + [r for _, r in missing]


# -- fits --------------------------------------------------------------------------------------
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
        rows += [{"field": f"result.{k}", "value": v} for k, v in flatten(self.result).items()]
        return _html_table(rows, ("field", "value"), caption=f"fit {self.id} ({self.label})")


# -- runs --------------------------------------------------------------------------------------
class Run:
    """One run of a lab, read-only, shaped like ``wandb.apis.public.Run``."""

    def __init__(self, api: Api, record: RunRecord) -> None:
        self._api = api
        self._record = record

    # fields -----------------------------------------------------------------------------------
    @property
    def record(self) -> RunRecord:
        return self._record

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def display_name(self) -> str:
        return self._record.name

    @property
    def project(self) -> str:
        return self._record.project

    @property
    def status(self) -> str:
        return self._record.status

    @property
    def state(self) -> str:
        """wandb's name for :attr:`status`."""
        return self._record.status

    @property
    def config(self) -> dict[str, Any]:
        return self._record.config

    @property
    def summary(self) -> dict[str, Any]:
        return self._record.summary

    @property
    def tags(self) -> list[str]:
        return self._record.tags

    @property
    def notes(self) -> str | None:
        return self._record.notes

    @property
    def group(self) -> str | None:
        return self._record.group_name

    @property
    def job_type(self) -> str | None:
        return self._record.job_type

    @property
    def kind(self) -> str:
        return self._record.kind

    @property
    def question(self) -> str | None:
        return self._record.question_id

    @property
    def baseline(self) -> str | None:
        return self._record.baseline

    @property
    def created_at(self) -> float:
        return self._record.created_at

    @property
    def ended_at(self) -> float | None:
        return self._record.ended_at

    @property
    def duration(self) -> float | None:
        return self._record.duration

    @property
    def reason(self) -> str | None:
        return self._record.reason

    @property
    def exit_code(self) -> int | None:
        return self._record.exit_code

    @property
    def imported_from(self) -> str | None:
        return self._record.imported_from

    @property
    def last_step(self) -> int | None:
        return self._record.last_step

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return getattr(self._record, name)
        except AttributeError:
            raise AttributeError(f"a run has no field {name!r}") from None

    def to_dict(self) -> dict[str, Any]:
        return self._record.to_dict()

    def refresh(self) -> Run:
        """Read the run again (status, summary and config may have moved on)."""
        self._record = self._api._lab.runs.get(self.id)
        return self

    load = refresh

    # metrics ----------------------------------------------------------------------------------
    def metric_keys(self) -> list[str]:
        """The keys of the numeric metric series, sorted."""
        return self._api._lab.metrics.keys(self.id)

    def _columns(self, keys: Sequence[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        lab = self._api._lab
        series = lab.metrics.history(self.id, list(keys) if keys is not None else None)
        texts = lab.metrics.texts(self.id)
        if keys is not None:
            wanted = set(keys)
            texts = {k: v for k, v in texts.items() if k in wanted}
        return series, texts

    def history(
        self, samples: int | None = None, keys: Sequence[str] | None = None,
        x_axis: str = "_step", pandas: bool = True, format: str = "pandas",
    ) -> Any:
        """The run's metrics, one row per step: ``_step``, ``_runtime``, ``_timestamp``, keys.

        ``keys`` limits the columns (rows where none of them was logged are dropped);
        ``samples`` thins the rows evenly to at most that many (first and last kept);
        a key logged twice at one step keeps its last value. ``format`` is ``"pandas"``,
        ``"polars"`` or ``"records"`` (``pandas=False`` means ``"records"``, as in wandb).
        """
        fmt = format if pandas else "records"
        _check_format(fmt)
        pd = _pandas()
        series, texts = self._columns(keys)
        columns: dict[str, Any] = {}
        stamps: dict[str, Any] = {}
        for key, s in series.items():
            values = pd.Series(s.values, index=pd.Index(s.steps, dtype="int64"), dtype="float64")
            ts = pd.Series(s.times, index=values.index, dtype="float64")
            keep = ~values.index.duplicated(keep="last")
            columns[key] = values[keep]
            stamps[key] = ts[keep]
        for key, points in texts.items():
            text = pd.Series([p[1] for p in points], index=pd.Index([p[0] for p in points],
                                                                   dtype="int64"), dtype=object)
            text = text[~text.index.duplicated(keep="last")]
            if key in columns:  # a key logged as numbers and as text: keep both, as objects
                merged = columns[key].astype(object)
                columns[key] = text.combine_first(merged)
            else:
                columns[key] = text
        if columns:
            frame = pd.concat(columns, axis=1, sort=True)
        else:
            frame = pd.DataFrame(index=pd.Index([], dtype="int64"))
        frame = frame.reindex(columns=sorted(frame.columns))
        if keys is not None and len(frame.columns):
            frame = frame.dropna(how="all")
        if stamps:
            ts_frame = pd.concat(stamps, axis=1, sort=True).max(axis=1)
            timestamp = ts_frame.reindex(frame.index)
        else:
            timestamp = pd.Series(float("nan"), index=frame.index, dtype="float64")
        frame.insert(0, "_timestamp", timestamp.to_numpy())
        frame.insert(0, "_runtime", (timestamp - self.created_at).to_numpy())
        frame.insert(0, "_step", frame.index.to_numpy(dtype="int64"))
        frame = frame.reset_index(drop=True)
        if x_axis != "_step":
            if x_axis not in frame.columns:
                raise UsageError(f"x_axis {x_axis!r} is not a column of this history")
            frame = frame.sort_values(x_axis, kind="stable").reset_index(drop=True)
        if samples is not None and len(frame) > samples:
            if samples < 1:
                raise UsageError("samples must be at least 1")
            if samples == 1:
                picks = [len(frame) - 1]
            else:
                step = (len(frame) - 1) / (samples - 1)
                picks = sorted({round(i * step) for i in range(samples)})
            frame = frame.iloc[picks].reset_index(drop=True)
        return _convert(frame, fmt)

    def scan_history(
        self, keys: Sequence[str] | None = None, page_size: int = 1000,
        min_step: int | None = None, max_step: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every step as a dict (``_step``, ``_timestamp`` and the values), unsampled.

        With ``keys``, only steps where every one of them was logged, as in wandb.
        Needs no pandas. ``page_size`` is accepted for wandb compatibility.
        """
        series, texts = self._columns(keys)
        rows: dict[int, dict[str, Any]] = {}
        for key, s in series.items():
            for step, value, ts in zip(s.steps, s.values, s.times, strict=True):
                row = rows.setdefault(step, {"_step": step, "_timestamp": ts})
                row[key] = value
                row["_timestamp"] = max(row["_timestamp"], ts)
        for key, points in texts.items():
            for step, text in points:
                rows.setdefault(step, {"_step": step})[key] = text
        wanted = list(keys) if keys is not None else None
        for step in sorted(rows):
            if min_step is not None and step < min_step:
                continue
            if max_step is not None and step >= max_step:
                break
            row = rows[step]
            if wanted is not None and not all(k in row for k in wanted):
                continue
            yield row

    # evaluations, fits, files -----------------------------------------------------------------
    def eval_names(self) -> list[str]:
        return self._api._lab.evals.names(self.id)

    def evals(self, name: str | None = None, format: str = "pandas") -> Any:
        """Per-example evaluation records: name, step, id, score, correct, prediction, fields."""
        _check_format(format)
        records = self._api._lab.evals.records(self.id, name)
        if format == "records":
            return records
        return _convert(_eval_frame(records), format)

    def fits(self) -> list[Fit]:
        """The stored fits that used this run."""
        return [f for f in self._api.fits() if self.id in f.run_ids]

    def files(self) -> list[dict[str, Any]]:
        """The objects stored with the run (role, name, hash): artifacts, logs, code."""
        return self._api._lab.run_objects(self.id)

    def file(self, name: str, role: str = "artifact") -> bytes:
        """The bytes of one stored object of the run."""
        return self._api._lab.run_object(self.id, role, name)

    # display ----------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<stepstone.api.Run {self.id} {self.name!r} ({self.status})>"

    def _repr_html_(self) -> str:
        r = self._record
        fields = [
            ("id", r.id), ("name", r.name), ("project", r.project), ("status", r.status),
            ("reason", r.reason), ("kind", r.kind), ("question", r.question_id),
            ("baseline", r.baseline), ("tags", r.tags), ("created", _when(r.created_at)),
            ("duration", None if r.duration is None else f"{r.duration:.1f}s"),
            ("last step", r.last_step), ("imported from", r.imported_from),
        ]
        rows = [{"field": k, "value": v} for k, v in fields if v not in (None, [], "")]
        rows += [{"field": f"config.{k}", "value": v} for k, v in flatten(r.config).items()]
        rows += [{"field": f"summary.{k}", "value": v} for k, v in r.summary.items()]
        return _html_table(rows, ("field", "value"), caption=f"run {r.id}")


def _eval_frame(records: list[dict[str, Any]], run_id: str | None = None) -> Any:
    pd = _pandas()
    first = ["name", "step", "id", "score", "correct", "prediction"]
    extra = sorted({k for r in records for k in r} - set(first))
    columns = ([] if run_id is None else ["run_id"]) + first + extra
    rows = records if run_id is None else [{"run_id": run_id, **r} for r in records]
    return pd.DataFrame(rows, columns=columns)


class Runs(Sequence[Run]):
    """A list of runs (what :meth:`Api.runs` returns), with tables of them."""

    def __init__(self, api: Api, runs: list[Run]) -> None:
        self._api = api
        self._runs = runs

    @overload
    def __getitem__(self, index: int) -> Run: ...

    @overload
    def __getitem__(self, index: slice) -> Runs: ...

    def __getitem__(self, index: int | slice) -> Run | Runs:
        if isinstance(index, slice):
            return Runs(self._api, self._runs[index])
        return self._runs[index]

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[Run]:
        return iter(self._runs)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self._runs]

    def to_frame(self, format: str = "pandas") -> Any:
        """One row per run (see :meth:`Api.runs_frame`)."""
        return self._api.runs_frame(self, format=format)

    def histories(self, keys: Sequence[str] | None = None, samples: int | None = None,
                  format: str = "pandas") -> Any:
        """Every run's :meth:`Run.history`, stacked, with a ``run_id`` column first."""
        _check_format(format)
        pd = _pandas()
        frames = []
        for run in self._runs:
            frame = run.history(samples=samples, keys=keys)
            frame.insert(0, "run_id", run.id)
            frames.append(frame)
        stacked = (pd.concat(frames, ignore_index=True) if frames
                   else pd.DataFrame(columns=["run_id", "_step", "_runtime", "_timestamp"]))
        return _convert(stacked, format)

    def __repr__(self) -> str:
        return f"<stepstone.api.Runs of {len(self)} runs>"

    def _repr_html_(self) -> str:
        runs = self._runs
        keys: list[str] = []
        for run in runs[:_MAX_HTML_ROWS]:
            for key, value in run.summary.items():
                if key not in keys and isinstance(value, (int, float)) and len(keys) < 4:
                    keys.append(key)
        rows = []
        for run in runs[:_MAX_HTML_ROWS]:
            r = run.record
            row: dict[str, Any] = {
                "id": r.id, "name": r.name, "project": r.project, "status": r.status,
                "question": r.question_id, "baseline": r.baseline, "tags": r.tags,
                "created": _when(r.created_at),
            }
            row.update({k: run.summary.get(k) for k in keys})
            rows.append(row)
        columns = ["id", "name", "project", "status", "question", "baseline", "tags", "created",
                   *keys]
        return _html_table(rows, columns, caption=f"{len(runs)} runs", total=len(runs))


# -- the api -----------------------------------------------------------------------------------
class Api:
    """Read access to a lab: ``Api(lab=PATH)``; without ``lab`` the usual lookup applies."""

    def __init__(self, lab: str | Path | Lab | None = None) -> None:
        if isinstance(lab, Lab):
            self._lab, self._owned = lab, False
        else:
            self._lab, self._owned = open_lab(lab), True

    @property
    def lab(self) -> Lab:
        return self._lab

    def close(self) -> None:
        if self._owned:
            self._lab.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _reap(self) -> None:
        try:  # a dead process's run shows as crashed, as everywhere else
            self._lab.runs.reap_crashed()
        except Exception:  # a read-only lab: show what is stored
            pass

    # runs -------------------------------------------------------------------------------------
    def _records(self, path: str | None, filters: Mapping[str, Any] | None,
                 order: str | None, **columns: Any) -> list[RunRecord]:
        filters = dict(filters or {})
        listed: dict[str, Any] = {}
        if path:
            listed["project"] = path.rstrip("/").split("/")[-1]
        for name, value in columns.items():
            if value is not None:
                listed[name] = value
        for name in list(filters):  # plain equality on an indexed column is done in SQL
            column = _ALIASES.get(name, name)
            value = filters[name]
            if column in _PUSHED and isinstance(value, str) and column not in listed:
                listed[column] = filters.pop(name)
        tag = listed.pop("tags", None)
        limit = listed.pop("limit", None)
        self._reap()
        records = self._lab.runs.list(tag=tag, **listed)
        if filters:
            records = [r for r in records if matches(r, filters)]
        records = _sorted(records, order)
        return records[:limit] if limit is not None else records

    def runs(
        self, path: str | None = None, filters: Mapping[str, Any] | None = None,
        order: str | None = "-created_at", per_page: int | None = None, *,
        question: str | None = None, baseline: str | None = None,
        status: str | Iterable[str] | None = None, tag: str | None = None,
        project: str | None = None, kind: str | None = None, name: str | None = None,
        limit: int | None = None,
    ) -> Runs:
        """Runs matching the filters, newest first (``order="+summary.val/loss"`` to sort).

        ``path`` is a project (``"entity/project"`` as in wandb works too); ``per_page``
        is accepted for wandb compatibility. Keyword filters: ``question``, ``baseline``,
        ``status``, ``tag``, ``project``, ``kind``, ``name`` (a substring), ``limit``.
        """
        records = self._records(
            path, filters, order, question_id=question, baseline=baseline, status=status,
            tags=tag, project=project, kind=kind, name=name, limit=limit,
        )
        return Runs(self, [Run(self, r) for r in records])

    def run(self, path: str) -> Run:
        """One run by id, unique id prefix or unique name (``"project/id"`` works too)."""
        ref = path.rstrip("/").split("/")[-1] if "/" in path else path
        self._reap()
        return Run(self, self._lab.runs.get(ref))

    def _resolve(self, runs: Iterable[Run | str] | Runs | None) -> list[RunRecord]:
        if runs is None:
            return self._lab.runs.list()
        records = []
        for item in runs:
            if isinstance(item, Run):
                records.append(item.record)
            else:
                records.append(self._lab.runs.get(str(item)))
        return records

    # tables -----------------------------------------------------------------------------------
    def runs_frame(
        self, runs: Iterable[Run | str] | Runs | None = None, *,
        filters: Mapping[str, Any] | None = None, format: str = "pandas",
    ) -> Any:
        """One row per run: its fields, ``tags``, ``config.*`` and ``summary.*`` columns.

        ``runs`` is a list of runs or ids (default: every run, or those matching
        ``filters``). The same table ``stepstone export runs`` writes.
        """
        _check_format(format)
        from stepstone.tables import run_rows

        if runs is None and filters:
            records = self._records(None, filters, "-created_at")
        else:
            records = self._resolve(runs)
        rows = run_rows(records)
        if format == "records":
            return rows
        pd = _pandas()
        columns = list(dict.fromkeys(k for row in rows for k in row))
        if not columns:
            from stepstone.tables import RUN_FIELDS

            columns = [*RUN_FIELDS, "tags"]
        return _convert(pd.DataFrame(rows, columns=columns), format)

    def history_frame(
        self, runs: Iterable[Run | str] | Runs | None = None,
        keys: Sequence[str] | None = None, *, format: str = "pandas",
    ) -> Any:
        """One row per metric point: ``run_id``, ``key``, ``step``, ``value``, ``time``.

        ``runs`` is a list of runs or ids (default: every run); ``keys`` limits the
        metrics. The same table ``stepstone export history`` writes.
        """
        _check_format(format)
        records = self._resolve(runs)
        columns: dict[str, list[Any]] = {"run_id": [], "key": [], "step": [], "value": [],
                                         "time": []}
        for record in records:
            for key, series in self._lab.metrics.history(record.id, keys).items():
                n = len(series)
                columns["run_id"].extend([record.id] * n)
                columns["key"].extend([key] * n)
                columns["step"].extend(series.steps)
                columns["value"].extend(series.values)
                columns["time"].extend(series.times)
        if format == "records":
            names = list(columns)
            return [dict(zip(names, row, strict=True))
                    for row in zip(*columns.values(), strict=True)]
        pd = _pandas()
        frame = pd.DataFrame({
            "run_id": pd.Series(columns["run_id"], dtype=object),
            "key": pd.Series(columns["key"], dtype=object),
            "step": pd.Series(columns["step"], dtype="int64"),
            "value": pd.Series(columns["value"], dtype="float64"),
            "time": pd.Series(columns["time"], dtype="float64"),
        })
        return _convert(frame, format)

    def evals_frame(
        self, runs: Iterable[Run | str] | Runs | None = None, name: str | None = None, *,
        format: str = "pandas",
    ) -> Any:
        """Per-example evaluation records of several runs, with a ``run_id`` column first."""
        _check_format(format)
        pd = _pandas()
        frames = [_eval_frame(self._lab.evals.records(r.id, name), r.id)
                  for r in self._resolve(runs)]
        frames = [f for f in frames if len(f)]
        frame = pd.concat(frames, ignore_index=True) if frames else _eval_frame([], "")
        if format == "records":
            return [{k: _none_if_nan(v) for k, v in row.items()}
                    for row in frame.to_dict("records")]
        return _convert(frame, format)

    # fits -------------------------------------------------------------------------------------
    def fits(self, label: str | None = None) -> list[Fit]:
        """Stored scaling-law fits, newest first (only those with ``label`` if given)."""
        names = Fit.__dataclass_fields__
        return [Fit(**{k: v for k, v in row.items() if k in names})
                for row in self._lab.fits(label)]

    def fit(self, fit_id: str) -> Fit:
        for fit in self.fits():
            if fit.id == fit_id:
                return fit
        raise NotFoundError(f"no fit {fit_id!r} in this lab")

    def __repr__(self) -> str:
        return f"<stepstone.Api lab={self._lab.root}>"


__all__ = ["Api", "Fit", "Run", "Runs", "matches"]
