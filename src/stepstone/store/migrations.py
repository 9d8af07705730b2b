"""The lab schema, as numbered migrations recorded in ``schema_migrations``.

Each migration is a list of portable statements (see :mod:`stepstone.store.db`)
that runs on SQLite and PostgreSQL alike. A migration is never edited once
released: change the schema by appending a new one. Embedded (SQLite) labs are
upgraded when opened; a shared PostgreSQL store is upgraded only by
``stepstone migrate``, so that one client cannot surprise a team.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from stepstone.errors import SchemaVersionError
from stepstone.store.db import SQLITE, Database


@dataclass(frozen=True)
class Migration:
    """A numbered schema step: portable ``statements``, then ``by_dialect`` ones
    (``(dialect name, statement)``: triggers and the like, which SQLite and
    PostgreSQL spell differently) run only on their own backend."""

    version: int
    name: str
    statements: tuple[str, ...]
    by_dialect: tuple[tuple[str, str], ...] = ()


# The runs listing (store/listing.py) orders runs that need attention first, then by one of
# these keys and the id: one index per key, each led by the same rank expression.
ATTENTION = {"crashed": 0, "failed": 0, "killed": 0, "running": 1}  # any other status: 2
RANK = ("CASE status " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in ATTENTION.items())
        + " ELSE 2 END")
PAGE_KEYS = {"created": "created_at", "name": "name", "project": "project", "status": "status",
             "step": "(COALESCE(last_step, -1))", "kind": "kind"}
DERIVED_TABLES = frozenset({"run_counts"})  # kept by triggers from other tables: never copied
_COUNT_NEW = ("INSERT INTO run_counts (project, status, n) VALUES (NEW.project, NEW.status, 1) "
              "ON CONFLICT (project, status) DO UPDATE SET n = run_counts.n + 1;")
_COUNT_OLD = ("UPDATE run_counts SET n = n - 1 "
              "WHERE project = OLD.project AND status = OLD.status;")

CORE: tuple[Migration, ...] = (
    Migration(
        1,
        "runs, configs, summaries, metrics, evaluations, objects, fits",
        (
            """CREATE TABLE runs (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                project TEXT NOT NULL,
                group_name TEXT,
                job_type TEXT,
                kind TEXT NOT NULL DEFAULT 'adhoc',
                tags TEXT NOT NULL DEFAULT '[]',
                notes TEXT,
                status TEXT NOT NULL,
                reason TEXT,
                exit_code INTEGER,
                created_at DOUBLE PRECISION NOT NULL,
                ended_at DOUBLE PRECISION,
                heartbeat_at DOUBLE PRECISION,
                pid INTEGER,
                host TEXT,
                command TEXT,
                cwd TEXT,
                question_id TEXT,
                baseline TEXT,
                config_delta TEXT,
                seed INTEGER,
                last_step INTEGER,
                code_snapshot TEXT,
                git_commit TEXT,
                git_branch TEXT,
                git_dirty INTEGER,
                env TEXT,
                capture_notes TEXT,
                has_nonfinite INTEGER NOT NULL DEFAULT 0,
                imported_from TEXT
            )""",
            "CREATE INDEX runs_status ON runs (status)",
            "CREATE INDEX runs_project ON runs (project, created_at)",
            "CREATE INDEX runs_question ON runs (question_id)",
            "CREATE INDEX runs_name ON runs (name)",
            """CREATE TABLE run_configs (
                run_id TEXT NOT NULL REFERENCES runs (id),
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (run_id, key)
            )""",
            """CREATE TABLE run_summaries (
                run_id TEXT NOT NULL REFERENCES runs (id),
                key TEXT NOT NULL,
                value TEXT NOT NULL,
                num DOUBLE PRECISION,
                PRIMARY KEY (run_id, key)
            )""",
            """CREATE TABLE metric_chunks (
                id {serial_pk},
                run_id TEXT NOT NULL REFERENCES runs (id),
                key TEXT NOT NULL,
                n INTEGER NOT NULL,
                step_min INTEGER NOT NULL,
                step_max INTEGER NOT NULL,
                steps {blob} NOT NULL,
                vals {blob} NOT NULL,
                times {blob} NOT NULL,
                nonfinite INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX metric_chunks_run_key ON metric_chunks (run_id, key, id)",
            """CREATE TABLE metric_texts (
                id {serial_pk},
                run_id TEXT NOT NULL REFERENCES runs (id),
                key TEXT NOT NULL,
                step INTEGER NOT NULL,
                ts DOUBLE PRECISION NOT NULL,
                value TEXT NOT NULL
            )""",
            "CREATE INDEX metric_texts_run ON metric_texts (run_id, key, step)",
            """CREATE TABLE eval_records (
                id {serial_pk},
                run_id TEXT NOT NULL REFERENCES runs (id),
                name TEXT NOT NULL,
                step INTEGER,
                example_id TEXT NOT NULL,
                score DOUBLE PRECISION,
                correct INTEGER,
                prediction TEXT,
                fields TEXT NOT NULL DEFAULT '{}',
                created_at DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX eval_records_run ON eval_records (run_id, name)",
            """CREATE TABLE objects (
                hash TEXT PRIMARY KEY,
                size INTEGER NOT NULL,
                created_at DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE run_objects (
                run_id TEXT NOT NULL REFERENCES runs (id),
                role TEXT NOT NULL,
                name TEXT NOT NULL,
                hash TEXT NOT NULL REFERENCES objects (hash),
                PRIMARY KEY (run_id, role, name)
            )""",
            """CREATE TABLE fits (
                id TEXT PRIMARY KEY,
                created_at DOUBLE PRECISION NOT NULL,
                label TEXT NOT NULL,
                form TEXT NOT NULL,
                source TEXT NOT NULL,
                run_ids TEXT NOT NULL DEFAULT '[]',
                flops_method TEXT,
                result TEXT NOT NULL
            )""",
        ),
    ),
    Migration(
        6,
        "writer marks: a flush written again after a lost COMMIT reply is a no-op",
        (
            """CREATE TABLE run_writers (
                run_id TEXT NOT NULL REFERENCES runs (id),
                writer TEXT NOT NULL,
                seq INTEGER NOT NULL,
                PRIMARY KEY (run_id, writer)
            )""",
        ),
    ),
    Migration(
        10,
        "the runs listing at a million runs: keyset indexes and run counts kept by triggers",
        (
            *(f"CREATE INDEX runs_page_{name} ON runs (({RANK}), {key}, id)"
              for name, key in PAGE_KEYS.items()),
            # a status filter fixes the rank: these serve it for every sort
            *(f"CREATE INDEX runs_page_status_{name} ON runs (status, {key}, id)"
              for name, key in PAGE_KEYS.items() if name != "status"),
            f"CREATE INDEX runs_page_in_project ON runs (project, ({RANK}), created_at, id)",
            """CREATE TABLE run_counts (
                project TEXT NOT NULL,
                status TEXT NOT NULL,
                n INTEGER NOT NULL,
                PRIMARY KEY (project, status)
            )""",
            "INSERT INTO run_counts (project, status, n) "
            "SELECT project, status, COUNT(*) FROM runs GROUP BY project, status",
        ),
        by_dialect=(
            ("sqlite", f"CREATE TRIGGER runs_count_insert AFTER INSERT ON runs BEGIN {_COUNT_NEW} "
                       "END"),
            ("sqlite", f"CREATE TRIGGER runs_count_delete AFTER DELETE ON runs BEGIN "
                       f"{_COUNT_OLD} END"),
            ("sqlite", "CREATE TRIGGER runs_count_update AFTER UPDATE OF project, status ON runs "
                       "WHEN OLD.project IS NOT NEW.project OR OLD.status IS NOT NEW.status "
                       f"BEGIN {_COUNT_OLD} {_COUNT_NEW} END"),
            # rows are locked in one order (old before new when old sorts first), so two runs
            # moving between the same statuses in opposite directions never deadlock
            ("postgresql", "CREATE FUNCTION stepstone_run_counts() RETURNS trigger AS $$ BEGIN "
                           f"IF TG_OP = 'INSERT' THEN {_COUNT_NEW} "
                           f"ELSIF TG_OP = 'DELETE' THEN {_COUNT_OLD} "
                           "ELSIF (OLD.project, OLD.status) < (NEW.project, NEW.status) THEN "
                           f"{_COUNT_OLD} {_COUNT_NEW} "
                           "ELSIF (OLD.project, OLD.status) > (NEW.project, NEW.status) THEN "
                           f"{_COUNT_NEW} {_COUNT_OLD} "
                           "END IF; RETURN NULL; END; $$ LANGUAGE plpgsql"),
            ("postgresql", "CREATE TRIGGER runs_count AFTER INSERT OR DELETE OR UPDATE OF "
                           "project, status ON runs FOR EACH ROW "
                           "EXECUTE FUNCTION stepstone_run_counts()"),
        ),
    ),
)



def _collect() -> tuple[Migration, ...]:
    """Every migration, in version order; each area keeps its own in its own module."""
    from stepstone.store import schema_launch, schema_method, schema_suites

    found = sorted((*CORE, *schema_method.MIGRATIONS, *schema_launch.MIGRATIONS,
                    *schema_suites.MIGRATIONS), key=lambda m: m.version)
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
    if "schema_migrations" not in db.tables():
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


__all__ = [
    "LATEST", "MIGRATIONS", "SQLITE", "Migration", "check_version", "migrate", "schema_version",
]
