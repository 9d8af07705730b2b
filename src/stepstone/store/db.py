"""One database connection, for SQLite or PostgreSQL, with the same SQL.

Statements are written once with ``?`` placeholders and portable types; the
:class:`Dialect` rewrites the few spots that differ (placeholders, BLOB, serial
keys, upserts are standard on both). SQLite runs in WAL mode with a busy
timeout, and every write transaction starts ``BEGIN IMMEDIATE`` and is retried
while another process holds the write lock, so many writers never fail on a lock.

On PostgreSQL (a ``postgresql://`` target, psycopg 3) the connection is in
autocommit mode and :meth:`Database.transaction` issues ``BEGIN``/``COMMIT``
itself; ``INTEGER`` columns become ``BIGINT`` (SQLite integers are 64-bit), ``LIKE``
becomes ``ILIKE`` (SQLite's LIKE ignores ASCII case) and a literal ``%`` is escaped.
:meth:`Database.atomic` re-runs a whole transaction after a deadlock or a
serialization failure.
"""

from __future__ import annotations

import functools
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from stepstone.errors import LabError, StoreUnreachableError

LOCK_RETRY_SECONDS = 120.0
T = TypeVar("T")
# PostgreSQL errors after which the whole transaction can simply be tried again:
# serialization failure, deadlock detected, lock not available
_PG_RETRY_STATES = {"40001", "40P01", "55P03"}
_DDL = re.compile(r"^\s*(CREATE|ALTER)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Dialect:
    """What differs between the two backends."""

    name: str
    blob: str
    serial_pk: str
    placeholder: str

    def sql(self, statement: str) -> str:
        """Rewrite a portable statement (``?`` placeholders, ``{blob}``, ``{serial_pk}``)."""
        return _rewrite(self, statement)


@functools.lru_cache(maxsize=4096)
def _rewrite(dialect: Dialect, statement: str) -> str:
    out = statement.replace("{blob}", dialect.blob).replace("{serial_pk}", dialect.serial_pk)
    if dialect.name == "postgresql":
        if _DDL.match(out):  # an INTEGER is 64-bit on SQLite: keep it so
            out = re.sub(r"\bINTEGER\b", "BIGINT", out, flags=re.IGNORECASE)
        out = re.sub(r"\bLIKE\b", "ILIKE", out)  # SQLite's LIKE ignores ASCII case
        out = out.replace("%", "%%")
    if dialect.placeholder != "?":
        out = out.replace("?", dialect.placeholder)
    return out


SQLITE = Dialect("sqlite", "BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT", "?")
POSTGRES = Dialect("postgresql", "BYTEA", "BIGSERIAL PRIMARY KEY", "%s")


def _is_lock_error(exc: Exception) -> bool:
    if getattr(exc, "sqlstate", None) in _PG_RETRY_STATES:
        return True
    if not isinstance(exc, sqlite3.Error):
        return False
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def is_postgres_url(target: str | Path) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) store URL."""
    return str(target).startswith(("postgresql://", "postgres://"))


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages."""
    return re.sub(r"^(\w+://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _folder_writable(folder: str) -> bool:
    """Try it: file modes say nothing for root, and read-only mounts hide behind them."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def first_line(exc: BaseException) -> str:
    """An exception's message on one line: the driver's first (libpq goes on over more,
    "This probably means the server terminated abnormally ..."), or the exception's name."""
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def describe_write_error(exc: Exception, where: str) -> str:
    """Turn an OS/SQLite/PostgreSQL write failure into a one-line message that says what to
    do."""
    if isinstance(exc, LabError):  # said already
        return str(exc)
    text = str(exc).lower()
    read_only = "readonly" in text or "read-only" in text or "permission" in text
    if not read_only and "unable to open" in text:
        read_only = not _folder_writable(where)
    if read_only:
        return (f"the lab at {where} is read-only: make it writable or point --lab / "
                "STEPSTONE_LAB elsewhere")
    if "full" in text or "no space" in text:
        return f"the disk holding the lab at {where} is full ({first_line(exc)}): free some space"
    if is_damage(exc):
        return damaged_message(where, exc)
    return f"cannot write to the lab at {where}: {first_line(exc)}"


def is_damage(exc: BaseException) -> bool:
    """A SQLite error that means the file itself is damaged (not a lock, a full disk or a
    read-only folder): garbage where pages should be, or not a database at all."""
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(
            exc, (sqlite3.OperationalError, sqlite3.IntegrityError)):
        return False
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def damaged_message(where: str, exc: BaseException | None = None) -> str:
    """What to say about a damaged lab, and how to recover it."""
    why = f" ({exc})" if exc is not None else ""
    return (f"the lab at {where} is damaged{why}: run `stepstone doctor` to check it, then "
            "`stepstone recover` to copy what is readable into a new lab (the damaged file "
            "is kept)")


def refuses_batch(exc: BaseException) -> bool:
    """A write failure caused by what was written (a value the database cannot hold, a
    broken constraint, a type it cannot take), which writing it again cannot cure; anything
    else (a lock, a full or read-only disk, a server or network gone, a damaged file) may
    pass, and the data is kept for the next try."""
    if isinstance(exc, (OverflowError, TypeError, ValueError)):
        return True
    if isinstance(exc, sqlite3.Error):
        return isinstance(exc, (sqlite3.IntegrityError, sqlite3.DataError,
                                sqlite3.InterfaceError, sqlite3.ProgrammingError))
    names = {cls.__name__ for cls in type(exc).__mro__}  # psycopg's classes, by name
    return ("DataError" in names or "IntegrityError" in names
            or type(exc).__name__ == "ProgrammingError")  # a value psycopg cannot adapt


def _raise_if_damaged(exc: sqlite3.DatabaseError, where: Path) -> None:
    """Turn SQLite's "database disk image is malformed" into a LabError that says what to do."""
    if is_damage(exc):
        raise LabError(damaged_message(str(where), exc)) from exc
def lab_writable(path: str | Path) -> bool:
    """Whether this process can write the SQLite lab file ``path`` and its folder (WAL mode
    needs both); tried, not read from file modes (root, read-only mounts)."""
    return _folder_writable(str(Path(path).parent)) and os.access(path, os.W_OK)


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection, also to a lab that cannot be written at all: WAL mode needs
    its ``-shm`` file, which a read-only folder or mount cannot hold; with no ``-wal`` file
    left (every write checkpointed), the file is all there is and opens immutable."""
    def connect(flags: str) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{quote(str(path))}?{flags}", uri=True, timeout=60,
                               isolation_level=None, check_same_thread=False)

    conn = connect("mode=ro")
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        wal = Path(f"{path}-wal")
        if "unable to open" not in str(exc) or (wal.exists() and wal.stat().st_size > 0):
            conn.close()
            raise
        conn.close()
    return connect("mode=ro&immutable=1")


class Database:
    """A connection to a lab's database; one per thread."""

    def __init__(self, target: str | Path, *, readonly: bool = False) -> None:
        self.target = str(target)
        self.readonly = readonly
        self._local_lock = threading.Lock()
        if is_postgres_url(self.target):
            self.dialect = POSTGRES
            self._conn = self._connect_postgres()
        else:
            self.dialect = SQLITE
            self._conn = self._connect_sqlite()

    # -- connections ---------------------------------------------------------------
    def _connect_sqlite(self) -> Any:
        path = Path(self.target)
        if _emptied(path):
            raise LabError(
                f"{path} is empty (0 bytes): the lab's database was truncated, so it is not "
                "opened (nor replaced by a new lab); restore it from a backup, or run "
                "`stepstone recover` to start a new lab there and keep the empty file aside")
        try:
            if self.readonly:
                conn = _open_read_only(path)
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

    @property
    def _where(self) -> Path:
        return Path(self.target).parent

    def _connect_postgres(self) -> Any:
        try:
            import psycopg
        except ImportError as exc:
            raise LabError(
                "a PostgreSQL store needs psycopg: pip install 'stepstone[postgres]'"
            ) from exc
        options: dict[str, Any] = {"autocommit": True}
        if "connect_timeout" not in self.target:
            options["connect_timeout"] = 10
        if "application_name" not in self.target:
            options["application_name"] = "stepstone"
        try:
            conn = psycopg.connect(self.target, **options)
            text_loader, binary_loader = _number_loaders()
            conn.adapters.register_loader("numeric", text_loader)
            conn.adapters.register_loader("numeric", binary_loader)
            if self.readonly:
                conn.execute("SET default_transaction_read_only = on")
            try:  # pglz makes metric chunks ~10x slower to write; lz4 needs PostgreSQL 14+
                conn.execute("SET default_toast_compression = 'lz4'")
            except psycopg.Error:
                pass
        except psycopg.Error as exc:
            message = first_line(exc)
            raise StoreUnreachableError(
                f"cannot connect to the team store {mask_url(self.target)}: {message}"
            ) from exc
        return conn

    def close(self) -> None:
        self._conn.close()

    def leave_checkpoints(self) -> None:
        """This connection's commits only append to SQLite's write-ahead log: they no longer
        copy it into the database file once it holds 1,000 pages (SQLite's automatic
        checkpoint); :meth:`checkpoint`, on another connection, does that. No-op on
        PostgreSQL."""
        if self.dialect is SQLITE:
            self._conn.execute("PRAGMA wal_autocheckpoint=0")

    def checkpoint(self) -> None:
        """Copy what SQLite's write-ahead log holds into the database file, as far as no reader
        needs the log (a passive checkpoint: it waits for no one). No-op on PostgreSQL."""
        if self.dialect is SQLITE:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def alive(self) -> bool:
        """Whether the connection can be used again: a PostgreSQL server drops its
        connections when it restarts or an administrator ends one (an empty query finds
        out), and one left inside a transaction is not reused; a SQLite file has no server."""
        if self.dialect is SQLITE:
            return True
        import psycopg

        if self._conn.closed or (
                self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE):
            return False
        try:
            self._conn.execute("")
        except psycopg.Error:
            return False
        return True

    @property
    def connection(self) -> Any:
        """The driver's connection (sqlite3 or psycopg), for what only it can do: an
        authorizer, a progress handler, a cursor of one's own (see store.query)."""
        return self._conn

    # -- statements ----------------------------------------------------------------
    def execute(self, statement: str, params: Sequence[Any] = ()) -> Any:
        if self.dialect is SQLITE:
            try:
                return self._conn.execute(self.dialect.sql(statement), tuple(params))
            except sqlite3.DatabaseError as exc:
                _raise_if_damaged(exc, self._where)
                raise
        # binary results: a BYTEA chunk arrives as its bytes, not as hex text to decode
        return self._conn.execute(self.dialect.sql(statement), tuple(params), binary=True)

    def executemany(self, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        sql = self.dialect.sql(statement)
        if self.dialect is SQLITE:
            try:
                self._conn.executemany(sql, rows)
            except sqlite3.DatabaseError as exc:
                _raise_if_damaged(exc, self._where)
                raise
        else:
            with self._conn.cursor() as cur:
                cur.executemany(sql, list(rows))

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cur = self.execute(statement, params)
        if cur.description is None:
            return []
        cols = [d[0] for d in cur.description]
        try:
            rows = cur.fetchall()
        except sqlite3.DatabaseError as exc:
            _raise_if_damaged(exc, self._where)
            raise
        return [dict(zip(cols, row, strict=True)) for row in rows]

    def query_one(self, statement: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.query(statement, params)
        return rows[0] if rows else None

    def scalar(self, statement: str, params: Sequence[Any] = ()) -> Any:
        cur = self.execute(statement, params)
        try:
            row = cur.fetchone()
        except sqlite3.DatabaseError as exc:
            _raise_if_damaged(exc, self._where)
            raise
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
            except BaseException as exc:
                self._rollback()
                self._raise_write_failure(exc)
                raise
            else:
                try:
                    self._commit(deadline)
                except Exception as exc:
                    self._raise_write_failure(exc)
                    raise

    def insert_numbered(self, statement: str, params: Callable[[int], Sequence[Any]],
                        first: int) -> int:
        """Insert a row keyed by a number (``q3``, ``small@2026-11-21.2``, attempt 2), trying
        ``first``, ``first + 1``, ... until one is free; return the number taken. Inside a
        transaction; ``statement`` ends ``ON CONFLICT (key) DO NOTHING``, so a number that
        another writer took meanwhile inserts nothing (on PostgreSQL the insert waits for
        that writer's commit) and the next is tried: concurrent writers never share a number
        nor fail."""
        number = first
        while self.execute(statement, params(number)).rowcount != 1:
            number += 1
        return number

    def _raise_write_failure(self, exc: BaseException) -> None:
        """A SQLite write that failed for the disk's sake (full, read-only, I/O) becomes a
        LabError that says so and what to do; a lock error stays as it is, to be retried."""
        if isinstance(exc, sqlite3.OperationalError) and not _is_lock_error(exc):
            raise LabError(describe_write_error(exc, str(self._where))) from exc

    def atomic(self, work: Callable[[], T]) -> T:
        """Run ``work()`` in a transaction, again after a deadlock or a serialization failure."""
        deadline = time.monotonic() + LOCK_RETRY_SECONDS
        while True:
            try:
                with self.transaction():
                    return work()
            except Exception as exc:
                if not _is_lock_error(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.005, 0.05))

    def _rollback(self) -> None:
        """Roll back what is left of the transaction. Never raises: the error that made the
        transaction fail is the one to report (SQLite ends a transaction itself on a full
        disk, and "cannot rollback - no transaction is active" would hide "disk is full")."""
        if self.dialect is SQLITE and not self._conn.in_transaction:
            return
        try:
            self._conn.execute("ROLLBACK")
        except Exception:  # a broken connection has no transaction left to roll back
            pass

    def _begin(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE" if self.dialect is SQLITE else "BEGIN")

    def _commit(self, deadline: float) -> None:
        while True:
            try:
                self._conn.execute("COMMIT")
                return
            except Exception as exc:
                if self.dialect is not SQLITE or not _is_lock_error(exc) or (
                    time.monotonic() > deadline
                ):
                    self._rollback()
                    raise
                time.sleep(random.uniform(0.005, 0.05))

    def has_table(self, name: str) -> bool:
        """Whether an ordinary table ``name`` exists (one catalogue lookup, not a listing)."""
        if self.dialect is SQLITE:
            sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
        else:
            sql = ("SELECT 1 FROM information_schema.tables"
                   " WHERE table_schema = current_schema() AND table_name = ?")
        return self.query_one(sql, (name,)) is not None

    def tables(self) -> set[str]:
        """The ordinary tables: not a full-text index (an SQLite virtual table) or the
        tables that hold it, which are the index's own business."""
        if self.dialect is SQLITE:
            rows = self.query(
                "SELECT name FROM sqlite_master AS t WHERE type = 'table' AND NOT EXISTS ("
                " SELECT 1 FROM sqlite_master AS v WHERE v.type = 'table'"
                " AND v.sql LIKE 'CREATE VIRTUAL TABLE%'"
                " AND (t.name = v.name OR t.name LIKE v.name || '\\_%' ESCAPE '\\'))"
            )
        else:
            rows = self.query(
                "SELECT table_name AS name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
        return {r["name"] for r in rows}


def _emptied(path: Path) -> bool:
    """A database file that exists with 0 bytes and no write-ahead log beside it: what a
    truncated lab looks like (SQLite would take it for a new, empty database)."""
    try:
        if path.stat().st_size != 0:
            return False
    except OSError:
        return False
    wal = path.with_name(path.name + "-wal")
    return not wal.exists() or wal.stat().st_size == 0


def _number_loaders() -> tuple[Any, Any]:
    """psycopg loaders for ``numeric`` (what SUM and AVG of integers give on PostgreSQL):
    an int when whole, else a float, as SQLite returns them, never a Decimal."""
    from psycopg.types.numeric import NumericBinaryLoader, NumericLoader

    def plain(value: Any) -> Any:
        exponent = value.as_tuple().exponent
        return int(value) if isinstance(exponent, int) and exponent >= 0 else float(value)

    class NumberLoader(NumericLoader):
        def load(self, data: Any) -> Any:
            return plain(super().load(data))

    class NumberBinaryLoader(NumericBinaryLoader):
        def load(self, data: Any) -> Any:
            return plain(super().load(data))

    return NumberLoader, NumberBinaryLoader
