"""Migrations of the evaluation-suite tables (suites and their checks on runs): version 4.

A suite is versioned like a baseline (``NAME@YYYY-MM-DD``, ``.2`` the same day): a version's
spec is never changed; an edit is a new version whose parent is the one it replaces. Every
check of a run against a suite version is a new row: a re-check adds one, the newest counts.
"""

from __future__ import annotations

from stepstone.store.schema_core import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        4,
        "evaluation suites and their checks on runs",
        (
            """CREATE TABLE suites (
                version TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                day TEXT NOT NULL,
                seq INTEGER NOT NULL,
                parent TEXT REFERENCES suites (version),
                tier TEXT,
                question_id TEXT,
                spec TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX suites_name ON suites (name, created_at)",
            "CREATE INDEX suites_tier ON suites (tier)",
            """CREATE TABLE suite_checks (
                id {serial_pk},
                suite_version TEXT NOT NULL REFERENCES suites (version),
                run_id TEXT NOT NULL REFERENCES runs (id),
                passed INTEGER NOT NULL,
                results TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX suite_checks_run ON suite_checks (run_id, id)",
            "CREATE INDEX suite_checks_suite ON suite_checks (suite_version, id)",
        ),
    ),
)
