"""``wandb.Artifact``: files logged with ``run.log_artifact`` become objects of the run;
``use_artifact`` and ``Api().artifact`` read a logged version back (:class:`StoredArtifact`).

Each file is stored once in the lab's content-addressed object store (a checkpoint
logged ten times unchanged takes the space of one) and linked to the run with role
``artifact`` under ``<artifact name>:v<N>/<path>``; a manifest (type, description,
metadata, aliases, logging time, and each file's hash and size) is linked with role
``artifact-manifest`` under ``<artifact name>:v<N>``. ``N`` is numbered across the lab, and a
reference (``name:latest``, ``name:v3``, ``name:best``) picks a version by the rule in
:mod:`stepstone.store.artifacts`. Files are read when the artifact is logged, not when they
are added, so add and log them together (as the Hugging Face and Lightning loggers do).
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from stepstone.errors import NotFoundError, UsageError
from stepstone.sdk.media import Media
from stepstone.store.artifacts import (
    FILE_ROLE,
    INPUT_ROLE,
    MANIFEST_ROLE,
    NAME,
    NOT_HERE,
    file_tag,
    tag,
)
from stepstone.store.objects import file_digest

if TYPE_CHECKING:
    from stepstone.store.artifacts import ArtifactVersion
    from stepstone.store.objects import ObjectStore

ObjectRow = tuple[str, str, str, int]  # role, name, hash, size: an "object" op's payload


class Artifact:
    """A named, typed set of files (``wandb.Artifact(name, type)``) with ``add_file``,
    ``add_dir``, ``new_file``, ``add`` (a Table or other media) and ``add_reference``."""

    def __init__(self, name: str, type: str, description: str | None = None,
                 metadata: dict[str, Any] | None = None, incremental: bool = False,
                 use_as: str | None = None, **_: Any) -> None:
        if not isinstance(name, str) or not NAME.match(name):
            raise UsageError(f"artifact name {name!r}: use letters, digits, '-', '_' and '.'")
        self.name = name
        self.type = str(type)
        self.description = description
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.aliases: list[str] = []
        self.version: str | None = None  # "v0", "v1"... once logged
        self._files: dict[str, Path] = {}
        self._blobs: dict[str, bytes] = {}
        self._references: dict[str, str] = {}
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._manifest: ObjectRow | None = None  # its manifest's row, once logged

    def add_file(self, local_path: str | Path, name: str | None = None, is_tmp: bool = False,
                 skip_cache: bool | None = None, policy: str | None = None,
                 overwrite: bool = False) -> None:
        """Add one file, under ``name`` (default: its file name)."""
        path = Path(local_path)
        if not path.is_file():
            raise UsageError(f"cannot add {path} to artifact {self.name!r}: it is not a file")
        self._files[_entry(name or path.name)] = path

    def add_dir(self, local_path: str | Path, name: str | None = None,
                skip_cache: bool | None = None, policy: str | None = None,
                merge: bool = False) -> None:
        """Add every file under a folder, under ``name/`` (default: at the top)."""
        folder = Path(local_path)
        if not folder.is_dir():
            raise UsageError(f"cannot add {folder} to artifact {self.name!r}: it is not a folder")
        prefix = f"{_entry(name)}/" if name else ""
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self._files[prefix + path.relative_to(folder).as_posix()] = path

    @contextmanager
    def new_file(self, name: str, mode: str = "x",
                 encoding: str | None = None) -> Iterator[IO[Any]]:
        """Open a new file of the artifact for writing (``with artifact.new_file("a.txt")``)."""
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="stepstone-artifact-")
        path = Path(self._scratch.name) / f"{len(self._blobs) + len(self._files)}"
        with open(path, mode.replace("x", "w"), encoding=encoding) as handle:
            yield handle
        self._blobs[_entry(name)] = path.read_bytes()
        path.unlink()

    def add(self, obj: Media, name: str) -> None:
        """Add a Table, Histogram or Image, stored as ``name`` plus its suffix."""
        if not isinstance(obj, Media):
            raise UsageError(f"artifact.add takes a Table, Histogram or Image, not "
                             f"{type(obj).__name__}; add files with add_file")
        self._blobs[_entry(name) + obj.suffix] = obj.encode()

    def add_reference(self, uri: str, name: str | None = None, checksum: bool = True,
                      max_objects: int | None = None) -> None:
        """Record a link to data stored elsewhere (kept in the manifest, not copied)."""
        self._references[_entry(name or str(uri).rstrip("/").rsplit("/", 1)[-1])] = str(uri)

    def save(self, *_: Any, **__: Any) -> None:
        """Nothing to do: an artifact is stored when it is logged."""

    def wait(self, timeout: int | None = None) -> Artifact:
        """Nothing to wait for: logging stores the files before it returns."""
        return self

    def store(self, objects: ObjectStore, version: int,
              aliases: Sequence[str] = ()) -> list[ObjectRow]:
        """Put every file in ``objects``; return the rows that link them (and the manifest)
        to a run as version ``version``."""
        tagged = tag(self.name, version)
        rows: list[ObjectRow] = []
        files: dict[str, dict[str, Any]] = {}
        for entry, path in self._files.items():
            if not path.is_file():
                raise UsageError(f"cannot log artifact {self.name!r}: {path} is gone "
                                 "(log an artifact right after adding its files)")
            digest, size = objects.put_file(path)
            files[entry] = {"hash": digest, "size": size}
            rows.append((FILE_ROLE, file_tag(tagged, entry), digest, size))
        for entry, data in self._blobs.items():
            digest = objects.put(data)
            files[entry] = {"hash": digest, "size": len(data)}
            rows.append((FILE_ROLE, file_tag(tagged, entry), digest, len(data)))
        self.version, self.aliases = f"v{version}", list(aliases)
        manifest = json.dumps({
            "name": self.name, "version": self.version, "type": self.type,
            "description": self.description, "metadata": self.metadata,
            "aliases": self.aliases, "files": files, "references": self._references,
            "logged_at": time.time(),
        }, default=str, sort_keys=True).encode()
        self._manifest = (MANIFEST_ROLE, tagged, objects.put(manifest), len(manifest))
        rows.append(self._manifest)
        return rows

    def input_row(self) -> ObjectRow:
        """The row that records, in a run that uses this logged artifact, that it did."""
        if self._manifest is None:
            raise UsageError(f"artifact {self.name!r} is not logged: log it with "
                             "run.log_artifact(artifact) first, or use a logged one by name")
        return (INPUT_ROLE, *self._manifest[1:])

    def __repr__(self) -> str:
        files = len(self._files) + len(self._blobs)
        return f"<Artifact {self.name} type={self.type} files={files}>"


def as_artifact(value: Artifact | str | Path, name: str | None, type: str | None) -> Artifact:
    """``log_artifact``'s first argument as an Artifact: one already made, or a file or
    folder path (named after it, type ``unspecified``, as wandb does)."""
    if isinstance(value, Artifact):
        return value
    if not isinstance(value, (str, Path)):
        raise UsageError(
            f"log_artifact takes an Artifact or a path, not {value.__class__.__name__}")
    path = Path(value)
    artifact = Artifact(name or re.sub(r"[^A-Za-z0-9_.\-]", "-", path.name) or "artifact",
                        type or "unspecified")
    if path.is_dir():
        artifact.add_dir(path)
    else:
        artifact.add_file(path)
    return artifact



def _entry(name: str) -> str:
    """A file's path inside an artifact: relative, with ``/`` separators, no ``..``."""
    parts = [p for p in str(name).replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise UsageError(f"{name!r} is not a file name inside an artifact")
    return "/".join(parts)


class StoredArtifact:
    """A logged artifact version read back from the lab, as wandb's used artifact: what
    ``run.use_artifact`` and ``Api().artifact`` return.

    ``name`` (``model:v3``, as wandb's), ``version``, ``type``, ``description``, ``metadata``,
    ``aliases`` (those it holds now, ``latest`` included), ``run_id`` (the run that logged
    it), :meth:`files`, :meth:`get_path`, :meth:`download` and :meth:`file`. Files are copied
    from the lab's object store, each checked against its hash on the way.
    """

    def __init__(self, version: ArtifactVersion, objects: ObjectStore) -> None:
        self._version = version
        self._objects = objects
        self.name = f"{version.name}:{version.version}"
        self.version = version.version
        self.type = version.type
        self.description: str | None = version.manifest.get("description")
        self.metadata: dict[str, Any] = dict(version.manifest.get("metadata") or {})
        self.aliases = list(version.aliases)
        self.project = version.project
        self.run_id = version.run_id
        self.references: dict[str, str] = dict(version.manifest.get("references") or {})

    @property
    def size(self) -> int:
        return sum(int(f["size"]) for f in self._version.files.values())

    def files(self, names: Sequence[str] | None = None,
              per_page: int | None = None) -> list[ArtifactEntry]:
        """The artifact's files (those ``names`` only, when given), by path."""
        wanted = None if names is None else set(names)
        return [ArtifactEntry(self, path, entry["hash"], int(entry["size"]))
                for path, entry in sorted(self._version.files.items())
                if wanted is None or path in wanted]

    def get_path(self, name: str) -> ArtifactEntry:
        """The file at path ``name`` in the artifact, to ``download()``."""
        entry = self._version.files.get(name)
        if entry is None:
            paths = sorted(self._version.files)
            raise NotFoundError(f"artifact {self.name} has no file {name!r}: it has "
                                f"{', '.join(paths[:20])}{' ...' if len(paths) > 20 else ''}")
        return ArtifactEntry(self, name, entry["hash"], int(entry["size"]))

    get_entry = get_path

    def default_root(self) -> Path:
        """Where :meth:`download` writes by default: ``./artifacts/<name>:<version>``."""
        return Path("artifacts").resolve() / self.name

    def download(self, root: str | Path | None = None, allow_missing_references: bool = False,
                 skip_cache: bool | None = None, path_prefix: str | None = None,
                 multipart: bool | None = None) -> str:
        """Write the artifact's files under ``root`` (default :meth:`default_root`) and return
        that folder's absolute path. A file already there with the right content is kept;
        other files there are left alone. References (``add_reference``) point outside the
        lab and are not fetched: an artifact with any is refused unless
        ``allow_missing_references``."""
        if self.references and not allow_missing_references:
            raise UsageError(
                f"artifact {self.name} references {', '.join(sorted(self.references.values()))}"
                f", which is not in the lab ({NOT_HERE}): pass allow_missing_references=True "
                "to download the files it holds")
        folder = (Path(root) if root is not None else self.default_root()).resolve()
        for entry in self.files():
            if path_prefix is None or entry.path.startswith(path_prefix):
                entry.download(folder)
        folder.mkdir(parents=True, exist_ok=True)
        return str(folder)

    def file(self, root: str | Path | None = None) -> str:
        """Download a one-file artifact; return the file's path."""
        entries = self.files()
        if len(entries) != 1:
            raise UsageError(f"artifact {self.name} has {len(entries)} files, not one: use "
                             "download() for them all or get_path(NAME).download() for one")
        return entries[0].download(root)

    def input_row(self) -> ObjectRow:
        """The row that records, in a run that uses this version, that it did."""
        return (INPUT_ROLE, self.name, self._version.manifest_hash, self._version.size)

    def __repr__(self) -> str:
        return f"<Artifact {self.name} type={self.type} files={len(self._version.files)}>"


class ArtifactEntry:
    """One file of a :class:`StoredArtifact`: ``path`` (also ``name``), ``digest`` (its
    sha256), ``size``, and :meth:`download`."""

    def __init__(self, artifact: StoredArtifact, path: str, digest: str, size: int) -> None:
        self._artifact = artifact
        self.path = self.name = path
        self.digest = digest
        self.size = size

    def download(self, root: str | Path | None = None, skip_cache: bool | None = None) -> str:
        """Write the file under ``root`` (default the artifact's :meth:`StoredArtifact.
        default_root`) at its path in the artifact; return where it is."""
        base = (Path(root) if root is not None else self._artifact.default_root()).resolve()
        dest = (base / self.path).resolve()
        if base not in dest.parents:
            raise UsageError(f"artifact {self._artifact.name}'s file {self.path!r} would leave "
                             f"{base}: it is not downloaded")
        if not (dest.is_file() and file_digest(dest) == self.digest):
            self._artifact._objects.copy_to(self.digest, dest)
        return str(dest)

    def __repr__(self) -> str:
        return f"<ArtifactEntry {self.path} ({self.size} bytes)>"
