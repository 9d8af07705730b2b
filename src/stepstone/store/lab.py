"""A lab: the ``.stepstone/`` folder (or a team store) that holds every run.

Found from ``--lab``, then ``STEPSTONE_LAB``, then ``STEPSTONE_STORE``, then the
nearest ``.stepstone/`` from the working directory upward. It holds ``lab.db``
(SQLite in WAL mode) and ``objects/`` (content-addressed blobs), or, for a team
store, ``store.toml`` naming the PostgreSQL URL and the shared objects location
(see :mod:`stepstone.store.target`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepstone.errors import LabError, NotFoundError, UsageError
from stepstone.store.artifacts import ArtifactIndex
from stepstone.store.db import Database, is_postgres_url, lab_writable
from stepstone.store.evals import Evals
from stepstone.store.metrics import Metrics
from stepstone.store.migrations import LATEST, check_version, migrate, schema_version, upgrade
from stepstone.store.objects import ObjectIndex, RunObject
from stepstone.store.runs import Runs
from stepstone.store.target import (
    DB_NAME,
    LAB_DIRNAME,
    STORE_FILE,
    StoreTarget,
    is_lab_folder,
    open_objects,
    target_of_folder,
    target_of_url,
    write_store_file,
)

if TYPE_CHECKING:
    from stepstone.store.alerts import Alerts
    from stepstone.store.baselines import Baselines
    from stepstone.store.ideas import Ideas
    from stepstone.store.notebook import Notebook
    from stepstone.store.plans import Plans
    from stepstone.store.questions import Questions
    from stepstone.store.recall import Recall
    from stepstone.store.suites import Suites


@dataclass(frozen=True)
class StoredFit:
    """A scaling-law fit as saved (``stepstone fit``): its ``form``, the runs it used, and
    its ``result`` (the fit's ``to_dict()`` and the metric it was fitted to)."""

    id: str
    created_at: float
    label: str
    form: str
    source: str
    run_ids: tuple[str, ...]
    flops_method: str | None
    result: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "run_ids": list(self.run_ids)}


def find_lab(explicit: str | Path | None = None, start: str | Path | None = None) -> Path:
    """The lab folder to use, or a LabError saying how to make one."""
    chosen = explicit if explicit is not None else os.environ.get("STEPSTONE_LAB") or None
    if chosen is not None:
        if is_postgres_url(str(chosen)):
            raise LabError("a store URL has no lab folder: give the folder made by "
                           "`stepstone init --store URL`")
        path = Path(chosen).expanduser()
        if path.name != LAB_DIRNAME and (path / LAB_DIRNAME).is_dir():
            path = path / LAB_DIRNAME
        if not is_lab_folder(path):
            where = "STEPSTONE_LAB names" if explicit is None else "--lab names"
            folder = path.parent if path.name == LAB_DIRNAME else path
            raise LabError(f"no lab at {path} ({where} it): create one with "
                           f"`stepstone init {folder}`, or point to an existing lab")
        return path.resolve()
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / LAB_DIRNAME
        if is_lab_folder(candidate):
            return candidate
    raise LabError(
        f"no lab found in {here} or above: run `stepstone init` here, or pass --lab PATH"
    )


def find_store(explicit: str | Path | None = None, start: str | Path | None = None) -> StoreTarget:
    """The store to use: ``explicit`` (a folder or a URL), ``STEPSTONE_LAB``, ``STEPSTONE_STORE``,
    or the nearest lab folder upward from ``start``."""
    chosen = explicit if explicit is not None else os.environ.get("STEPSTONE_LAB") or None
    if chosen is not None and is_postgres_url(str(chosen)):
        return target_of_url(str(chosen))
    if chosen is None and os.environ.get("STEPSTONE_STORE"):
        return target_of_url(os.environ["STEPSTONE_STORE"])
    return target_of_folder(find_lab(chosen, start))


def connect(target: StoreTarget, *, readonly: bool = False) -> Database:
    """Open ``target``'s database at a schema this client understands.

    An embedded lab is upgraded on the spot, also for a reader (the dashboard), when this
    process can write it; a team store only by ``stepstone migrate``.
    """
    db = Database(target.database, readonly=readonly)
    try:
        if target.is_postgres and schema_version(db) == 0:
            raise LabError(f"the team store {target.describe()} is empty: "
                           f"run `stepstone init --store URL` (or `stepstone migrate`) first")
        if (readonly and not target.is_postgres and schema_version(db) < LATEST
                and lab_writable(target.database)):
            connect(target).close()  # the upgrade a writer would make; the reads stay read-only
        check_version(db, auto_upgrade=not readonly and not target.is_postgres)
    except BaseException:
        db.close()
        raise
    return db


def init_lab(
    where: str | Path | None = None, *, store: str | None = None, objects: str | None = None,
) -> Path:
    """Create (or upgrade) a lab in ``where`` (a project folder or a ``.stepstone`` folder).

    With ``store`` (a ``postgresql://`` URL) the lab is a team store: ``.stepstone/store.toml``
    records the URL and ``objects`` (a shared folder or an fsspec URL; default
    ``.stepstone/objects``), and an empty database gets the schema. A team store that exists
    already is checked, never upgraded here: that is ``stepstone migrate``'s job.
    """
    base = Path(where or Path.cwd()).expanduser()
    root = base if base.name == LAB_DIRNAME else base / LAB_DIRNAME
    if store is not None or (root / STORE_FILE).exists():
        return _init_team_lab(root, store, objects)
    if objects is not None:
        raise UsageError("--objects goes with --store: a local lab keeps its objects in it")
    return create_local_lab(root)


def create_local_lab(root: Path) -> Path:
    """Create (or upgrade) the embedded lab in the folder ``root``: ``lab.db`` and ``objects/``.

    Beside a ``store.toml`` this is the team lab's offline spool (see ``offline_target``).
    """
    try:
        (root / "objects").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabError(f"cannot create a lab at {root}: {exc.strerror}") from exc
    path = root / DB_NAME
    new = not path.exists()
    try:
        db = Database(path)
        try:
            migrate(db)
        finally:
            db.close()
    except Exception:
        if new:  # a creation that failed (a full disk) leaves no empty lab.db to refuse later
            for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
                (root / name).unlink(missing_ok=True)
        raise
    return root.resolve()


def _init_team_lab(root: Path, store: str | None, objects: str | None) -> Path:
    if store is None:
        target = target_of_folder(root)
    else:
        if not is_postgres_url(store):
            raise UsageError(f"--store takes a postgresql:// URL, not {store!r}")
        if objects is not None and "://" not in objects:
            objects = str(Path(objects).expanduser().resolve())
        target = target_of_url(store, objects or str(root.resolve() / "objects"))
    db = Database(target.database)  # connect first: a bad URL leaves nothing behind
    try:
        try:
            root.mkdir(parents=True, exist_ok=True)
            if "://" not in target.objects:
                Path(target.objects).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LabError(f"cannot create a lab at {root}: {exc.strerror}") from exc
        if store is not None:
            write_store_file(root, store, objects)
        if schema_version(db) == 0:
            upgrade(db)
        else:
            check_version(db, auto_upgrade=False)
    finally:
        db.close()
    return root.resolve()


class Lab:
    """An open lab: its database repositories and its object store.

    ``root`` is the local ``.stepstone/`` folder, None for a team store named by URL alone;
    ``target`` says where the database and the objects live. The repositories a run writes
    with (runs, metrics, evaluations, objects, artifacts) are made at once; the method's
    (plans, ideas, questions, baselines, notebook, suites, recall, alerts) on first use, their
    modules imported then: a run's ``init()`` opens its lab through this module, and its
    result page reads a few of them (imports for start-up speed).
    """

    def __init__(self, root: Path | None, db: Database, target: StoreTarget | None = None) -> None:
        if target is None:
            if root is None:
                raise ValueError("a Lab needs a root folder or a target")
            target = target_of_folder(root)
        self.root = root
        self.target = target
        self.db = db
        self.objects = open_objects(target.objects)
        self.runs = Runs(db)
        self.metrics = Metrics(db)
        self.evals = Evals(db)
        self.object_index = ObjectIndex(db)
        self.artifacts = ArtifactIndex(db, self.objects)

    @cached_property
    def plans(self) -> Plans:
        from stepstone.store.plans import Plans

        return Plans(self.db)

    @cached_property
    def ideas(self) -> Ideas:
        from stepstone.store.ideas import Ideas

        return Ideas(self.db)

    @cached_property
    def questions(self) -> Questions:
        from stepstone.store.questions import Questions

        return Questions(self.db)

    @cached_property
    def baselines(self) -> Baselines:
        from stepstone.store.baselines import Baselines

        return Baselines(self.db)

    @cached_property
    def notebook(self) -> Notebook:
        from stepstone.store.notebook import Notebook

        return Notebook(self.db)

    @cached_property
    def suites(self) -> Suites:
        from stepstone.store.suites import Suites

        return Suites(self.db)

    @cached_property
    def recall(self) -> Recall:
        from stepstone.store.recall import Recall

        return Recall(self.db)

    @cached_property
    def alerts(self) -> Alerts:
        from stepstone.store.alerts import Alerts

        return Alerts(self.db)

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

    def run_objects(self, run_id: str, role: str | None = None) -> list[RunObject]:
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
        fit_id = os.urandom(5).hex()
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO fits (id, created_at, label, form, source, run_ids, flops_method,"
                " result) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (fit_id, time.time(), label, form, source, json.dumps(run_ids), flops_method,
                 json.dumps(result, default=str)),
            )
        return fit_id

    def fits(self, label: str | None = None) -> list[StoredFit]:
        """Stored fits, newest first (only those labelled ``label``, if given)."""
        sql = "SELECT * FROM fits"
        params: list[Any] = []
        if label is not None:
            sql += " WHERE label = ?"
            params.append(label)
        return [StoredFit(id=row["id"], created_at=float(row["created_at"]), label=row["label"],
                          form=row["form"], source=row["source"],
                          run_ids=tuple(json.loads(row["run_ids"])),
                          flops_method=row["flops_method"], result=json.loads(row["result"]))
                for row in self.db.query(sql + " ORDER BY created_at DESC", params)]


def open_lab(explicit: str | Path | None = None, *, readonly: bool = False) -> Lab:
    """Open the lab named by ``explicit``, ``STEPSTONE_LAB``, ``STEPSTONE_STORE``, or upward."""
    target = find_store(explicit)
    return Lab(target.root, connect(target, readonly=readonly), target)


def open_lab_to_read(explicit: str | Path | None = None) -> Lab:
    """The lab for a command that only reads: as :func:`open_lab` opens it (so that it
    records what it finds, a crashed run), or read-only where this process cannot write it
    (a read-only file, folder or mount), which then shows those findings without recording
    them."""
    target = find_store(explicit)
    readonly = not target.is_postgres and not lab_writable(target.database)
    return Lab(target.root, connect(target, readonly=readonly), target)
