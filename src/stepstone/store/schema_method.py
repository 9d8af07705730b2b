"""Migrations of the research-method tables (ideas, questions, baselines, notebook): version
2; the noise floor of a baseline version: version 5.

Notebook pages are append-only: besides the store having no statement that changes
or removes one, the database itself refuses ``UPDATE`` and ``DELETE`` on
``notebook_pages`` (a trigger on each backend).
"""

from __future__ import annotations

from stepstone.store.migrations import Migration

_REFUSAL = "notebook pages are append-only: write a correction page instead"

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        2,
        "ideas, questions, dated baselines and the append-only notebook",
        (
            """CREATE TABLE ideas (
                id TEXT PRIMARY KEY,
                title TEXT NOT NULL,
                source TEXT,
                cost_hours DOUBLE PRECISION,
                signal TEXT NOT NULL,
                status TEXT NOT NULL,
                reason TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL
            )""",
            """CREATE TABLE idea_events (
                id {serial_pk},
                idea_id TEXT NOT NULL REFERENCES ideas (id),
                from_status TEXT,
                to_status TEXT NOT NULL,
                reason TEXT NOT NULL,
                at DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX idea_events_idea ON idea_events (idea_id, id)",
            """CREATE TABLE questions (
                id TEXT PRIMARY KEY,
                text TEXT NOT NULL,
                idea_id TEXT REFERENCES ideas (id),
                metrics TEXT NOT NULL DEFAULT '[]',
                rule TEXT NOT NULL,
                timebox_hours DOUBLE PRECISION,
                baseline TEXT,
                status TEXT NOT NULL,
                answer TEXT,
                proposed TEXT,
                overridden INTEGER NOT NULL DEFAULT 0,
                conclusion TEXT,
                reason TEXT,
                feature_keys TEXT,
                feature_delta TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                started_at DOUBLE PRECISION,
                answered_at DOUBLE PRECISION
            )""",
            """CREATE TABLE baselines (
                version TEXT PRIMARY KEY,
                tier TEXT NOT NULL,
                day TEXT NOT NULL,
                seq INTEGER NOT NULL,
                parent TEXT REFERENCES baselines (version),
                config TEXT NOT NULL,
                reference_metric TEXT,
                created_at DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX baselines_tier ON baselines (tier, created_at)",
            """CREATE TABLE baseline_features (
                version TEXT NOT NULL REFERENCES baselines (version),
                question_id TEXT NOT NULL REFERENCES questions (id),
                delta TEXT NOT NULL,
                PRIMARY KEY (version, question_id)
            )""",
            """CREATE TABLE notebook_pages (
                number {serial_pk},
                kind TEXT NOT NULL,
                title TEXT NOT NULL,
                body TEXT NOT NULL,
                question_id TEXT,
                run_id TEXT,
                corrects INTEGER REFERENCES notebook_pages (number),
                review_of INTEGER REFERENCES notebook_pages (number),
                data TEXT NOT NULL DEFAULT '{}',
                created_at DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX notebook_pages_question ON notebook_pages (question_id, number)",
            "CREATE INDEX notebook_pages_run ON notebook_pages (run_id)",
        ),
        by_dialect=(
            ("sqlite", "CREATE TRIGGER notebook_pages_no_update BEFORE UPDATE ON notebook_pages "
                       f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}'); END"),
            ("sqlite", "CREATE TRIGGER notebook_pages_no_delete BEFORE DELETE ON notebook_pages "
                       f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}'); END"),
            ("postgresql", "CREATE FUNCTION stepstone_notebook_append_only() RETURNS trigger "
                           f"AS $$ BEGIN RAISE EXCEPTION '{_REFUSAL}'; END; $$ LANGUAGE plpgsql"),
            ("postgresql", "CREATE TRIGGER notebook_pages_append_only BEFORE UPDATE OR DELETE "
                           "ON notebook_pages FOR EACH ROW "
                           "EXECUTE FUNCTION stepstone_notebook_append_only()"),
            ("postgresql", "CREATE TRIGGER notebook_pages_no_truncate BEFORE TRUNCATE "
                           "ON notebook_pages FOR EACH STATEMENT "
                           "EXECUTE FUNCTION stepstone_notebook_append_only()"),
        ),
    ),
    Migration(
        5,
        "the noise floor of a baseline version: seed-to-seed spread of a metric",
        (
            """CREATE TABLE baseline_noise (
                id {serial_pk},
                version TEXT NOT NULL REFERENCES baselines (version),
                metric TEXT NOT NULL,
                sd DOUBLE PRECISION NOT NULL,
                n INTEGER NOT NULL,
                rung TEXT,
                runs TEXT NOT NULL DEFAULT '[]',
                measured_at DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX baseline_noise_version ON baseline_noise (version, metric, id)",
        ),
    ),
)
