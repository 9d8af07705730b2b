"""The lab schema, as numbered migrations recorded in ``schema_migrations``.

Each migration is a list of portable statements (see :mod:`stepstone.store.db`)
that runs on SQLite and PostgreSQL alike; the schema modules (``schema_core``,
``schema_method``, ``schema_launch``, ``schema_suites``) hold them, this module applies them.
A migration is never edited once released: change the schema by appending a new one.
Embedded (SQLite) labs are upgraded when opened; a shared PostgreSQL store is upgraded only by
``stepstone migrate`` (:func:`upgrade`, under a lock), so that one client cannot surprise a
team.
"""

from __future__ import annotations

import time

from stepstone.errors import SchemaVersionError
from stepstone.store import schema_core, schema_launch, schema_method, schema_suites
from stepstone.store.db import POSTGRES, Database
from stepstone.store.schema_core import Migration

# pg_advisory_lock key held while migrating a team store ("stepston" in ASCII)
MIGRATE_LOCK_KEY = 0x73746570_73746F6E


def _collect() -> tuple[Migration, ...]:
    """Every migration, in version order; each area keeps its own in its own module."""
    found = sorted((*schema_core.MIGRATIONS, *schema_method.MIGRATIONS,
                    *schema_launch.MIGRATIONS, *schema_suites.MIGRATIONS),
                   key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two migrations share a version: {versions}")
    return tuple(found)


MIGRATIONS = _collect()
LATEST = MIGRATIONS[-1].version


def schema_version(db: Database) -> int:
    """The highest migration applied to ``db`` (0 for an empty database), or, when a
    migration this client knows below it was never applied (numbers are handed out ahead and
    may land out of order), the one before that gap: so the gap is filled by an upgrade."""
    if not db.has_table("schema_migrations"):
        return 0
    applied = {int(r["version"]) for r in db.query("SELECT version FROM schema_migrations")}
    top = max(applied, default=0)
    gaps = [m.version for m in MIGRATIONS if m.version < top and m.version not in applied]
    return gaps[0] - 1 if gaps else top


def check_version(db: Database, *, auto_upgrade: bool) -> int:
    """Refuse a schema newer than this client; upgrade an older one if allowed."""
    version = schema_version(db)
    if version > LATEST:
        raise SchemaVersionError(
            f"this lab has schema v{version}, newer than this stepstone understands "
            f"(v{LATEST}): upgrade stepstone (pip install -U stepstone)"
        )
    if version < LATEST:
        if not auto_upgrade:
            raise SchemaVersionError(
                f"this store has schema v{version} and this stepstone needs v{LATEST}: "
                "run `stepstone migrate` to upgrade it"
            )
        return migrate(db)
    return version


def migrate(db: Database) -> int:
    """Apply every pending migration, each in its own transaction; return the new version."""
    with db.transaction():
        db.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
        )
    for migration in MIGRATIONS:
        with db.transaction():
            done = db.scalar(
                "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", (migration.version,)
            )
            if done:
                continue
            for statement in migration.statements:
                db.execute(statement)
            for dialect, statement in migration.by_dialect:
                if dialect == db.dialect.name:
                    db.execute(statement)
            db.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, time.time()),
            )
    return schema_version(db)


def upgrade(db: Database) -> tuple[int, int]:
    """Apply every pending migration; return (version before, version after).

    On PostgreSQL this holds an advisory lock, so two ``stepstone migrate`` at once
    do not race. A schema newer than this client is refused.
    """
    locked = db.dialect is POSTGRES
    if locked:
        db.scalar("SELECT pg_advisory_lock(?)", (MIGRATE_LOCK_KEY,))
    try:
        before = schema_version(db)
        if before > LATEST:
            check_version(db, auto_upgrade=False)  # raises: upgrade stepstone
        after = migrate(db) if before < LATEST else before
    finally:
        if locked:
            db.scalar("SELECT pg_advisory_unlock(?)", (MIGRATE_LOCK_KEY,))
    return before, after


__all__ = ["LATEST", "MIGRATIONS", "check_version", "migrate", "schema_version", "upgrade"]
