"""One database connection, for SQLite or PostgreSQL, with the same SQL.

Statements are written once with ``?`` placeholders and portable types; the
:class:`Dialect` rewrites the few spots that differ (placeholders, BLOB, serial
keys, upserts are standard on both). SQLite runs in WAL mode with a busy
timeout, and every write transaction starts ``BEGIN IMMEDIATE`` and is retried
while another process holds the write lock, so many writers never fail on a lock.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepstone.errors import LabError

LOCK_RETRY_SECONDS = 120.0


@dataclass(frozen=True)
class Dialect:
    """What differs between the two backends."""

    name: str
    blob: str
    serial_pk: str
    placeholder: str

    def sql(self, statement: str) -> str:
        """Rewrite a portable statement (``?`` placeholders, ``{blob}``, ``{serial_pk}``)."""
        out = statement.replace("{blob}", self.blob).replace("{serial_pk}", self.serial_pk)
        if self.placeholder != "?":
            out = out.replace("?", self.placeholder)
        return out


SQLITE = Dialect("sqlite", "BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT", "?")
POSTGRES = Dialect("postgresql", "BYTEA", "BIGSERIAL PRIMARY KEY", "%s")


def _is_lock_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _folder_writable(folder: str) -> bool:
    """Try it: file modes say nothing for root, and read-only mounts hide behind them."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def describe_write_error(exc: Exception, where: str) -> str:
    """Turn an OS/SQLite write failure into a message that says what to do."""
    text = str(exc).lower()
    read_only = "readonly" in text or "read-only" in text or "permission" in text
    if not read_only and "unable to open" in text:
        read_only = not _folder_writable(where)
    if read_only:
        return f"the lab at {where} is read-only: make it writable or point --lab/STEPSTONE_LAB elsewhere"
    if "full" in text or "no space" in text:
        return f"the disk holding the lab at {where} is full: free some space"
    return f"cannot write to the lab at {where}: {exc}"


class Database:
    """A connection to a lab's database; one per thread."""

    def __init__(self, target: str | Path, *, readonly: bool = False) -> None:
        self.target = str(target)
        self.readonly = readonly
        self._local_lock = threading.Lock()
        if self.target.startswith(("postgresql://", "postgres://")):
            self.dialect = POSTGRES
            self._conn = self._connect_postgres()
        else:
            self.dialect = SQLITE
            self._conn = self._connect_sqlite()

    # -- connections ---------------------------------------------------------------
    def _connect_sqlite(self) -> Any:
        path = Path(self.target)
        try:
            if self.readonly:
                conn = sqlite3.connect(
                    f"file:{path}?mode=ro", uri=True, timeout=60, isolation_level=None,
                    check_same_thread=False,
                )
            else:
                conn = sqlite3.connect(
                    path, timeout=60, isolation_level=None, check_same_thread=False
                )
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":  # pragma: no cover - exotic file systems
                    raise LabError(f"cannot put {path} in WAL mode (got {mode})")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise LabError(describe_write_error(exc, str(path.parent))) from exc
        return conn

    def _connect_postgres(self) -> Any:
        try:
            import psycopg
        except ImportError as exc:
            raise LabError(
                "a PostgreSQL store needs psycopg: pip install 'stepstone[postgres]'"
            ) from exc
        try:
            conn = psycopg.connect(self.target, autocommit=True)
        except psycopg.Error as exc:
            raise LabError(f"cannot connect to the team store {self.target}: {exc}") from exc
        return conn

    def close(self) -> None:
        self._conn.close()

    # -- statements ----------------------------------------------------------------
    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        return self._conn.execute(self.dialect.sql(statement), tuple(params))

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        sql = self.dialect.sql(statement)
        if self.dialect is SQLITE:
            self._conn.executemany(sql, rows)
        else:
            with self._conn.cursor() as cur:
                cur.executemany(sql, list(rows))

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.execute(statement, params)
        if cur.description is None:
            return []
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def query_one(self, statement: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(statement, params)
        return rows[0] if rows else None

    def scalar(self, statement: str, params: Sequence[Any] = ()) -> Any:
        row = self.execute(statement, params).fetchone()
        return None if row is None else row[0]

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction, retried while another writer holds the lock."""
        with self._local_lock:
            deadline = time.monotonic() + LOCK_RETRY_SECONDS
            while True:
                try:
                    self._begin()
                    break
                except Exception as exc:
                    if not _is_lock_error(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(random.uniform(0.005, 0.05))
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._commit(deadline)

    def _begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE" if self.dialect is SQLITE else "BEGIN")

    def _commit(self, deadline: float) -> None:
        while True:
            try:
                self._conn.execute("COMMIT")
                return
            except sqlite3.OperationalError as exc:
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    self._conn.execute("ROLLBACK")
                    raise
                time.sleep(random.uniform(0.005, 0.05))

    def tables(self) -> set[str]:
        if self.dialect is SQLITE:
            rows = self.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        else:
            rows = self.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            ).fetchall()
        return {r[0] for r in rows}
