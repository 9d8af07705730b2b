"""Team-store operations: ``sync`` between two labs, and the runs and spools waiting for it.

:func:`sync` copies every table of one lab into another (typically a laptop's
SQLite lab into the team's PostgreSQL store) and every object blob they use,
without duplicates, so that running it twice adds nothing. It knows no table by
name: it reads the tables, keys and foreign keys from the source database, so
tables added by later migrations (notebook pages, plans, ...) are copied too.

- A table keyed by its own values (``runs.id``, ``objects.hash``,
  ``run_configs (run_id, key)``) is upserted: a missing row is inserted, a row
  that differs takes the source's values (the source wins: a laptop's run that
  finished after an earlier sync updates the copy) -- unless the destination's
  run is newer. A run's age is its *clock*: the latest of its last write by its
  writer (``heartbeat_at``), its end (``ended_at``) and its start
  (``created_at``); on equal clocks an ended run is newer than a running one.
  Where the destination's clock is later, its run row is kept, and so are the
  rows keyed by their own values that belong to that run (its config, summary,
  objects by role and name, writer marks): those the destination lacks are
  added, those it has are not changed (counted as ``kept``). So a spool
  synced after its run went on in the lab (the SDK spilled a long outage's
  points, then the lab came back and the run ended there, or was killed, or
  was resumed) brings every point in without setting the run back to the state
  it had when it spilled. Edits by hand (tags, notes) do not move the clock:
  on equal clocks the source wins, as before.
- A table keyed by a generated number (``metric_chunks``, ``eval_records``,
  ...) gets new numbers in the destination, so its rows are matched by content:
  a source row is copied unless an equal row is already there (counted, so
  two equal rows stay two). Foreign keys to such numbers are translated.

Both labs must be at the same schema version. Work is done one run (or one
table) per transaction; an interrupted sync is finished by running it again.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stepstone.errors import NotFoundError, SchemaVersionError, UsageError
from stepstone.store.db import SQLITE, Database
from stepstone.store.migrations import schema_version
from stepstone.store.schema_core import DERIVED_TABLES
from stepstone.store.target import StoreTarget, offline_target, spool_targets

if TYPE_CHECKING:
    from stepstone.store.lab import Lab

_BATCH = 500
_CLOCK = ("heartbeat_at", "ended_at", "created_at")  # a run's clock (see the module's notes)
_ENDED = "ended_at"


# -- introspection --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableInfo:
    """What sync needs to know about one table, read from the database itself."""

    name: str
    columns: tuple[str, ...]
    pk: tuple[str, ...]
    serial: bool  # one generated integer key: rows are matched by content
    fks: tuple[tuple[str, str, str], ...]  # (column, parent table, parent column)


def describe_tables(db: Database) -> dict[str, TableInfo]:
    """Every table of ``db`` except the migration log and the tables triggers keep (a copied
    run updates the destination's counts itself), with its keys."""
    names = sorted(t for t in db.tables()
                   if t != "schema_migrations" and t not in DERIVED_TABLES
                   and not t.startswith("sqlite_"))
    return {name: (_sqlite_table(db, name) if db.dialect is SQLITE else _pg_table(db, name))
            for name in names}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_table(db: Database, name: str) -> TableInfo:
    cols = db.query(f"PRAGMA table_info({_quote(name)})")
    pk = tuple(c["name"] for c in sorted((c for c in cols if c["pk"]), key=lambda c: c["pk"]))
    serial = len(pk) == 1 and any(
        c["name"] == pk[0] and str(c["type"]).upper() == "INTEGER" for c in cols
    )
    fks = []
    for fk in db.query(f"PRAGMA foreign_key_list({_quote(name)})"):
        parent_col = fk["to"]
        if parent_col is None:  # REFERENCES parent without a column: the parent's key
            parent_pk = [c["name"] for c in db.query(f"PRAGMA table_info({_quote(fk['table'])})")
                         if c["pk"]]
            parent_col = parent_pk[0]
        fks.append((fk["from"], fk["table"], parent_col))
    return TableInfo(name, tuple(c["name"] for c in cols), pk, serial, tuple(fks))


def _pg_table(db: Database, name: str) -> TableInfo:
    cols = db.query(
        "SELECT column_name, column_default FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        (name,),
    )
    pk_rows = db.query(
        "SELECT a.attname AS name FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = to_regclass(?) AND i.indisprimary"
        " ORDER BY array_position(i.indkey::int2[], a.attnum)",
        (_quote(name),),
    )
    pk = tuple(r["name"] for r in pk_rows)
    serial = len(pk) == 1 and any(
        c["column_name"] == pk[0] and str(c["column_default"] or "").startswith("nextval(")
        for c in cols
    )
    fk_rows = db.query(
        "SELECT a.attname AS col, pc.relname AS parent, pa.attname AS parent_col"
        " FROM pg_constraint c"
        " CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(child, parent)"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.child"
        " JOIN pg_class pc ON pc.oid = c.confrelid"
        " JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent"
        " WHERE c.contype = 'f' AND c.conrelid = to_regclass(?)",
        (_quote(name),),
    )
    fks = tuple((r["col"], r["parent"], r["parent_col"]) for r in fk_rows)
    return TableInfo(name, tuple(c["column_name"] for c in cols), pk, serial, fks)


def _order(tables: dict[str, TableInfo]) -> list[TableInfo]:
    """Parents before children (foreign keys), then by name."""
    done: list[str] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in seen or name not in tables:
            return
        if name in path:  # a cycle: nothing to order by
            return
        for _col, parent, _pcol in tables[name].fks:
            if parent != name:
                visit(parent, (*path, name))
        seen.add(name)
        done.append(name)

    for name in sorted(tables):
        visit(name, ())
    return [tables[n] for n in done]


# -- the report -----------------------------------------------------------------------------------
@dataclass
class TableCount:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0  # rows of a run the destination holds newer, left as they are there


@dataclass
class SyncReport:
    """What one sync did, per table, and the object blobs it copied."""

    tables: dict[str, TableCount] = field(default_factory=dict)
    objects_copied: int = 0
    objects_present: int = 0
    objects_missing: list[str] = field(default_factory=list)

    @property
    def inserted(self) -> int:
        return sum(t.inserted for t in self.tables.values())

    @property
    def updated(self) -> int:
        return sum(t.updated for t in self.tables.values())

    @property
    def kept(self) -> int:
        return sum(t.kept for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "inserted": self.inserted, "updated": self.updated, "kept": self.kept,
            "objects_copied": self.objects_copied, "objects_present": self.objects_present,
            "objects_missing": self.objects_missing,
            "tables": {name: vars(c) for name, c in self.tables.items()},
        }


# -- sync -----------------------------------------------------------------------------------------
def _norm(value: Any) -> Any:
    """A value as compared across backends: bytes for blobs, NaN equal to NaN, 2.0 == 2."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (float, Decimal)):
        if math.isnan(value):
            return ("nan",)
        if math.isfinite(value) and value == int(value):
            return int(value)
        return float(value)
    return value


def _row_key(row: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(_norm(v) for v in row)


def sync(source: Lab, dest: Lab) -> SyncReport:
    """Copy everything in ``source`` that ``dest`` lacks (see the module's notes)."""
    if source.target.database == dest.target.database:
        raise UsageError(f"the source and the destination are the same store: "
                         f"{source.target.describe()}")
    src_version, dst_version = schema_version(source.db), schema_version(dest.db)
    if src_version != dst_version:
        older = source if src_version < dst_version else dest
        raise SchemaVersionError(
            f"cannot sync a schema v{src_version} lab into a schema v{dst_version} store: "
            f"run `stepstone migrate --lab {older.target.location}` first"
        )
    tables = describe_tables(source.db)
    missing = set(tables) - describe_tables(dest.db).keys()
    if missing:
        raise SchemaVersionError(f"the destination has no table {', '.join(sorted(missing))}: "
                                 "both labs must be made by the same stepstone version")
    report = SyncReport()
    _copy_objects(source, dest, report)
    referenced = {parent for t in tables.values() for _c, parent, _p in t.fks}
    id_maps: dict[str, dict[Any, Any]] = defaultdict(dict)
    newer: dict[str, set[Any]] = defaultdict(set)
    for info in _order(tables):
        count = report.tables[info.name] = TableCount()
        _sync_table(source.db, dest.db, info, tables, info.name in referenced, id_maps, newer,
                    count)
    return report


def _copy_objects(source: Lab, dest: Lab, report: SyncReport) -> None:
    if not source.db.has_table("objects"):
        return
    same = source.target.objects == dest.target.objects
    for row in source.db.query("SELECT hash FROM objects ORDER BY hash"):
        digest = str(row["hash"])
        if same or dest.objects.exists(digest):
            report.objects_present += 1
            continue
        try:
            data = source.objects.get(digest)
        except NotFoundError:
            report.objects_missing.append(digest)
            continue
        dest.objects.put(data)
        report.objects_copied += 1


def _scope(info: TableInfo, tables: dict[str, TableInfo]) -> tuple[str, str] | None:
    """A column that splits the table into small groups, a key of a parent row (a run id),
    and that parent table.

    None for a table that points at itself: its rows go in one group, in key order, so a row
    is always copied after the row it points at."""
    if any(parent == info.name for _c, parent, _p in info.fks):
        return None
    for col, parent, _pcol in info.fks:
        if parent != info.name and parent in tables and not tables[parent].serial:
            return col, parent
    return None


def _clock_of(info: TableInfo) -> list[int] | None:
    """Where a run's clock is in a row of ``info`` (its columns ``_CLOCK``, the ended one
    last), or None for a table whose rows have none."""
    if info.serial or len(info.pk) != 1 or not set(_CLOCK) <= set(info.columns):
        return None
    return [*(info.columns.index(c) for c in _CLOCK if c != _ENDED),
            info.columns.index(_ENDED)]


def _clock(row: Sequence[Any], at: list[int]) -> tuple[float, bool]:
    """A run's clock in ``row``: its latest time, and whether it ended (ties: ended is later)."""
    return (max((float(row[i]) for i in at if row[i] is not None), default=-math.inf),
            row[at[-1]] is not None)


def _sync_table(
    src: Database, dst: Database, info: TableInfo, tables: dict[str, TableInfo],
    referenced: bool, id_maps: dict[str, dict[Any, Any]], newer: dict[str, set[Any]],
    count: TableCount,
) -> None:
    """Copy ``info``'s rows one group at a time; ``newer`` gets the keys of the runs whose
    destination row is newer (for a table with a run's clock), and says which groups keep the
    destination's rows (for a table keyed by its own values under such a run)."""
    table = _quote(info.name)
    cols = ", ".join(_quote(c) for c in info.columns)
    scoped = _scope(info, tables)
    scope = scoped[0] if scoped is not None else None
    clock = _clock_of(info)
    order = " ORDER BY " + ", ".join(_quote(c) for c in info.pk) if info.pk else ""
    if scope is None:
        groups: list[Any] = [None]
    else:
        groups = [r["v"] for r in src.query(
            f"SELECT DISTINCT {_quote(scope)} AS v FROM {table} ORDER BY 1")]
    for group in groups:
        if group is None and scope is not None:
            where, params = f" WHERE {_quote(scope)} IS NULL", []
        elif scope is not None:
            where, params = f" WHERE {_quote(scope)} = ?", [group]
        else:
            where, params = "", []
        src_rows = [tuple(r.values()) for r in src.query(
            f"SELECT {cols} FROM {table}{where}{order}", params)]
        if not src_rows:
            continue
        rows = _translate(info, src_rows, id_maps)
        if not info.serial and len(info.pk) == 1:
            rows = _parents_first(info, rows)
        if info.serial or not info.pk:
            work = partial(_put_by_content, dst, info, rows, referenced, where, params,
                           id_maps[info.name])
        else:
            keep = scoped is not None and _norm(group) in newer.get(scoped[1], ())
            work = partial(_put_by_key, dst, info, rows, scope, where, params, clock, keep)
        put = dst.atomic(work)
        count.inserted += put.inserted
        count.updated += put.updated
        count.unchanged += put.unchanged
        count.kept += put.kept
        id_maps[info.name].update(put.mapping)
        newer[info.name] |= put.newer


def _translate(
    info: TableInfo, rows: list[tuple[Any, ...]], id_maps: dict[str, dict[Any, Any]]
) -> list[tuple[Any, ...]]:
    """Rewrite foreign keys that point at generated numbers to the destination's numbers."""
    moves = [(info.columns.index(col), parent) for col, parent, _p in info.fks
             if parent != info.name and id_maps.get(parent)]
    if not moves:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for index, parent in moves:
            if values[index] is not None:
                values[index] = id_maps[parent].get(values[index], values[index])
        out.append(tuple(values))
    return out


def _parents_first(info: TableInfo, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows of a table that points at itself by key (a baseline's parent), parents first."""
    links = [info.columns.index(col) for col, parent, pcol in info.fks
             if parent == info.name and pcol == info.pk[0]]
    if not links:
        return rows
    key = info.columns.index(info.pk[0])
    waiting = {row[key]: row for row in rows}
    out: list[tuple[Any, ...]] = []

    def place(row: tuple[Any, ...], path: frozenset[Any]) -> None:
        if waiting.pop(row[key], None) is None:
            return
        for index in links:
            parent = waiting.get(row[index])
            if parent is not None and row[index] not in path:
                place(parent, path | {row[key]})
        out.append(row)

    for row in rows:
        place(row, frozenset())
    return out


@dataclass
class _Put:
    """What one group's transaction did: the counts, the generated numbers it gave the
    source's rows (by content), the keys of the runs the destination holds newer (by key)."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    kept: int = 0
    mapping: dict[Any, Any] = field(default_factory=dict)
    newer: set[Any] = field(default_factory=set)


def _put_by_key(
    dst: Database, info: TableInfo, rows: list[tuple[Any, ...]], scope: str | None,
    where: str, params: list[Any], clock: list[int] | None, keep: bool,
) -> _Put:
    """Upsert ``rows`` by key: a row that differs takes the source's values, unless ``keep``
    (the rows of a run the destination holds newer) or, for a table with a run's clock
    (``clock``), the destination's row is the newer (see the module's notes)."""
    table = _quote(info.name)
    cols = ", ".join(_quote(c) for c in info.columns)
    pk_index = [info.columns.index(c) for c in info.pk]
    existing: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    if scope is not None:
        found = dst.query(f"SELECT {cols} FROM {table}{where}", params)
    elif len(info.pk) == 1:
        found = []
        keys = [row[pk_index[0]] for row in rows]
        for start in range(0, len(keys), _BATCH):
            part = keys[start:start + _BATCH]
            found += dst.query(f"SELECT {cols} FROM {table} WHERE {_quote(info.pk[0])} IN "
                               f"({', '.join('?' for _ in part)})", part)
    else:
        found = dst.query(f"SELECT {cols} FROM {table}")
    for r in found:
        values = tuple(r.values())
        existing[_row_key([values[i] for i in pk_index])] = _row_key(values)
    other = [i for i in range(len(info.columns)) if i not in pk_index]
    inserts, updates = [], []
    put = _Put()
    for row in rows:
        key = _row_key([row[i] for i in pk_index])
        have = existing.get(key)
        if have is None:
            inserts.append(row)
        elif have == _row_key(row):
            put.unchanged += 1
        elif keep or (clock is not None and _clock(have, clock) > _clock(row, clock)):
            put.kept += 1
            if clock is not None:
                put.newer.add(key[0])
        else:
            updates.append([*(row[i] for i in other), *(row[i] for i in pk_index)])
    if inserts:
        dst.executemany(f"INSERT INTO {table} ({cols}) VALUES "
                        f"({', '.join('?' for _ in info.columns)})", inserts)
    if updates and other:
        sets = ", ".join(f"{_quote(info.columns[i])} = ?" for i in other)
        match = " AND ".join(f"{_quote(c)} = ?" for c in info.pk)
        dst.executemany(f"UPDATE {table} SET {sets} WHERE {match}", updates)
    put.inserted, put.updated = len(inserts), len(updates)
    return put


def _put_by_content(
    dst: Database, info: TableInfo, rows: list[tuple[Any, ...]], referenced: bool,
    where: str, params: list[Any], earlier: dict[Any, Any],
) -> _Put:
    """Insert the rows that ``dst`` lacks, matched by content; ``earlier`` maps the numbers of
    this table's rows copied in earlier groups (for a table that points at itself)."""
    table = _quote(info.name)
    id_col = info.pk[0] if info.pk else None
    id_index = info.columns.index(id_col) if id_col else None
    body = [i for i in range(len(info.columns)) if i != id_index]
    body_cols = ", ".join(_quote(info.columns[i]) for i in body)
    select = f"{_quote(id_col)}, {body_cols}" if id_col else f"NULL, {body_cols}"
    have: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for r in dst.query(f"SELECT {select} FROM {table}{where}", params):
        values = tuple(r.values())
        have[_row_key(values[1:])].append(values[0])
    left = Counter({k: len(v) for k, v in have.items()})
    mapping: dict[Any, Any] = {}
    inserts: list[tuple[Any, ...]] = []
    unchanged = 0
    insert_sql = (f"INSERT INTO {table} ({body_cols}) VALUES ({', '.join('?' for _ in body)})")
    self_cols = {col for col, parent, _p in info.fks if parent == info.name}
    for row in rows:
        values = tuple(row[i] for i in body)
        if self_cols:  # a row may point at one copied just before it
            values = tuple(
                (mapping[v] if v in mapping else earlier.get(v, v))
                if info.columns[i] in self_cols and v is not None else v
                for i, v in zip(body, values, strict=True)
            )
        if info.name == "notebook_pages":
            values = _repoint_evidence([info.columns[i] for i in body], values,
                                       lambda n: mapping.get(n, earlier.get(n, n)))
        key = _row_key(values)
        if left[key] > 0:
            left[key] -= 1
            if id_index is not None:
                mapping[row[id_index]] = have[key][left[key]]
            unchanged += 1
        elif id_index is not None and (referenced or self_cols):
            mapping[row[id_index]] = dst.scalar(insert_sql + f" RETURNING {_quote(id_col or '')}",
                                                values)
        else:
            inserts.append(values)
    if inserts:
        dst.executemany(insert_sql, inserts)
    return _Put(inserted=len(rows) - unchanged, unchanged=unchanged, mapping=mapping)

def _repoint_evidence(columns: list[str], values: tuple[Any, ...],
                      new_number: Any) -> tuple[Any, ...]:
    """A decision page names its evidence page by number, in its data (``evidence_page``) and
    in its last line (``Evidence: page N``): give the number the page has in the destination.
    Other page numbers a person wrote in a page's text are left as written."""
    row = dict(zip(columns, values, strict=True))
    try:
        data = json.loads(row.get("data") or "{}")
    except ValueError:
        return values
    old = data.get("evidence_page") if isinstance(data, dict) else None
    if not isinstance(old, int) or isinstance(old, bool):
        return values
    new = new_number(old)
    if new == old:
        return values
    data["evidence_page"] = new
    row["data"] = json.dumps(data, sort_keys=True)
    row["body"] = re.sub(rf"(?m)^Evidence: page {old}$", f"Evidence: page {new}",
                         str(row.get("body") or ""))
    return tuple(row[c] for c in columns)


def offline_runs(lab: Lab) -> list[str]:
    """The runs in the offline spool of ``lab`` (a team store, by its lab folder or by URL
    alone: see ``offline_target``) that its store lacks yet: recorded while the store could
    not be reached, waiting for ``stepstone sync``."""
    if not lab.target.is_postgres:
        return []
    spool = offline_target(lab.target)
    if not Path(spool.database).exists():
        return []
    local = Database(spool.database, readonly=True)
    try:
        ids = [str(row["id"]) for row in local.query("SELECT id FROM runs ORDER BY created_at")]
    finally:
        local.close()
    if not ids:
        return []
    marks = ", ".join("?" for _ in ids)
    there = {str(row["id"]) for row in lab.db.query(
        f"SELECT id FROM runs WHERE id IN ({marks})", ids)}
    return [run_id for run_id in ids if run_id not in there]


def waiting_spools(lab: Lab) -> list[tuple[StoreTarget, list[str]]]:
    """The spools of ``lab`` (``spool_targets``: where the SDK keeps what the lab could not
    take at a run's end) that hold what the lab lacks yet, each with those runs: a run the lab
    lacks, or a flush of one of its writers past the lab's mark (``run_writers``). Each waits
    for ``stepstone sync --lab SPOOL --to LAB``."""
    out: list[tuple[StoreTarget, list[str]]] = []
    for spool in spool_targets(lab.target):
        if spool.database == lab.target.database or not Path(spool.database).exists():
            continue
        local = Database(spool.database, readonly=True)
        try:
            ids = [str(r["id"]) for r in local.query("SELECT id FROM runs ORDER BY created_at")]
            marks = [(str(r["run_id"]), str(r["writer"]), int(r["seq"]))
                     for r in local.query("SELECT run_id, writer, seq FROM run_writers")]
        finally:
            local.close()
        if not ids:
            continue
        places = ", ".join("?" for _ in ids)
        there = {str(r["id"]) for r in lab.db.query(
            f"SELECT id FROM runs WHERE id IN ({places})", ids)}
        seen = {(str(r["run_id"]), str(r["writer"])): int(r["seq"]) for r in lab.db.query(
            f"SELECT run_id, writer, seq FROM run_writers WHERE run_id IN ({places})", ids)}
        behind = {run for run, writer, seq in marks if seen.get((run, writer), 0) < seq}
        waiting = [run for run in ids if run not in there or run in behind]
        if waiting:
            out.append((spool, waiting))
    return out
