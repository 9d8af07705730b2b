"""``Api``: read access to a lab, shaped like ``wandb.Api()``, and its projects."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stepstone.api._filters import ALIASES, PUSHED, matches, sort_records
from stepstone.api._fit import Fit, stored_fits
from stepstone.api._frames import check_format, convert, eval_frame, pandas_module, runs_frame
from stepstone.api._paths import ENTITY, ui_url
from stepstone.api._run import Run
from stepstone.api._runs import Runs
from stepstone.errors import NotFoundError, UsageError
from stepstone.sdk.artifacts import StoredArtifact
from stepstone.store.artifacts import parse_reference
from stepstone.store.lab import Lab, open_lab
from stepstone.store.listing import Listing
from stepstone.store.runs import RunRecord

_OVERRIDES = ("entity", "project", "run")


class Api:
    """Read access to a lab: ``Api(lab=PATH)``; without ``lab`` the usual lookup applies.

    wandb's arguments are taken: ``overrides`` (``project`` becomes the default project of
    :meth:`runs`; ``entity`` is ignored, a lab has none), ``timeout`` and ``api_key`` (a lab
    is read directly, with no server to time out or log in to). ``base_url`` is refused:
    name the lab or the team store with ``lab=`` or ``STEPSTONE_STORE``.
    """

    def __init__(self, lab: str | Path | Lab | Mapping[str, Any] | None = None,
                 overrides: Mapping[str, Any] | None = None, timeout: float | None = None,
                 api_key: str | None = None) -> None:
        if isinstance(lab, Mapping):  # Api({"project": ...}): wandb's first argument
            lab, overrides = None, lab
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(_OVERRIDES))
        if unknown:
            raise UsageError(
                f"Api(overrides=...) does not support {', '.join(unknown)}: stepstone reads a "
                "lab, not a server; name it with Api(lab=PATH_OR_STORE_URL) or STEPSTONE_STORE")
        self._project = overrides.get("project")
        if isinstance(lab, Lab):
            self._lab, self._owned = lab, False
        else:
            self._lab, self._owned = open_lab(lab), True

    @property
    def ui_url(self) -> str:
        """The dashboard's address, for ``run.url`` (``STEPSTONE_UI_URL``, else 127.0.0.1:8420)."""
        return ui_url()

    @property
    def default_entity(self) -> str:
        return ENTITY

    def flush(self) -> None:
        """wandb clears its cache here; a lab is read afresh on every call: nothing to do."""

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
        path = path or self._project
        if path:
            listed["project"] = path.rstrip("/").split("/")[-1]
        for name, value in columns.items():
            if value is not None:
                listed[name] = value
        for name in list(filters):  # plain equality on an indexed column is done in SQL
            column = ALIASES.get(name, name)
            value = filters[name]
            if column in PUSHED and isinstance(value, str) and column not in listed:
                listed[column] = filters.pop(name)
        tag = listed.pop("tags", None)
        limit = listed.pop("limit", None)
        self._reap()
        records = self._lab.runs.list(tag=tag, **listed)
        if filters:
            records = [r for r in records if matches(r, filters)]
        records = sort_records(records, order)
        return records[:limit] if limit is not None else records

    def runs(
        self, path: str | None = None, filters: Mapping[str, Any] | None = None,
        order: str | None = "-created_at", per_page: int | None = None,
        include_sweeps: bool = True, lazy: bool = True, *, question: str | None = None,
        baseline: str | None = None,
        status: str | Iterable[str] | None = None, tag: str | None = None,
        project: str | None = None, kind: str | None = None, name: str | None = None,
        limit: int | None = None,
    ) -> Runs:
        """Runs matching the filters, newest first (``order="+summary.val/loss"`` to sort).

        ``path`` is a project (``"entity/project"`` as in wandb works too); ``per_page``,
        ``include_sweeps`` and ``lazy`` are accepted for wandb compatibility. Keyword filters:
        ``question``, ``baseline``, ``status``, ``tag``, ``project``, ``kind``, ``name`` (a
        substring), ``limit``.
        """
        records = self._records(
            path, filters, order, question_id=question, baseline=baseline, status=status,
            tags=tag, project=project, kind=kind, name=name, limit=limit,
        )
        return Runs([Run(self._lab, r) for r in records])

    def run(self, path: str) -> Run:
        """One run by id, unique id prefix or unique name (``"project/id"`` works too)."""
        ref = path.rstrip("/").split("/")[-1] if "/" in path else path
        self._reap()
        return Run(self._lab, self._lab.runs.get(ref))

    def project(self, name: str, entity: str | None = None) -> Project:
        """The project ``name`` (the runs of that project), or NotFoundError naming those there
        are."""
        projects = Listing(self._lab.db).projects()
        if name not in projects:
            raise NotFoundError(f"no project {name!r} in this lab: it has "
                                f"{', '.join(projects) or 'no runs yet'}")
        return Project(self, name)

    def projects(self, entity: str | None = None, per_page: int = 200) -> list[Project]:
        """Every project with runs in this lab, by name."""
        return [Project(self, name) for name in Listing(self._lab.db).projects()]

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

    # artifacts --------------------------------------------------------------------------------
    def artifact(self, name: str, type: str | None = None) -> StoredArtifact:
        """An artifact version logged to this lab, as wandb's ``api.artifact``: ``name``,
        ``name:latest``, ``name:v3`` or ``name:ALIAS``, after ``project/`` or
        ``entity/project/`` where you like (the project picks among its runs' versions, by
        default the ``project`` of ``overrides``; the entity is ignored). The rule is
        :mod:`stepstone.store.artifacts`'s; nothing is fetched from wandb. ``type``, when
        given, must match."""
        ref = parse_reference(name)
        if ref.project is None and self._project:
            ref = dataclasses.replace(ref, project=self._project)
        return StoredArtifact(self._lab.artifacts.resolve(ref, type), self._lab.objects)

    # tables -----------------------------------------------------------------------------------
    def runs_frame(
        self, runs: Iterable[Run | str] | Runs | None = None, *,
        filters: Mapping[str, Any] | None = None, format: str = "pandas",
    ) -> Any:
        """One row per run: its fields, ``tags``, ``config.*`` and ``summary.*`` columns.

        ``runs`` is a list of runs or ids (default: every run, or those matching
        ``filters``). The same table ``stepstone export runs`` writes.
        """
        check_format(format)
        if runs is None and filters:
            records = self._records(None, filters, "-created_at")
        else:
            records = self._resolve(runs)
        return runs_frame(records, format)

    def history_frame(
        self, runs: Iterable[Run | str] | Runs | None = None,
        keys: Sequence[str] | None = None, *, format: str = "pandas",
    ) -> Any:
        """One row per metric point: ``run_id``, ``key``, ``step``, ``value``, ``time``,
        ``text`` (a point logged as text has its text there and a NaN value).

        ``runs`` is a list of runs or ids (default: every run); ``keys`` limits the
        metrics. The same table ``stepstone export history`` writes.
        """
        check_format(format)
        records = self._resolve(runs)
        columns: dict[str, list[Any]] = {"run_id": [], "key": [], "step": [], "value": [],
                                         "time": [], "text": []}
        for record in records:
            for key, series in self._lab.metrics.history(record.id, keys).items():
                n = len(series)
                columns["run_id"].extend([record.id] * n)
                columns["key"].extend([key] * n)
                columns["step"].extend(series.steps)
                columns["value"].extend(series.values)
                columns["time"].extend(series.times)
                columns["text"].extend([None] * n)
            for key, step, ts, text in self._lab.metrics.text_points(record.id, keys):
                for name, cell in (("run_id", record.id), ("key", key), ("step", step),
                                   ("value", None), ("time", ts), ("text", text)):
                    columns[name].append(cell)
        if format == "records":
            names = list(columns)
            return [dict(zip(names, row, strict=True))
                    for row in zip(*columns.values(), strict=True)]
        pd = pandas_module()
        frame = pd.DataFrame({
            "run_id": pd.Series(columns["run_id"], dtype=object),
            "key": pd.Series(columns["key"], dtype=object),
            "step": pd.Series(columns["step"], dtype="int64"),
            "value": pd.Series(columns["value"], dtype="float64"),
            "time": pd.Series(columns["time"], dtype="float64"),
            "text": pd.Series(columns["text"], dtype=object),
        })
        return convert(frame, format)

    def evals_frame(
        self, runs: Iterable[Run | str] | Runs | None = None, name: str | None = None, *,
        format: str = "pandas",
    ) -> Any:
        """Per-example evaluation records of several runs, with a ``run_id`` column first."""
        check_format(format)
        pd = pandas_module()
        frames = [eval_frame([e.to_dict() for e in self._lab.evals.records(r.id, name)], r.id)
                  for r in self._resolve(runs)]
        frames = [f for f in frames if len(f)]
        frame = pd.concat(frames, ignore_index=True) if frames else eval_frame([], "")
        return convert(frame, format)

    # fits -------------------------------------------------------------------------------------
    def fits(self, label: str | None = None) -> list[Fit]:
        """Stored scaling-law fits, newest first; with ``label``, those whose label is it or
        holds it as a whole word (``"small"`` finds the default label ``"baseline:small@...
        (its own runs, kind baseline)"``, not ``"smaller"``)."""
        return stored_fits(self._lab, label)

    def fit(self, fit_id: str) -> Fit:
        for fit in self.fits():
            if fit.id == fit_id:
                return fit
        raise NotFoundError(f"no fit {fit_id!r} in this lab")

    def __repr__(self) -> str:
        return f"<stepstone.Api lab={self._lab.root}>"


class Project:
    """A project of a lab (the runs that share a ``project`` name), shaped like wandb's:
    ``name``, ``entity``, ``path``, ``url``, and :meth:`runs`."""

    def __init__(self, api: Api, name: str) -> None:
        self._api = api
        self.name = name
        self.entity = ENTITY

    @property
    def path(self) -> list[str]:
        return [self.entity, self.name]

    @property
    def url(self) -> str:
        return f"{ui_url()}/runs?project={self.name}"

    def runs(self, **kwargs: Any) -> Runs:
        """The project's runs (the keywords of :meth:`Api.runs`)."""
        return self._api.runs(self.name, **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Project) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"<Project {'/'.join(self.path)}>"
