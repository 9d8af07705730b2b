"""Where a lab's data lives: its database and its objects, as one *store target*.

A lab is either embedded (``.stepstone/lab.db``, SQLite, with ``.stepstone/objects/``)
or a team store: a PostgreSQL database plus an object location that every
machine of the team can reach (a shared folder, or any fsspec URL such as
``s3://bucket/stepstone``). A team lab still has a local ``.stepstone/`` folder
holding one small file, ``store.toml``::

    # written by `stepstone init --store URL [--objects LOCATION]`
    url = "postgresql://me@db.example.org:5432/research"
    objects = "/mnt/team/stepstone-objects"

or none at all, when ``STEPSTONE_STORE`` (or ``--lab``) names the URL directly;
the objects location then comes from ``STEPSTONE_OBJECTS``. A relative
``objects`` path in ``store.toml`` is relative to the folder that holds ``.stepstone/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from stepstone.errors import LabError, NotFoundError, UsageError
from stepstone.store.db import is_postgres_url, mask_url
from stepstone.store.objects import ObjectStore

LAB_DIRNAME = ".stepstone"
DB_NAME = "lab.db"
STORE_FILE = "store.toml"
OBJECTS_DIRNAME = "objects"


@dataclass(frozen=True)
class StoreTarget:
    """A lab's database (what :class:`~stepstone.store.db.Database` takes) and objects."""

    database: str
    """A SQLite file path or a ``postgresql://`` URL."""
    objects: str
    """A folder, or an fsspec URL, holding the content-addressed blobs."""
    root: Path | None
    """The local ``.stepstone/`` folder; None for a bare store URL."""

    @property
    def is_postgres(self) -> bool:
        return is_postgres_url(self.database)

    @property
    def location(self) -> str:
        """What ``--lab`` / ``STEPSTONE_LAB`` accept to find this lab again."""
        return str(self.root) if self.root is not None else self.database

    def describe(self) -> str:
        """For messages: the folder, or the URL without its password."""
        if self.is_postgres:
            where = mask_url(self.database)
            return f"{where} (via {self.root})" if self.root is not None else where
        return str(self.root if self.root is not None else self.database)


def is_lab_folder(folder: Path) -> bool:
    """A ``.stepstone/`` folder that holds a lab: an embedded one or a team store file."""
    return (folder / DB_NAME).exists() or (folder / STORE_FILE).exists()


def default_objects_location() -> str:
    """Where a bare store URL keeps objects when ``STEPSTONE_OBJECTS`` is not set."""
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(data) / "stepstone" / OBJECTS_DIRNAME)


def read_store_file(root: Path) -> dict[str, str]:
    """The ``url`` and ``objects`` of ``root/store.toml``, or a LabError saying what is wrong."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    path = root / STORE_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"{path} is not valid TOML: {exc}") from exc
    url = data.get("url")
    if not isinstance(url, str) or not is_postgres_url(url):
        raise LabError(f"{path} needs url = \"postgresql://...\" (the team store)")
    out = {"url": url}
    objects = data.get("objects")
    if objects is not None:
        if not isinstance(objects, str) or not objects:
            raise LabError(f"{path}: objects must be a folder or a URL")
        out["objects"] = objects
    return out


def write_store_file(root: Path, url: str, objects: str | None) -> Path:
    """Write ``root/store.toml`` (atomically); JSON strings are valid TOML strings."""
    lines = [
        "# stepstone team store: this lab's runs live in PostgreSQL (see docs/team-store.md)",
        f"url = {json.dumps(url)}",
    ]
    if objects is not None:
        lines.append(f"objects = {json.dumps(objects)}")
    path = root / STORE_FILE
    tmp = root / f".{STORE_FILE}.tmp"
    try:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise LabError(f"cannot write {path}: {exc.strerror}") from exc
    return path


def _objects_from(value: str, relative_to: Path) -> str:
    if "://" in value and not value.startswith("file://"):
        return value
    path = Path(value.removeprefix("file://")).expanduser()
    return str(path if path.is_absolute() else (relative_to / path).resolve())


def target_of_folder(root: Path) -> StoreTarget:
    """The target of a ``.stepstone/`` folder: its ``store.toml`` if any, else ``lab.db``."""
    if (root / STORE_FILE).exists():
        conf = read_store_file(root)
        objects = os.environ.get("STEPSTONE_OBJECTS") or conf.get("objects")
        location = _objects_from(objects, root.parent) if objects else str(root / OBJECTS_DIRNAME)
        return StoreTarget(conf["url"], location, root)
    return StoreTarget(str(root / DB_NAME), str(root / OBJECTS_DIRNAME), root)


def offline_target(target: StoreTarget) -> StoreTarget:
    """Where runs go while ``target``, a team store, cannot be reached: a local ``lab.db`` and
    ``objects/`` beside its ``store.toml`` (``stepstone sync`` there copies them in later),
    or, for a store named by URL alone, the local lab ``stepstone/offline`` in the user's data
    folder."""
    if target.root is not None:
        root = target.root
    else:
        root = Path(default_objects_location()).parent / "offline" / LAB_DIRNAME
    return StoreTarget(str(root / DB_NAME), str(root / OBJECTS_DIRNAME), root)


def sync_command(spool: StoreTarget, lab: str) -> str:
    """The command that copies the spool lab ``spool`` into the lab at ``lab`` (a folder or a
    store URL, its password masked): what a run's warning and ``stepstone status`` give."""
    return f"stepstone sync --lab {spool.root} --to {mask_url(lab)}"


def spool_targets(target: StoreTarget) -> tuple[StoreTarget, ...]:
    """Where a run's last batches go when ``target`` cannot take them at the run's end, in the
    order tried: a team store's offline lab (see :func:`offline_target`), then a lab of its own
    in the user's data folder (``stepstone/spool/<hash of the lab>/``: not on the lab's disk,
    which may be the one that is full). ``stepstone sync --lab SPOOL --to LAB`` copies it in."""
    out = [offline_target(target)] if target.is_postgres else []
    key = hashlib.sha256(target.location.encode("utf-8")).hexdigest()[:16]
    root = Path(default_objects_location()).parent / "spool" / key / LAB_DIRNAME
    own = StoreTarget(str(root / DB_NAME), str(root / OBJECTS_DIRNAME), root)
    return (*out, own) if own not in out else tuple(out)


def target_of_url(url: str, objects: str | None = None) -> StoreTarget:
    """A bare store URL's target; objects at ``objects``, ``STEPSTONE_OBJECTS`` or a default."""
    if not is_postgres_url(url):
        raise UsageError(f"{url!r} is not a store URL: it must start with postgresql://")
    location = objects or os.environ.get("STEPSTONE_OBJECTS") or default_objects_location()
    return StoreTarget(url, _objects_from(location, Path.cwd()), None)


def open_objects(location: str) -> ObjectStore:
    """The object store at ``location``: a folder, or an fsspec URL."""
    if "://" in location and not location.startswith("file://"):
        return UrlObjectStore(location)
    return ObjectStore(location.removeprefix("file://"))


class UrlObjectStore(ObjectStore):
    """The same content-addressed layout under an fsspec URL (``s3://``, ``gs://``, ``memory://``)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url.rstrip("/")
        try:
            import fsspec
        except ImportError as exc:
            raise LabError(
                f"objects at {self.url} need fsspec: pip install fsspec (and the package of "
                "that file system, e.g. s3fs for s3://)"
            ) from exc
        try:
            self.fs, self.base = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as exc:
            raise LabError(f"cannot open the object store {self.url}: {exc}") from exc

    def key(self, digest: str) -> str:
        self.path(digest)  # validates the digest
        return f"{self.base}/{digest[:2]}/{digest}"

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self.key(digest)))

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        key = self.key(digest)
        try:
            if not self.fs.exists(key):
                self.fs.pipe_file(key, data)  # one PUT: readers never see half a blob
        except OSError as exc:
            raise LabError(f"cannot write to the object store {self.url}: {exc}") from exc
        return digest

    def put_file(self, source: str | Path) -> tuple[str, int]:
        data = Path(source).read_bytes()
        return self.put(data), len(data)

    def get(self, digest: str) -> bytes:
        try:
            data: Any = self.fs.cat_file(self.key(digest))
        except FileNotFoundError as exc:
            raise NotFoundError(f"object {digest[:12]} is missing from {self.url}") from exc
        return bytes(data)

    def open(self, digest: str) -> IO[bytes]:
        try:
            handle: IO[bytes] = self.fs.open(self.key(digest), "rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"object {digest[:12]} is missing from {self.url}") from exc
        return handle
