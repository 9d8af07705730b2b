"""Migrations of the research-method tables (ideas, questions, baselines, notebook): version
2; the noise floor of a baseline version: version 5; the notebook's guard on inserts: version 7;
evaluator pins, compute budgets, run alerts and full-text recall: version 8.

Notebook pages are append-only: besides the store having no statement that changes
or removes one, the database itself refuses ``UPDATE`` and ``DELETE`` on
``notebook_pages`` (a trigger on each backend, version 2), and, from version 7, every
insert that would replace a page (SQLite's ``REPLACE`` / ``INSERT OR REPLACE``, which
fires no delete trigger) or give a page its own number (a page takes the next number,
assigned by the database, so none can be slipped in between or ahead).

Version 8 gives a question its evaluator pin and its compute budget, records the alerts of
the health monitors, and indexes ideas and questions for full-text recall: on SQLite an FTS5
table ``recall_fts`` kept by triggers, on PostgreSQL a GIN index over :data:`IDEA_TEXT` and
:data:`QUESTION_TEXT` (the expressions :mod:`stepstone.store.recall` searches).
"""

from __future__ import annotations

from stepstone.store.schema_core import Migration

_REFUSAL = "notebook pages are append-only: write a correction page instead"
_NUMBERED = ("notebook pages are append-only: the database numbers a page, "
             "leave the number out")

IDEA_TEXT = "coalesce(title, '') || ' ' || coalesce(source, '')"
"""What of an idea full-text recall searches (its title and its source)."""
QUESTION_TEXT = "coalesce(text, '') || ' ' || coalesce(conclusion, '')"
"""What of a question full-text recall searches (its text and its conclusion)."""


def _fts_sync(table: str, kind: str, text: str) -> tuple[tuple[str, str], ...]:
    """SQLite triggers that keep ``recall_fts`` in step with ``table``."""
    row = text.replace("coalesce(", "coalesce(new.")
    insert = f"INSERT INTO recall_fts (kind, ref, body) VALUES ('{kind}', new.id, {row});"
    return (
        ("sqlite", f"CREATE TRIGGER {table}_recall_insert AFTER INSERT ON {table} "
                   f"BEGIN {insert} END"),
        ("sqlite", f"CREATE TRIGGER {table}_recall_update AFTER UPDATE ON {table} "
                   f"BEGIN DELETE FROM recall_fts WHERE kind = '{kind}' AND ref = old.id; "
                   f"{insert} END"),
        ("sqlite", f"INSERT INTO recall_fts (kind, ref, body) SELECT '{kind}', id, {text} "
                   f"FROM {table}"),
    )


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
        "the noise floor of a baseline version; a question's yes confirmed on fresh seeds",
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
            "ALTER TABLE questions ADD COLUMN confirm INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE questions ADD COLUMN confirms TEXT REFERENCES questions (id)",
        ),
    ),
    Migration(
        7,
        "the notebook refuses replaced pages and pages with a number of their own",
        (),
        by_dialect=(
            # REPLACE deletes the old row without a delete trigger: refuse before it does
            ("sqlite", "CREATE TRIGGER notebook_pages_no_replace BEFORE INSERT ON notebook_pages "
                       "WHEN EXISTS (SELECT 1 FROM notebook_pages WHERE number = NEW.number) "
                       f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}'); END"),
            # a number is the next one, never one chosen to jump ahead (a number below the
            # last one exists already: refused above)
            ("sqlite", "CREATE TRIGGER notebook_pages_next_number AFTER INSERT ON notebook_pages "
                       "WHEN NEW.number <> 1 + (SELECT COALESCE(MAX(number), 0) "
                       "FROM notebook_pages WHERE number <> NEW.number) "
                       f"BEGIN SELECT RAISE(ABORT, '{_NUMBERED}'); END"),
            # the default nextval() sets currval() in this session; a number written out does not
            ("postgresql", "CREATE FUNCTION stepstone_notebook_numbered() RETURNS trigger AS $$ "
                           "DECLARE last BIGINT; BEGIN "
                           "BEGIN last := currval(pg_get_serial_sequence(quote_ident("
                           "TG_TABLE_SCHEMA) || '.' || quote_ident(TG_TABLE_NAME), 'number')); "
                           "EXCEPTION WHEN object_not_in_prerequisite_state THEN last := NULL; "
                           "END; "
                           "IF last IS DISTINCT FROM NEW.number THEN "
                           f"RAISE EXCEPTION '{_NUMBERED}'; END IF; "
                           "RETURN NEW; END; $$ LANGUAGE plpgsql"),
            ("postgresql", "CREATE TRIGGER notebook_pages_numbered BEFORE INSERT ON notebook_pages "
                           "FOR EACH ROW EXECUTE FUNCTION stepstone_notebook_numbered()"),
        ),
    ),
    Migration(
        8,
        "evaluator pins and compute budgets of questions, run alerts, full-text recall",
        (
            "ALTER TABLE questions ADD COLUMN eval_fingerprint TEXT",
            "ALTER TABLE questions ADD COLUMN eval_pinned_by TEXT",
            "ALTER TABLE questions ADD COLUMN budget_flops DOUBLE PRECISION",
            """CREATE TABLE run_alerts (
                id {serial_pk},
                run_id TEXT NOT NULL REFERENCES runs (id),
                detector TEXT NOT NULL,
                metric TEXT,
                step INTEGER,
                message TEXT NOT NULL,
                action TEXT,
                at DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX run_alerts_run ON run_alerts (run_id, id)",
        ),
        by_dialect=(
            ("sqlite", "CREATE VIRTUAL TABLE recall_fts USING fts5(kind UNINDEXED, "
                       "ref UNINDEXED, body, tokenize = 'porter unicode61')"),
            *_fts_sync("ideas", "idea", IDEA_TEXT),
            *_fts_sync("questions", "question", QUESTION_TEXT),
            ("postgresql", f"CREATE INDEX ideas_recall ON ideas "
                           f"USING GIN (to_tsvector('english', {IDEA_TEXT}))"),
            ("postgresql", f"CREATE INDEX questions_recall ON questions "
                           f"USING GIN (to_tsvector('english', {QUESTION_TEXT}))"),
        ),
    ),
)
