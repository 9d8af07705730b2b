"""The core tables (runs, configs, summaries, metrics, evaluations, objects, fits, writer marks,
the runs listing's indexes and counts), and :class:`Migration`, the record every schema module
writes its migrations as: versions 1, 6, 10 and 11.

The schema modules (this one, :mod:`~stepstone.store.schema_method`,
:mod:`~stepstone.store.schema_launch`, :mod:`~stepstone.store.schema_suites`) are data:
:mod:`stepstone.store.migrations` reads their ``MIGRATIONS`` and applies them in order.
"""

from __future__ import annotations

from dataclasses import dataclass


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
RUNNING_INDEX = "runs_running_host"  # the running runs by host (migration 11)
DERIVED_TABLES = frozenset({"run_counts"})  # kept by triggers from other tables: never copied
_COUNT_NEW = ("INSERT INTO run_counts (project, status, n) VALUES (NEW.project, NEW.status, 1) "
              "ON CONFLICT (project, status) DO UPDATE SET n = run_counts.n + 1;")
_COUNT_OLD = ("UPDATE run_counts SET n = n - 1 "
              "WHERE project = OLD.project AND status = OLD.status;")

MIGRATIONS: tuple[Migration, ...] = (
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
    Migration(
        11,
        "a reader's liveness check: the running runs by host",
        # this host's running runs are checked by their process, the others by heartbeat
        # (store/runs.py dead_condition); without it a reader scanned every running run
        (f"CREATE INDEX {RUNNING_INDEX} ON runs (host, pid, heartbeat_at, created_at) "
         "WHERE status = 'running'",),
    ),
)
