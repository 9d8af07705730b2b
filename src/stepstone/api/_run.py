"""One run of a lab, read-only: its fields, metric history, evaluations, fits and files."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

from stepstone.api._display import html_table
from stepstone.api._files import File, select
from stepstone.api._fit import Fit, stored_fits
from stepstone.api._frames import check_format, convert, eval_frame, pandas_module
from stepstone.api._paths import ENTITY, run_url
from stepstone.api._summary import Summary
from stepstone.configs import flatten
from stepstone.display import when
from stepstone.errors import NotFoundError, UsageError
from stepstone.sdk.artifacts import StoredArtifact
from stepstone.sdk.system import read_system, split_keys, system_table
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord

_EDITABLE = {"name": "name", "display_name": "name", "notes": "notes", "tags": "tags",
             "group": "group_name", "job_type": "job_type"}
"""What ``run.update()`` writes, as in wandb: attribute → run column."""


class Run:
    """One run of a lab, shaped like ``wandb.apis.public.Run``: read its fields, history and
    files; edit its name, notes, tags, group, job type, config and summary and write them with
    :meth:`update`."""

    def __init__(self, lab: Lab, record: RunRecord) -> None:
        self._lab = lab
        self._record = record
        self._edits: dict[str, Any] = {}
        self._summary: Summary | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EDITABLE:  # kept until update(), as in wandb
            self._edits[_EDITABLE[name]] = list(value) if name == "tags" else value
            return
        if not name.startswith("_"):
            raise AttributeError(f"a run's {name!r} cannot be set: set name, notes, tags, "
                                 "group or job_type (or edit config and summary), then "
                                 "call run.update()")
        object.__setattr__(self, name, value)

    # fields -----------------------------------------------------------------------------------
    @property
    def record(self) -> RunRecord:
        return self._record

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def name(self) -> str:
        return str(self._edits.get("name", self._record.name))

    @property
    def display_name(self) -> str:
        return self.name

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
    def summary(self) -> Summary:
        """The summary: item edits stay here until :meth:`update`; ``summary.update({...})``
        writes at once."""
        if self._summary is None:
            self._summary = Summary(self._record.summary, self._write_summary)
        return self._summary

    @property
    def summary_metrics(self) -> dict[str, Any]:
        return dict(self._record.summary)

    @property
    def tags(self) -> list[str]:
        tags: list[str] = self._edits.setdefault("tags", list(self._record.tags))
        return tags  # run.tags.append("x") then update() keeps it, as in wandb

    @property
    def notes(self) -> str | None:
        value: str | None = self._edits.get("notes", self._record.notes)
        return value

    @property
    def group(self) -> str | None:
        value: str | None = self._edits.get("group_name", self._record.group_name)
        return value

    @property
    def job_type(self) -> str | None:
        value: str | None = self._edits.get("job_type", self._record.job_type)
        return value

    @property
    def entity(self) -> str:
        """Always ``"stepstone"``: a lab has no users or teams (paths ignore it)."""
        return ENTITY

    @property
    def path(self) -> list[str]:
        """``[entity, project, id]``, as in wandb (``api.run("/".join(run.path))`` finds it)."""
        return [urllib.parse.quote(p, safe="") for p in (ENTITY, self.project, self.id)]

    @property
    def url(self) -> str:
        """The run's page on the dashboard (``stepstone ui``; ``STEPSTONE_UI_URL`` if it runs
        elsewhere)."""
        return run_url(self.id)

    @property
    def metadata(self) -> dict[str, Any]:
        """What wandb keeps in ``wandb-metadata.json``: host, OS, Python, program and
        arguments, start time, git, hardware and packages, from the run's captured
        environment."""
        r = self._record
        env = dict(r.env or {})
        hardware = dict(env.get("hardware") or {})
        command = list(r.command or [])
        out: dict[str, Any] = {
            "host": r.host or hardware.get("host"), "os": hardware.get("platform"),
            "python": env.get("python"), "executable": env.get("executable"),
            "program": command[1] if len(command) > 1 else None, "args": command[2:],
            "startedAt": when(r.created_at), "cwd": r.cwd,
            "cpu_count": hardware.get("cpu_count"), "cpu": hardware.get("cpu"),
            "memory_gb": hardware.get("memory_gb"), "gpus": hardware.get("gpus", []),
            "packages": env.get("packages", {}),
        }
        if r.git_commit:
            out["git"] = {"commit": r.git_commit, "branch": r.git_branch,
                          "dirty": bool(r.git_dirty)}
        return out

    @property
    def lastHistoryStep(self) -> int:  # wandb's name
        """The last step logged, or -1 when none was."""
        return -1 if self._record.last_step is None else self._record.last_step

    @property
    def system_metrics(self) -> dict[str, float]:
        """The last sample of each system metric (``system/*``)."""
        return {row["key"]: row["last"]
                for row in system_table(read_system(self._lab, self.id))}

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
        """Read the run again (status, summary and config may have moved on); edits not yet
        written with :meth:`update` are dropped."""
        self._record = self._lab.runs.get(self.id)
        self._edits = {}
        self._summary = None
        return self

    def update(self) -> None:
        """Write the edits to the lab, as wandb's ``run.update()``: name, notes, tags, group
        and job type set on this object, keys set in ``run.config``, and the summary's item
        edits (keys set or deleted)."""
        runs = self._lab.runs
        fields = {k: v for k, v in self._edits.items()
                  if v != getattr(self._record, k)}
        if fields:
            runs.update(self.id, **fields)
        runs.write_config(self.id, self._record.config, own_transaction=True)
        if self._summary is not None:
            self._write_summary(self._summary)
        self.refresh()

    def _write_summary(self, summary: Summary) -> None:
        changed, removed = summary.changes()
        if changed or removed:
            self._lab.runs.set_summary(self.id, changed, removed)
        summary.saved()

    load = refresh

    # metrics ----------------------------------------------------------------------------------
    def metric_keys(self) -> list[str]:
        """The keys of the numeric metric series, sorted; system metrics (``system/*``) are
        in :attr:`system_metrics` and ``history(stream="events")``."""
        return split_keys(self._lab.metrics.keys(self.id))[0]

    def _columns(self, keys: Sequence[str] | None) -> tuple[dict[str, Any], dict[str, Any]]:
        lab = self._lab
        if keys is None:  # the training metrics; system metrics are history(stream="events")
            keys = split_keys(lab.metrics.keys(self.id))[0]
            keys += [k for k in lab.metrics.text_counts(self.id) if k not in keys]
        series = lab.metrics.history(self.id, list(keys))
        texts = lab.metrics.texts(self.id)
        if keys is not None:
            wanted = set(keys)
            texts = {k: v for k, v in texts.items() if k in wanted}
        return series, texts

    def history(
        self, samples: int | None = None, keys: Sequence[str] | None = None,
        x_axis: str = "_step", pandas: bool = True, format: str = "pandas",
        stream: str = "default",
    ) -> Any:
        """The run's metrics, one row per step: ``_step``, ``_runtime``, ``_timestamp``, keys.

        ``stream="events"`` gives the system metrics instead (``system/*``, see
        :mod:`stepstone.sdk.system`), one row per sample: ``_runtime``, ``_timestamp`` and
        the keys, as in wandb; ``x_axis`` sorts the rows by any column.

        ``keys`` limits the columns (rows where none of them was logged are dropped);
        ``samples`` thins the rows evenly to at most that many (first and last kept);
        a key logged twice at one step keeps its last value. ``format`` is ``"pandas"``,
        ``"polars"`` or ``"records"`` (``pandas=False`` means ``"records"``, as in wandb).
        """
        fmt = format if pandas else "records"
        check_format(fmt)
        if stream not in ("default", "events", "system"):
            raise UsageError(f"stream={stream!r}: use 'default' (the run's metrics) or "
                             "'events' (its system metrics)")
        pd = pandas_module()
        if stream != "default":
            frame = self._events(pd, keys)
            return convert(_thin(_sorted(frame, x_axis), samples), fmt)
        if keys is not None and x_axis not in (*keys, "_step", "_runtime", "_timestamp"):
            keys = [*keys, x_axis]  # the x axis comes with the keys, as in wandb
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
        return convert(_thin(_sorted(frame, x_axis), samples), fmt)

    def _events(self, pd: Any, keys: Sequence[str] | None) -> Any:
        """The system samples as a frame: one row per sample, ``_runtime``, ``_timestamp``."""
        history = read_system(self._lab, self.id)
        if keys is not None:
            history = {k: v for k, v in history.items() if k in set(keys)}
        columns = {key: pd.Series(s.values, index=pd.Index(s.times, dtype="float64"),
                                  dtype="float64").groupby(level=0).last()
                   for key, s in history.items()}
        if columns:
            frame = pd.concat(columns, axis=1, sort=True)
        else:
            frame = pd.DataFrame(index=pd.Index([], dtype="float64"))
        frame = frame.reindex(columns=sorted(frame.columns))
        stamps = frame.index.to_numpy(dtype="float64")
        frame.insert(0, "_timestamp", stamps)
        frame.insert(0, "_runtime", stamps - self.created_at)
        return frame.reset_index(drop=True)

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
        return self._lab.evals.names(self.id)

    def evals(self, name: str | None = None, format: str = "pandas") -> Any:
        """Per-example evaluation records: name, step, id, score, correct, prediction, fields."""
        check_format(format)
        records = [r.to_dict() for r in self._lab.evals.records(self.id, name)]
        if format == "records":
            return records
        return convert(eval_frame(records), format)

    def fits(self) -> list[Fit]:
        """The stored fits that used this run."""
        return [f for f in stored_fits(self._lab) if self.id in f.run_ids]

    def files(self, names: Sequence[str] | None = None, pattern: str | None = None,
              per_page: int = 50) -> list[File]:
        """The files stored with the run (artifacts, logs, media, the code's manifest), each a
        :class:`File` with ``name``, ``role``, ``hash``, ``read()`` and ``download()``;
        ``names`` picks some by name, ``pattern`` by wandb's LIKE syntax (``%.json``)."""
        files = [File(self._lab, self.id, o.role, o.name, o.hash)
                 for o in self._lab.run_objects(self.id)]
        return select(files, list(names) if names else None, pattern)

    def file(self, name: str, role: str | None = None) -> File:
        """One stored file by name (``role`` tells apart two files of one name)."""
        found = [f for f in self.files(names=[name]) if role is None or f.role == role]
        if not found:
            raise NotFoundError(f"run {self.id} has no file {name!r}"
                                + (f" of role {role}" if role else ""))
        return found[0]

    def logged_artifacts(self, per_page: int = 100) -> list[StoredArtifact]:
        """The artifact versions this run logged (``log_artifact``), by name and version."""
        return [StoredArtifact(v, self._lab.objects)
                for v in self._lab.artifacts.logged_by(self.id)]

    def used_artifacts(self, per_page: int = 100) -> list[StoredArtifact]:
        """The artifact versions this run used (``use_artifact``), by name and version; each
        one's ``run_id`` is the run that logged it."""
        return [StoredArtifact(v, self._lab.objects)
                for v in self._lab.artifacts.used_by(self.id)]

    # display ----------------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"<stepstone.api.Run {self.id} {self.name!r} ({self.status})>"

    def _repr_html_(self) -> str:
        r = self._record
        fields = [
            ("id", r.id), ("name", r.name), ("project", r.project), ("status", r.status),
            ("reason", r.reason), ("kind", r.kind), ("question", r.question_id),
            ("baseline", r.baseline), ("tags", r.tags), ("created", when(r.created_at)),
            ("duration", None if r.duration is None else f"{r.duration:.1f}s"),
            ("last step", r.last_step), ("imported from", r.imported_from),
        ]
        rows = [{"field": k, "value": v} for k, v in fields if v not in (None, [], "")]
        rows += [{"field": f"config.{k}", "value": v}
                 for k, v in flatten(r.config, strict=False).items()]
        rows += [{"field": f"summary.{k}", "value": v} for k, v in r.summary.items()]
        return html_table(rows, ("field", "value"), caption=f"run {r.id}")


def _sorted(frame: Any, x_axis: str) -> Any:
    """``frame`` in the order of the ``x_axis`` column (``_step`` for the default stream)."""
    if x_axis == "_step" and "_step" not in frame.columns:
        x_axis = "_timestamp"
    if x_axis not in frame.columns:
        raise UsageError(f"x_axis {x_axis!r} is not a column of this history: use one of "
                         f"{', '.join(str(c) for c in frame.columns[:8])}")
    return frame.sort_values(x_axis, kind="stable").reset_index(drop=True)


def _thin(frame: Any, samples: int | None) -> Any:
    """At most ``samples`` rows, evenly spaced, the first and the last kept."""
    if samples is None or len(frame) <= samples:
        return frame
    if samples < 1:
        raise UsageError("samples must be at least 1")
    if samples == 1:
        picks = [len(frame) - 1]
    else:
        step = (len(frame) - 1) / (samples - 1)
        picks = sorted({round(i * step) for i in range(samples)})
    return frame.iloc[picks].reset_index(drop=True)
