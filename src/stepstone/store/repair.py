"""A damaged local lab: check it (``stepstone doctor``) and copy what is readable into a new
``lab.db`` (``stepstone recover``), keeping the damaged file beside it.

Recovery reads the damaged file read-only, table by table; a table that cannot be read
whole is read row by row in ``rowid`` order, skipping past pages that cannot be read. The
readable rows go to a scratch database with the same tables, rows whose parent row was lost
are left out (a metric chunk of a run whose row is gone), and :func:`~stepstone.store.team.sync`
copies the rest into a new lab at the current schema. The new file then takes the old one's
place; the damaged one is kept as ``lab.db.damaged-<time>``. The objects folder is untouched
(its blobs are named by their content, so the new lab uses them as they are).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepstone.errors import LabError
from stepstone.store.db import Database
from stepstone.store.lab import Lab
from stepstone.store.migrations import migrate
from stepstone.store.target import DB_NAME, OBJECTS_DIRNAME, StoreTarget
from stepstone.store.team import _order, _quote, describe_tables, sync

_SIDE_FILES = ("-wal", "-shm")
_PROBES = 48  # rowid probes past an unreadable spot before a table is given up (2**48 ids)


@dataclass(frozen=True)
class Health:
    """What ``doctor`` found in a lab's ``lab.db``: no problems means it is sound."""

    path: Path
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "ok": self.ok, "problems": list(self.problems)}


def check_lab(root: Path) -> Health:
    """SQLite's integrity check of ``root/lab.db`` (read-only; the file is not changed)."""
    path = root / DB_NAME
    if not path.exists():
        return Health(path, (f"{path} does not exist",))
    if path.stat().st_size == 0:
        return Health(path, ("the file is empty (0 bytes): the lab was truncated",))
    try:
        conn = _read_only(path)
        try:
            rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(50)").fetchall()]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return Health(path, (str(exc),))
    return Health(path, () if rows == ["ok"] else tuple(rows))


@dataclass
class Recovery:
    """What ``recover`` did: per table, the rows copied and the rows lost (spots that could
    not be read, and rows left out because the row they belong to was lost); the tables that
    could not be read at all; where the damaged file went."""

    kept: Path
    copied: dict[str, int] = field(default_factory=dict)
    lost: dict[str, int] = field(default_factory=dict)
    unreadable_tables: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"kept": str(self.kept), "copied": self.copied, "lost": self.lost,
                "unreadable_tables": self.unreadable_tables}


def recover_lab(root: Path) -> Recovery:
    """Replace ``root/lab.db`` by a new lab holding every readable row of it; keep the old
    file (and its write-ahead log) as ``lab.db.damaged-<time>``."""
    path = root / DB_NAME
    if not path.exists():
        raise LabError(f"{path} does not exist: there is nothing to recover")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = root / f".recover-{stamp}"
    work.mkdir()
    try:
        recovery = Recovery(kept=root / f"{DB_NAME}.damaged-{stamp}")
        scratch = work / "readable.db"
        _salvage(path, scratch, recovery)
        fresh = work / DB_NAME
        new = Database(fresh)
        try:
            migrate(new)
            _copy(scratch, new, root / OBJECTS_DIRNAME)
        finally:
            new.close()
        for suffix in ("", *_SIDE_FILES):
            old = path.with_name(DB_NAME + suffix)
            if old.exists():
                os.replace(old, recovery.kept.with_name(recovery.kept.name + suffix))
        os.replace(fresh, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return recovery


def _read_only(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)


def _salvage(path: Path, scratch: Path, recovery: Recovery) -> None:
    """Every readable row of every table of ``path``, into ``scratch`` (same tables, no
    indexes or triggers); then the rows whose parent row was lost are dropped."""
    out = sqlite3.connect(scratch, isolation_level=None)
    out.execute("PRAGMA journal_mode=WAL")  # writes the header: never a 0-byte file
    try:
        src = _read_only(path) if path.stat().st_size else None
        tables: list[tuple[str, str]] = []
        if src is not None:
            try:
                ordinary = _ordinary_tables(path)  # a full-text index is rebuilt, not copied
                tables = [(str(n), str(s)) for n, s in src.execute(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' AND sql IS NOT NULL").fetchall()
                    if n in ordinary]
            except (sqlite3.DatabaseError, LabError):
                recovery.unreadable_tables.append("sqlite_master")
        for name, sql in tables:
            out.execute(sql)
            assert src is not None
            count = 0
            out.execute("BEGIN")
            for row in _readable_rows(src, name, recovery):
                marks = ", ".join("?" for _ in row)
                out.execute(f"INSERT OR IGNORE INTO {_quote(name)} VALUES ({marks})", row)
                count += 1
            out.execute("COMMIT")
            recovery.copied[name] = count
        if src is not None:
            src.close()
    finally:
        out.close()
    scratch_db = Database(scratch)
    try:
        _drop_orphans(scratch_db, recovery)
    finally:
        scratch_db.close()


def _ordinary_tables(path: Path) -> set[str]:
    db = Database(path, readonly=True)
    try:
        return db.tables()
    finally:
        db.close()


def _readable_rows(src: sqlite3.Connection, table: str,
                   recovery: Recovery) -> Iterator[tuple[Any, ...]]:
    """The rows of ``table`` that can be read: all at once, else one by one in rowid order,
    probing ever further past a spot that cannot be read."""
    name = _quote(table)
    try:
        yield from src.execute(f"SELECT * FROM {name}").fetchall()
        return
    except sqlite3.DatabaseError:
        pass
    last: int | None = None
    misses = 0
    while misses < _PROBES:
        after = -(2**63) if last is None else last
        try:
            row = src.execute(f"SELECT rowid, * FROM {name} WHERE rowid > ? ORDER BY rowid "
                              "LIMIT 1", (after,)).fetchone()
        except sqlite3.DatabaseError:
            recovery.lost[table] = recovery.lost.get(table, 0) + 1
            last = (0 if last is None else last) + 2**misses
            misses += 1
            continue
        if row is None:
            return
        misses = 0
        last = int(row[0])
        yield tuple(row[1:])
    recovery.unreadable_tables.append(table)


def _drop_orphans(db: Database, recovery: Recovery) -> None:
    """Rows that point at a row that was lost cannot go into a lab with foreign keys."""
    tables = describe_tables(db)
    for info in _order(tables):
        for col, parent, pcol in info.fks:
            if parent not in tables:
                continue
            with db.transaction():
                cur = db.execute(
                    f"DELETE FROM {_quote(info.name)} WHERE {_quote(col)} IS NOT NULL AND "
                    f"{_quote(col)} NOT IN (SELECT {_quote(pcol)} FROM {_quote(parent)} "
                    f"WHERE {_quote(pcol)} IS NOT NULL)")
            if cur.rowcount > 0:
                recovery.lost[info.name] = recovery.lost.get(info.name, 0) + cur.rowcount
                recovery.copied[info.name] = recovery.copied.get(info.name, 0) - cur.rowcount


def _copy(scratch: Path, new: Database, objects: Path) -> None:
    """The scratch rows into the new lab, by :func:`sync` (which orders tables by their keys
    and renumbers what needs it); both sides use the lab's own objects folder."""
    source_db = Database(scratch)
    try:
        with source_db.transaction():  # sync wants the same schema version on both sides
            if source_db.has_table("schema_migrations"):
                source_db.execute("DELETE FROM schema_migrations")
            else:
                source_db.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY,"
                                  " name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)")
            source_db.executemany(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                [tuple(r.values()) for r in new.query(
                    "SELECT version, name, applied_at FROM schema_migrations")])
        source = Lab(None, source_db, StoreTarget(str(scratch), str(objects), None))
        dest = Lab(None, new, StoreTarget(new.target, str(objects), None))
        sync(source, dest)
    finally:
        source_db.close()
