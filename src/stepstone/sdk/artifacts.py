"""``wandb.Artifact``: files logged with ``run.log_artifact`` become objects of the run.

Each file is stored once in the lab's content-addressed object store (a checkpoint
logged ten times unchanged takes the space of one) and linked to the run with role
``artifact`` under ``<artifact name>:v<N>/<path>``; a manifest (type, description,
metadata, aliases, and each file's hash and size) is linked with role
``artifact-manifest`` under ``<artifact name>:v<N>``. ``N`` counts the versions of
that name the run logged (a resumed run goes on from the versions it has). Files are
read when the artifact is logged, not when they are added, so add and log them together
(as the Hugging Face and Lightning loggers do).
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from stepstone.errors import UsageError
from stepstone.sdk.media import Media

if TYPE_CHECKING:
    from stepstone.store.objects import ObjectStore

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")

ObjectRow = tuple[str, str, str, int]  # role, name, hash, size: an "object" op's payload


class Artifact:
    """A named, typed set of files (``wandb.Artifact(name, type)``) with ``add_file``,
    ``add_dir``, ``new_file``, ``add`` (a Table or other media) and ``add_reference``."""

    def __init__(self, name: str, type: str, description: str | None = None,
                 metadata: dict[str, Any] | None = None, incremental: bool = False,
                 use_as: str | None = None, **_: Any) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
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
        tag = f"{self.name}:v{version}"
        rows: list[ObjectRow] = []
        files: dict[str, dict[str, Any]] = {}
        for entry, path in self._files.items():
            if not path.is_file():
                raise UsageError(f"cannot log artifact {self.name!r}: {path} is gone "
                                 "(log an artifact right after adding its files)")
            digest, size = objects.put_file(path)
            files[entry] = {"hash": digest, "size": size}
            rows.append(("artifact", f"{tag}/{entry}", digest, size))
        for entry, data in self._blobs.items():
            digest = objects.put(data)
            files[entry] = {"hash": digest, "size": len(data)}
            rows.append(("artifact", f"{tag}/{entry}", digest, len(data)))
        self.version, self.aliases = f"v{version}", list(aliases)
        manifest = json.dumps({
            "name": self.name, "version": self.version, "type": self.type,
            "description": self.description, "metadata": self.metadata,
            "aliases": self.aliases, "files": files, "references": self._references,
        }, default=str, sort_keys=True).encode()
        rows.append(("artifact-manifest", tag, objects.put(manifest), len(manifest)))
        return rows

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
