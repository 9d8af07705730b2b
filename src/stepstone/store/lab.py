"""A lab: the ``.stepstone/`` folder (or a team store) that holds every run.

Found from ``--lab``, then ``STEPSTONE_LAB``, then the nearest ``.stepstone/``
from the working directory upward. It holds ``lab.db`` (SQLite in WAL mode) and
``objects/`` (content-addressed blobs).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from stepstone.errors import LabError, NotFoundError
from stepstone.store.db import Database
from stepstone.store.evals import Evals
from stepstone.store.metrics import Metrics
from stepstone.store.migrations import check_version, migrate
from stepstone.store.objects import ObjectIndex, ObjectStore
from stepstone.store.runs import Runs

LAB_DIRNAME = ".stepstone"
DB_NAME = "lab.db"


def find_lab(explicit: str | Path | None = None, start: str | Path | None = None) -> Path:
    """The lab folder to use, or a LabError saying how to make one."""
    chosen = explicit if explicit is not None else os.environ.get("STEPSTONE_LAB") or None
    if chosen is not None:
        path = Path(chosen).expanduser()
        if path.name != LAB_DIRNAME and (path / LAB_DIRNAME).is_dir():
            path = path / LAB_DIRNAME
        if not (path / DB_NAME).exists():
            raise LabError(f"no lab at {path}: create one with `stepstone init {path.parent}`")
        return path.resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / LAB_DIRNAME
        if (candidate / DB_NAME).exists():
            return candidate
    raise LabError(
        f"no lab found in {here} or above: run `stepstone init` here, or pass --lab PATH"
    )


def init_lab(where: str | Path | None = None) -> Path:
    """Create (or upgrade) a lab in ``where`` (a project folder or a ``.stepstone`` folder)."""
    base = Path(where or Path.cwd()).expanduser()
    root = base if base.name == LAB_DIRNAME else base / LAB_DIRNAME
    try:
        (root / "objects").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabError(f"cannot create a lab at {root}: {exc.strerror}") from exc
    db = Database(root / DB_NAME)
    try:
        migrate(db)
    finally:
        db.close()
    return root.resolve()


class Lab:
    """An open lab: its database repositories and its object store."""

    def __init__(self, root: Path, db: Database) -> None:
        self.root = root
        self.db = db
        self.objects = ObjectStore(root / "objects")
        self.runs = Runs(db)
        self.metrics = Metrics(db)
        self.evals = Evals(db)
        self.object_index = ObjectIndex(db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- objects ----------------------------------------------------------------------
    def put_object(self, data: bytes) -> str:
        """Store a blob once and record it; return its hash."""
        digest = self.objects.put(data)
        with self.db.transaction():
            self.object_index.record(digest, len(data))
        return digest

    def attach_object(self, run_id: str, role: str, name: str, digest: str) -> None:
        with self.db.transaction():
            self.object_index.attach(run_id, role, name, digest)

    def run_objects(self, run_id: str, role: str | None = None) -> list[dict[str, Any]]:
        return self.object_index.of_run(run_id, role)

    def run_object(self, run_id: str, role: str, name: str) -> bytes:
        digest = self.object_index.find(run_id, role, name)
        if digest is None:
            raise NotFoundError(f"run {run_id} has no {role} {name!r}")
        return self.objects.get(digest)

    # -- code snapshots ---------------------------------------------------------------
    def snapshot_manifest(self, snapshot_id: str) -> dict[str, Any]:
        manifest: dict[str, Any] = json.loads(self.objects.get(snapshot_id))
        return manifest

    def snapshot_file(self, snapshot_id: str, path: str) -> bytes:
        """A file of a code snapshot, looked up in its manifest (never on disk by path)."""
        entry = self.snapshot_manifest(snapshot_id)["files"].get(path)
        if entry is None:
            raise NotFoundError(f"{path!r} is not in code snapshot {snapshot_id[:12]}")
        return self.objects.get(entry["hash"])

    # -- fits -------------------------------------------------------------------------
    def save_fit(
        self, *, label: str, form: str, source: str, run_ids: list[str],
        flops_method: str | None, result: dict[str, Any],
    ) -> str:
        fit_id = uuid.uuid4().hex[:10]
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO fits (id, created_at, label, form, source, run_ids, flops_method, result)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (fit_id, time.time(), label, form, source, json.dumps(run_ids), flops_method,
                 json.dumps(result, default=str)),
            )
        return fit_id

    def fits(self, label: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM fits"
        params: list[Any] = []
        if label is not None:
            sql += " WHERE label = ?"
            params.append(label)
        rows = self.db.query(sql + " ORDER BY created_at DESC", params)
        for row in rows:
            row["run_ids"] = json.loads(row["run_ids"])
            row["result"] = json.loads(row["result"])
        return rows


def open_lab(explicit: str | Path | None = None, *, readonly: bool = False) -> Lab:
    """Open the lab named by ``explicit``/``STEPSTONE_LAB`` or found upward from here."""
    root = find_lab(explicit)
    db = Database(root / DB_NAME, readonly=readonly)
    try:
        check_version(db, auto_upgrade=not readonly)
    except BaseException:
        db.close()
        raise
    return Lab(root, db)
