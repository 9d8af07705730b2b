"""A run's artifacts on the dashboard: the versions it logged (type, aliases, metadata, and
each file, to download) and those it used (with the run that logged each), read through the
lab's :class:`~stepstone.store.artifacts.ArtifactIndex`, which holds the version rule; and a
logged file served from the object store by run, version and path."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse

from stepstone.store.artifacts import ArtifactVersion
from stepstone.store.lab import Lab
from stepstone.web.common import lab_of
from stepstone.web.media import stored_file

api_router = APIRouter(prefix="/api")
SHOWN_FILES = 50  # the run page lists each version's first files; the API lists them all


def run_artifacts(lab: Lab, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """The versions the run logged (each with its files, their count and total size) and
    those it used (each with the run that logged it), by name and version: one query for a
    run with none."""
    logged, used = lab.artifacts.of_run(run_id)
    return {"logged": [_logged(v) for v in logged], "used": [_version(v) for v in used]}


def _version(version: ArtifactVersion) -> dict[str, Any]:
    return {"name": version.name, "version": version.version, "type": version.type,
            "aliases": list(version.aliases), "run_id": version.run_id}


def _logged(version: ArtifactVersion) -> dict[str, Any]:
    files = [{"path": path, "size": int(entry["size"])}
             for path, entry in sorted(version.files.items())]
    return {**_version(version), "description": version.manifest.get("description"),
            "metadata": dict(version.manifest.get("metadata") or {}),
            "references": dict(version.manifest.get("references") or {}),
            "files": files, "size": sum(f["size"] for f in files)}


@api_router.get("/runs/{ref}/artifacts")
def artifacts_api(ref: str, lab: Lab = Depends(lab_of)) -> dict[str, Any]:
    """The artifact versions the run logged and used, as the run page shows them."""
    record = lab.runs.get(ref)
    return {"run": record.id, **run_artifacts(lab, record.id)}


@api_router.get("/runs/{ref}/artifacts/{artifact}/file")
def artifact_file_api(ref: str, artifact: str, path: str = Query(..., min_length=1),
                      lab: Lab = Depends(lab_of)) -> FileResponse:
    """The file at ``path`` in the version ``artifact`` (``name:vN``) the run logged, as a
    download (byte ranges answered), looked up by its name among the run's objects."""
    record = lab.runs.get(ref)
    return stored_file(lab, lab.artifacts.file_of(record.id, artifact, path), path,
                       download=True)
