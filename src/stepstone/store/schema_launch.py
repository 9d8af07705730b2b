"""Migrations of the launch tables (plans and their planned runs): versions 3 and 12.

A plan is a sweep or a ladder: a base config, a command and a list of planned runs
(rungs), each a set of overrides. Every launch of a planned run is an attempt that
points at the run it made; a relaunch adds attempts and never replaces one.
"""

from __future__ import annotations

from stepstone.store.schema_core import Migration

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        3,
        "plans, planned runs and their attempts",
        (
            """CREATE TABLE plans (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                name TEXT NOT NULL,
                project TEXT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL,
                status TEXT NOT NULL,
                reason TEXT,
                base_config TEXT NOT NULL,
                command TEXT NOT NULL,
                cwd TEXT,
                baseline TEXT,
                question_id TEXT,
                executor TEXT,
                options TEXT NOT NULL DEFAULT '{}',
                owner_pid INTEGER,
                owner_host TEXT
            )""",
            "CREATE INDEX plans_created ON plans (created_at)",
            """CREATE TABLE plan_runs (
                plan_id TEXT NOT NULL REFERENCES plans (id),
                idx INTEGER NOT NULL,
                label TEXT NOT NULL,
                overrides TEXT NOT NULL,
                config TEXT NOT NULL,
                config_delta TEXT NOT NULL,
                PRIMARY KEY (plan_id, idx)
            )""",
            """CREATE TABLE plan_attempts (
                plan_id TEXT NOT NULL REFERENCES plans (id),
                idx INTEGER NOT NULL,
                attempt INTEGER NOT NULL,
                run_id TEXT NOT NULL UNIQUE,
                created_at DOUBLE PRECISION NOT NULL,
                executor TEXT,
                job_id TEXT,
                PRIMARY KEY (plan_id, idx, attempt)
            )""",
            "CREATE INDEX plan_attempts_run ON plan_attempts (run_id)",
        ),
    ),
    Migration(
        12,
        "the time a plan was cancelled",
        # a run of the plan that ended before it keeps its own end and reason; one that was
        # running then gets the cancel's reason (launch/runner.py _stamp_cancel)
        ("ALTER TABLE plans ADD COLUMN cancelled_at DOUBLE PRECISION",),
    ),
)
