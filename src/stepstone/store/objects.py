"""A content-addressed blob store: code snapshots, logs, diffs, artifacts.

A blob lives at ``objects/<first two hex>/<sha256>``, written to a temporary
file and renamed into place, so a reader never sees half a blob and the same
content is stored once however often it is put.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from stepstone.errors import LabError, NotFoundError
from stepstone.store.db import Database, describe_write_error

_HEX = set("0123456789abcdef")


@dataclass(frozen=True)
class RunObject:
    """A blob attached to a run: its ``role`` (``artifact``, ``log``, ``media``, ...), its name
    there, and its hash in the object store."""

    role: str
    name: str
    hash: str

    def to_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


class ObjectStore:
    """Blobs by sha256 under one folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, digest: str) -> Path:
        if len(digest) != 64 or not set(digest) <= _HEX:
            raise NotFoundError(f"{digest!r} is not an object id (64 hex characters)")
        return self.root / digest[:2] / digest

    def exists(self, digest: str) -> bool:
        return self.path(digest).exists()

    def put(self, data: bytes) -> str:
        """Store ``data``; return its sha256 hex digest."""
        digest = hashlib.sha256(data).hexdigest()
        if self.path(digest).exists():
            return digest
        return self._write([data])[0]

    def put_file(self, source: str | Path) -> tuple[str, int]:
        """Store a file's content, read in pieces (a checkpoint need not fit in memory);
        return its sha256 hex digest and size."""
        try:
            with open(source, "rb") as src:
                return self._write(iter(lambda: src.read(1 << 20), b""))
        except OSError as exc:
            raise LabError(describe_write_error(exc, str(self.root))) from exc

    def _write(self, pieces: Iterable[bytes]) -> tuple[str, int]:
        """Write ``pieces`` to a temporary file beside the objects, synced, then move it to
        its content's name (or drop it when that object is there already): a reader never
        sees half an object. Returns the sha256 hex digest and the size."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
            try:
                digest, size = hashlib.sha256(), 0
                with os.fdopen(fd, "wb") as fh:
                    for piece in pieces:
                        digest.update(piece)
                        fh.write(piece)
                        size += len(piece)
                    fh.flush()
                    os.fsync(fh.fileno())
                target = self.path(digest.hexdigest())
                if target.exists():
                    Path(tmp).unlink()
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise LabError(describe_write_error(exc, str(self.root))) from exc
        return digest.hexdigest(), size

    def get(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError(f"object {digest[:12]} is missing from {self.root}") from exc

    def open(self, digest: str) -> IO[bytes]:
        """The object's content, to read in pieces."""
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError as exc:
            raise NotFoundError(f"object {digest[:12]} is missing from {self.root}") from exc

    def copy_to(self, digest: str, dest: Path) -> None:
        """Write object ``digest`` to the file ``dest`` (its folder made), read in pieces and
        checked against its hash on the way: ``dest`` appears whole and right, or not at all
        (a damaged object is a LabError and leaves ``dest`` as it was)."""
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
        except OSError as exc:
            raise LabError(describe_write_error(exc, str(dest.parent))) from exc
        try:
            sha = hashlib.sha256()
            with self.open(digest) as src, os.fdopen(fd, "wb") as out:
                for piece in iter(lambda: src.read(1 << 20), b""):
                    sha.update(piece)
                    out.write(piece)
            if sha.hexdigest() != digest:
                raise LabError(f"object {digest[:12]} in {self.root} is damaged (its content no "
                               "longer matches its hash): it cannot be read back")
            os.replace(tmp, dest)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise LabError(describe_write_error(exc, str(dest.parent))) from exc
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def file_digest(path: Path) -> str:
    """The sha256 hex digest of a file's content, read in pieces."""
    sha = hashlib.sha256()
    with open(path, "rb") as src:
        for piece in iter(lambda: src.read(1 << 20), b""):
            sha.update(piece)
    return sha.hexdigest()


class ObjectIndex:
    """Statements on ``objects`` and ``run_objects``: which blobs exist, which run uses which."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, digest: str, size: int) -> None:
        """Register a stored blob, inside the caller's transaction."""
        self.db.execute(
            "INSERT INTO objects (hash, size, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (hash) DO NOTHING",
            (digest, size, time.time()),
        )

    def add(self, run_id: str, objects: Iterable[tuple[str | None, str, str, int]]) -> None:
        """Record blobs ``(role, name, digest, size)`` and link those with a role to the run,
        inside the caller's transaction. Shared rows are recorded in one order (by digest) for
        every caller, so two runs storing the same blobs at once never deadlock."""
        objects = list(objects)
        for digest, size in sorted({(o[2], o[3]) for o in objects}):
            self.record(digest, size)
        for role, name, digest, _size in objects:
            if role is not None:
                self.attach(run_id, role, name, digest)

    def attach(self, run_id: str, role: str, name: str, digest: str) -> None:
        """Link a blob to a run under (role, name), inside the caller's transaction."""
        self.db.execute(
            "INSERT INTO run_objects (run_id, role, name, hash) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (run_id, role, name) DO UPDATE SET hash = excluded.hash",
            (run_id, role, name, digest),
        )

    def of_run(self, run_id: str, role: str | None = None) -> list[RunObject]:
        sql = "SELECT role, name, hash FROM run_objects WHERE run_id = ?"
        params: list[object] = [run_id]
        if role:
            sql += " AND role = ?"
            params.append(role)
        return [RunObject(r["role"], r["name"], r["hash"])
                for r in self.db.query(sql + " ORDER BY role, name", params)]

    def find(self, run_id: str, role: str, name: str) -> str | None:
        row = self.db.query_one(
            "SELECT hash FROM run_objects WHERE run_id = ? AND role = ? AND name = ?",
            (run_id, role, name),
        )
        return None if row is None else str(row["hash"])
