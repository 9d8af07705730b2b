"""Import MLflow runs through MLflow's own client (any tracking URI it understands).

Each active run of each experiment (or of the experiments named) becomes a stepstone
run with the same id: the experiment's name is the project, params are the config
(their text read back as numbers, booleans and lists where it is one), every point
of every metric's history is kept with its step and time, the latest metric values
are the summary, and the run's status, start and end times are kept. The
``mlflow.note.content``, ``mlflow.source.git.commit``, ``mlflow.source.name`` and
``mlflow.parentRunId`` tags become the notes, the git commit, the command and the
group; other tags are kept as ``key=value`` tags.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from stepstone.configs import parse_value
from stepstone.errors import ConfigError, UsageError
from stepstone.importers._common import (
    Candidate,
    ImportReport,
    LabRef,
    Sink,
    note_dropped,
    write_candidates,
)
from stepstone.store.imports import ImportedRun

_STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed"}
_SYSTEM_TAGS = {"mlflow.runName", "mlflow.note.content", "mlflow.source.git.commit",
                "mlflow.source.name", "mlflow.parentRunId"}


def _client(uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise UsageError(
            "importing MLflow runs needs mlflow: pip install 'stepstone[import]'"
        ) from exc
    return MlflowClient(tracking_uri=uri)


def normalize_uri(uri: str | Path) -> str:
    """A tracking URI from a URI, an ``mlruns`` folder or a SQLite file."""
    text = str(uri)
    if text.startswith("sqlite:///"):
        db_file = Path(text[len("sqlite:///"):])
        if not db_file.exists():  # MLflow would create an empty store: say so instead
            raise UsageError(f"there is no MLflow database at {db_file}")
        return text
    if "://" in text or text.startswith(("file:", "databricks")):
        return text
    path = Path(text).expanduser()
    if not path.exists():
        raise UsageError(
            f"{path} does not exist: give a tracking URI (sqlite:///mlflow.db, "
            "http://host:5000) or an mlruns folder"
        )
    path = path.resolve()
    if path.is_file():
        return f"sqlite:///{path}"
    return path.as_uri()


def parse_param(text: str) -> Any:
    """An MLflow param (always text) read back as the value it was logged from."""
    if text == "None":
        return None
    try:
        return parse_value(text)
    except ConfigError:
        return text


def _experiments(client: Any, names: Sequence[str]) -> list[Any]:
    from mlflow.entities import ViewType

    found = list(client.search_experiments(view_type=ViewType.ACTIVE_ONLY))
    if not names:
        return found
    by_name = {e.name: e for e in found}
    by_id = {e.experiment_id: e for e in found}
    chosen = []
    for name in names:
        exp = by_name.get(name) or by_id.get(name)
        if exp is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise UsageError(f"no MLflow experiment {name!r} (experiments: {known})")
        chosen.append(exp)
    return chosen


def _runs(client: Any, experiment_id: str) -> Iterator[Any]:
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token,
                                  order_by=["attributes.start_time ASC"])
        yield from page
        token = page.token
        if not token:
            return


def load_run(client: Any, run: Any, project: str, report: ImportReport) -> ImportedRun:
    """One MLflow run (as ``search_runs`` returns it) as an :class:`ImportedRun`."""
    info, data = run.info, run.data
    tags: dict[str, str] = dict(data.tags)
    start = (info.start_time or 0) / 1000.0
    row: dict[str, Any] = {
        "id": info.run_id, "project": project, "kind": "adhoc",
        "name": info.run_name or tags.get("mlflow.runName") or info.run_id,
        "created_at": start,
        "status": _STATUS.get(info.status, "crashed"),
    }
    if row["status"] == "crashed":
        row["reason"] = (f"the MLflow run was {info.status} when imported: it had not ended")
    elif row["status"] != "finished":
        row["reason"] = f"MLflow status {info.status} (imported from MLflow)"
    if info.end_time:
        row["ended_at"] = info.end_time / 1000.0
    for column, tag in (("notes", "mlflow.note.content"),
                        ("git_commit", "mlflow.source.git.commit"),
                        ("group_name", "mlflow.parentRunId")):
        if tags.get(tag):
            row[column] = tags[tag]
    if tags.get("mlflow.source.name"):
        row["command"] = [tags["mlflow.source.name"]]
    user_tags = sorted(
        f"{k}={v}" if v else k for k, v in tags.items()
        if k not in _SYSTEM_TAGS and not k.startswith("mlflow.")
    )
    if user_tags:
        row["tags"] = user_tags
    config = {key: parse_param(value) for key, value in data.params.items()}
    sink = Sink()
    for key in sorted(data.metrics):
        points = sorted(client.get_metric_history(info.run_id, key),
                        key=lambda m: (m.step, m.timestamp))
        for m in points:
            sink.add(key, int(m.step), float(m.value), m.timestamp / 1000.0)
    if "ended_at" not in row and sink.series:
        row["ended_at"] = max(max(times) for _, _, times in sink.series.values())
    note_dropped(report, info.run_id, sink)
    summary = {k: float(v) for k, v in data.metrics.items()}
    return ImportedRun(row=row, config=config, series=sink.series, texts=sink.texts,
                       summary=summary)


def import_mlflow(
    uri: str | Path, lab: LabRef = None, *, experiments: Sequence[str] = (),
    dry_run: bool = False,
) -> ImportReport:
    """Import the runs of an MLflow tracking store into ``lab``; runs already there are skipped."""
    tracking_uri = normalize_uri(uri)
    client = _client(tracking_uri)
    report = ImportReport("mlflow")
    origin = f"mlflow:{tracking_uri}"

    def candidates() -> Iterator[Candidate]:
        for exp in _experiments(client, experiments):
            for run in _runs(client, exp.experiment_id):
                yield Candidate(run_id=run.info.run_id, origin=origin,
                                load=partial(load_run, client, run, exp.name, report))

    return write_candidates(lab, "mlflow", candidates(), dry_run=dry_run, report=report)
