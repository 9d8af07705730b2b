"""``stepstone query``: points on both backends, a time limit, and a write guard that is the
database's (a read-only connection and an authorizer; a read-only transaction), not a word
list."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from _cli import cli
from stepstone.store import open_lab
from stepstone.store.metrics import Chunk
from stepstone.store.target import StoreTarget

pytestmark = pytest.mark.parametrize("store_target", ["sqlite", "postgresql"], indirect=True)

VALUES = [1.5, -2.25, 0.0, 1e-310, -1e300, math.inf, -math.inf, 3.0e-5, 123456789.125]


def _seed(target: StoreTarget) -> None:
    """Run ``r1`` with ``loss`` over two chunks (the values above, steps 0..8, step 2**40 at
    the end) and ``acc`` in one chunk; run ``r2`` named 'update'."""
    now = time.time()
    with open_lab(target.location) as lab:
        for run_id, name in (("r1", "first"), ("r2", "update")):
            lab.runs.create({"id": run_id, "name": name, "project": "p", "status": "finished",
                             "created_at": now})
        with lab.db.transaction():
            lab.metrics.write_chunks("r1", [
                Chunk("loss", list(range(5)), VALUES[:5], [now + i for i in range(5)]),
                Chunk("acc", [0, 1], [0.5, 0.75], [now, now + 1]),
            ])
            lab.metrics.write_chunks("r1", [
                Chunk("loss", [5, 6, 7, 2**40], VALUES[5:9], [now + 5 + i for i in range(4)]),
            ])
            lab.metrics.write_chunks("r2", [Chunk("loss", [0], [float("nan")], [now])])


def _query(target: StoreTarget, sql: str, *extra: str) -> tuple[int, str, str]:
    return cli(target.root, "query", "--sql", sql, *extra)  # type: ignore[arg-type]


def test_points_are_unpacked_exactly_on_both_backends(store_target: StoreTarget) -> None:
    """Today: PostgreSQL refused with 'cannot execute CREATE TABLE in a read-only
    transaction'; SQLite copied every point of the lab into a table first."""
    import json

    _seed(store_target)
    code, out, err = _query(store_target, "SELECT step, value FROM points WHERE run_id = 'r1' "
                                          "AND key = 'loss' ORDER BY step", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["step"] for r in rows] == [0, 1, 2, 3, 4, 5, 6, 7, 2**40]
    # JSON has no infinities: --json writes them as null, as every JSON output does
    assert [r["value"] for r in rows] == [v if math.isfinite(v) else None for v in VALUES]
    code, out, err = _query(store_target, "SELECT run_id, key, COUNT(*) AS n, "
                                          "MIN(time) > 0 AS timed FROM points "
                                          "GROUP BY run_id, key ORDER BY run_id, key", "--json")
    assert code == 0, err
    assert [(r["run_id"], r["key"], r["n"], bool(r["timed"])) for r in json.loads(out)] == [
        ("r1", "acc", 2, True), ("r1", "loss", 9, True), ("r2", "loss", 1, True)]


def test_a_query_with_its_own_with_list_and_points(store_target: StoreTarget) -> None:
    import json

    _seed(store_target)
    sql = ("-- the last loss of each run\nWITH last AS (SELECT run_id, MAX(step) AS step "
           "FROM points WHERE key = 'loss' GROUP BY run_id) SELECT run_id, step FROM last "
           "ORDER BY run_id")
    code, out, err = _query(store_target, sql, "--json")
    assert code == 0, err
    assert json.loads(out) == [{"run_id": "r1", "step": 2**40}, {"run_id": "r2", "step": 0}]


@pytest.mark.parametrize("sql, expected", [
    ("SELECT id FROM runs WHERE name = 'update'", [{"id": "r2"}]),
    ("SELECT replace(name, 'up', 'down') AS n FROM runs WHERE id = 'r2'", [{"n": "downdate"}]),
    ("SELECT COUNT(*) AS n FROM runs WHERE name LIKE '%date'", [{"n": 1}]),
], ids=["word-update", "replace-function", "percent"])
def test_reads_that_merely_contain_a_write_word_run(store_target: StoreTarget, sql: str,
                                                   expected: list[dict[str, object]]) -> None:
    import json

    _seed(store_target)
    code, out, err = _query(store_target, sql, "--json")
    assert code == 0, err
    assert json.loads(out) == expected


@pytest.mark.parametrize("sql", [
    "DELETE FROM runs",
    "UPDATE runs SET name = 'x'",
    "INSERT INTO runs (id, name, project, status, created_at) VALUES ('x', 'x', 'p', 's', 0)",
    "WITH gone AS (DELETE FROM runs RETURNING id) SELECT * FROM gone",
    "DROP TABLE runs",
    "CREATE TABLE t (a INTEGER)",
], ids=["delete", "update", "insert", "delete-in-with", "drop", "create"])
def test_the_database_refuses_a_write(store_target: StoreTarget, sql: str) -> None:
    _seed(store_target)
    code, _out, err = _query(store_target, sql)
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err
    assert "read-only" in err or "syntax error" in err  # SQLite has no DELETE inside WITH
    with open_lab(store_target.location) as lab:
        assert sorted(r.name for r in lab.runs.list()) == ["first", "update"]


def test_a_syntax_error_is_called_one(store_target: StoreTarget) -> None:
    code, _out, err = _query(store_target, "SELEC 1")
    assert code == 2 and "syntax error" in err and "read-only" not in err


def test_two_statements_are_refused(store_target: StoreTarget) -> None:
    _seed(store_target)
    code, _out, err = _query(store_target, "SELECT 1; DELETE FROM runs")
    assert code == 2 and "Traceback" not in err
    with open_lab(store_target.location) as lab:
        assert len(lab.runs.list()) == 2


def test_a_query_that_never_ends_is_stopped(store_target: StoreTarget) -> None:
    sql = "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) SELECT COUNT(*) FROM r"
    code, _out, err = _query(store_target, sql, "--timeout", "1")
    assert code == 2 and "time limit (1 s)" in err and "--timeout" in err


def test_the_write_guard_holds_on_the_raw_connection(store_target: StoreTarget,
                                                    tmp_path: Path) -> None:
    """The guard is the database's: even a statement the CLI never sees is refused."""
    from stepstone.errors import UsageError
    from stepstone.store.query import run_query

    _seed(store_target)
    with open_lab(store_target.location, readonly=True) as lab:
        with pytest.raises(UsageError, match="read-only"):
            run_query(lab.db, "UPDATE runs SET name = 'changed'", timeout_s=10)
        assert run_query(lab.db, "SELECT name FROM runs WHERE id = 'r1'",
                         timeout_s=10).rows == [{"name": "first"}]
