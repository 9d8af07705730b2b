"""Bad input changes nothing; the notebook is append-only through every interface."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _cli import cli
from stepstone.method import notebook
from stepstone.store import open_lab
from stepstone.store.notebook import Notebook

_TABLES = ("ideas", "idea_events", "questions", "baselines", "baseline_features",
           "notebook_pages", "runs")


def _counts(lab: Path) -> dict[str, int]:
    with open_lab(lab) as opened:
        return {t: int(opened.db.scalar(f"SELECT COUNT(*) FROM {t}")) for t in _TABLES}


@pytest.fixture
def seeded(lab: Path, tmp_path: Path) -> Path:
    config = tmp_path / "small.yaml"
    config.write_text("model:\n  qk_norm: false\nseed: 0\n")
    assert cli(lab, "baseline", "create", "small", "--config", str(config))[0] == 0
    assert cli(lab, "question", "new", "q?", "--rule", "val_loss <= 1")[0] == 0
    return lab


BAD = [
    ("unknown-baseline", ("plan", "--baseline", "nope", "--set", "model.qk_norm=true"),
     "no baseline 'nope'"),
    ("unknown-baseline-version", ("baseline", "show", "small@1999-01-01"),
     "no baseline 'small@1999-01-01': small has small@"),
    ("unknown-question-baseline-version", ("question", "new", "x?", "--rule", "val_loss <= 1",
                                           "--baseline", "small@1999-01-01"),
     "no baseline 'small@1999-01-01': small has small@"),
    ("unknown-question-baseline-tier", ("question", "new", "x?", "--rule", "val_loss <= 1",
                                        "--baseline", "large"),
     "stepstone baseline create large --config FILE"),
    ("unknown-question", ("decide", "q99"), "no question 'q99'"),
    ("unknown-question-plan", ("plan", "--baseline", "small", "--set", "model.qk_norm=true",
                               "--question", "q99"), "no question"),
    ("rule-does-not-parse", ("question", "new", "x?", "--rule", "val_loss <="), "position"),
    ("unknown-override-key", ("plan", "--baseline", "small", "--set", "model.nope=1"),
     "model.nope"),
    ("promote-unanswered", ("baseline", "promote", "small", "--from", "q1"),
     "only a question answered yes"),
    ("unknown-idea", ("idea", "pick", "i9", "--reason", "x"), "no idea"),
    ("bad-timebox", ("question", "new", "x?", "--rule", "a < 1", "--timebox", "soon"),
     "--timebox"),
    ("correct-missing-page", ("note", "x", "--corrects", "42"), "no notebook page 42"),
]


@pytest.mark.parametrize("args, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_input_gets_one_error_and_changes_nothing(seeded: Path, args: tuple[str, ...],
                                                      message: str) -> None:
    before = _counts(seeded)
    code, _out, err = cli(seeded, *args)
    assert code != 0
    assert message in err and err.startswith("error: ") and "Traceback" not in err
    assert _counts(seeded) == before


@pytest.mark.parametrize("statement", [
    "UPDATE notebook_pages SET body = 'changed'",
    "DELETE FROM notebook_pages",
], ids=["update", "delete"])
def test_the_database_refuses_to_change_a_page(lab: Path, statement: str) -> None:
    with open_lab(lab) as opened:
        notebook.write(opened, "note", "t", "original")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            opened.db.execute(statement)
        assert opened.notebook.get(1).body == "original"
    raw = sqlite3.connect(lab / "lab.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute(statement)
    raw.close()


def test_no_python_api_edits_or_deletes_a_page() -> None:
    names = {n for n in dir(Notebook) if not n.startswith("_")}
    assert names == {"append", "get", "pages"}
    assert not [n for n in dir(notebook) if any(w in n for w in ("edit", "delete", "update",
                                                                  "remove"))]


def test_a_correction_leaves_the_page_it_corrects(lab: Path) -> None:
    with open_lab(lab) as opened:
        first = notebook.note(opened, "seed count was 3")
        fix = notebook.note(opened, "it was 5", corrects=first.number)
        assert fix.kind == "correction" and opened.notebook.get(1).title == "seed count was 3"


@pytest.mark.parametrize("text, hours", [("3h", 3.0), ("90m", 1.5), ("2d", 48.0), ("1", 1.0)],
                         ids=["hours", "minutes", "days", "bare"])
def test_durations(text: str, hours: float) -> None:
    from stepstone.method.ideas import parse_hours

    assert parse_hours(text) == hours


def test_same_day_baselines_get_a_suffix(lab: Path) -> None:
    from stepstone.method import baselines

    with open_lab(lab) as opened:
        a = baselines.create(opened, "small", {"x": 1})
        b = baselines.create(opened, "small", {"x": 2})
        assert b.version == a.version + ".2" and b.parent == a.version
        assert baselines.resolve(opened, "small").version == b.version


@pytest.mark.parametrize("statement", [
    "UPDATE notebook_pages SET body = 'changed'",
    "DELETE FROM notebook_pages",
    "TRUNCATE notebook_pages",
], ids=["update", "delete", "truncate"])
def test_postgres_refuses_to_change_a_page(pg_url: str, statement: str, tmp_path: Path) -> None:
    import psycopg

    from stepstone.store import init_lab as init_store

    with open_lab(init_store(tmp_path, store=pg_url)) as opened:
        notebook.write(opened, "note", "t", "original")
    with psycopg.connect(pg_url, autocommit=True) as raw:
        with pytest.raises(psycopg.Error, match="append-only"):
            raw.execute(statement)
        row = raw.execute("SELECT body FROM notebook_pages WHERE number = 1").fetchone()
    assert row == ("original",)


_FORGED = "(number, kind, title, body, created_at) VALUES ({n}, 'note', 'forged', 'x', 0)"
_FORGERIES = {
    "replace": "REPLACE INTO notebook_pages " + _FORGED.format(n=1),
    "insert-or-replace": "INSERT OR REPLACE INTO notebook_pages " + _FORGED.format(n=1),
    "replace-last": "REPLACE INTO notebook_pages " + _FORGED.format(n=2),
    "number-ahead": "INSERT INTO notebook_pages " + _FORGED.format(n=9),
    "number-zero": "INSERT INTO notebook_pages " + _FORGED.format(n=0),
    "upsert": ("INSERT INTO notebook_pages " + _FORGED.format(n=1)
               + " ON CONFLICT (number) DO UPDATE SET body = 'changed'"),
}


def _two_pages_then(opened, attempt) -> None:  # type: ignore[no-untyped-def]
    """Write pages 1 and 2, make ``attempt`` (which must fail), then check that both pages
    are as written and that the library's own append still takes the next number."""
    notebook.write(opened, "note", "t1", "original 1")
    notebook.write(opened, "note", "t2", "original 2")
    attempt()
    assert [(p.number, p.body) for p in opened.notebook.pages()] == [
        (1, "original 1"), (2, "original 2")]
    assert notebook.write(opened, "note", "t3", "third").number == 3


@pytest.mark.parametrize("statement", list(_FORGERIES.values()), ids=list(_FORGERIES))
def test_sqlite_refuses_a_replaced_or_self_numbered_page(lab: Path, statement: str) -> None:
    """SQLite's REPLACE deletes the old row without firing a delete trigger; a page with a
    number of its own could jump ahead or fill a hole: each is refused by the database."""
    def attempt() -> None:
        raw = sqlite3.connect(lab / "lab.db")
        try:
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                raw.execute(statement)
        finally:
            raw.close()

    with open_lab(lab) as opened:
        _two_pages_then(opened, attempt)


def test_sqlite_refuses_replacing_the_only_page(lab: Path) -> None:
    with open_lab(lab) as opened:
        notebook.write(opened, "note", "t1", "original 1")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            opened.db.execute("REPLACE INTO notebook_pages " + _FORGED.format(n=1))
        assert opened.notebook.get(1).body == "original 1"


@pytest.mark.parametrize("statement", [s for k, s in _FORGERIES.items() if "replace" not in k],
                         ids=[k for k in _FORGERIES if "replace" not in k])
def test_postgres_refuses_a_self_numbered_page(pg_url: str, statement: str,
                                               tmp_path: Path) -> None:
    import psycopg

    from stepstone.store import init_lab as init_store

    def attempt() -> None:
        with psycopg.connect(pg_url, autocommit=True) as raw:
            with pytest.raises(psycopg.Error, match="append-only"):
                raw.execute(statement)
            raw.execute("SELECT nextval(pg_get_serial_sequence('notebook_pages', 'number'))")
            with pytest.raises(psycopg.Error, match="append-only"):  # currval set: still no
                raw.execute("INSERT INTO notebook_pages " + _FORGED.format(n=7))

    with open_lab(init_store(tmp_path, store=pg_url)) as opened:
        notebook.write(opened, "note", "t1", "original 1")
        notebook.write(opened, "note", "t2", "original 2")
        attempt()
        assert [(p.number, p.body) for p in opened.notebook.pages()] == [
            (1, "original 1"), (2, "original 2")]
        assert notebook.write(opened, "note", "t3", "third").title == "t3"


_APPENDER = """
import json, sys
from stepstone.store.db import Database
from stepstone.store.notebook import Notebook
book = Notebook(Database(sys.argv[1]))
print(json.dumps([[book.append(kind="note", title=f"{sys.argv[2]}-{i}", body=""), i]
                  for i in range(int(sys.argv[3]))]))
"""


def test_concurrent_writers_each_get_their_own_page_number(pg_url: str, tmp_path: Path) -> None:
    """6 processes append 40 pages each at once: the number each append returns is the page
    it wrote (it was the last number in the table, another writer's page, before)."""
    import json

    from stepstone.store import init_lab as init_store

    init_store(tmp_path, store=pg_url)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writers = [subprocess.Popen([sys.executable, "-c", _APPENDER, pg_url, f"w{k}", "40"],
                                stdout=subprocess.PIPE, text=True, env=env) for k in range(6)]
    returned = {f"w{k}": json.loads(w.communicate(timeout=300)[0])
                for k, w in enumerate(writers)}
    with open_lab(tmp_path / ".stepstone") as opened:
        titles = {p.number: p.title for p in opened.notebook.pages()}
    assert len(titles) == 240
    wrong = [(name, number, titles[number]) for name, pairs in returned.items()
             for number, i in pairs if titles[number] != f"{name}-{i}"]
    assert wrong == []


def test_a_reused_pid_is_a_crash_and_a_late_heartbeat_of_a_live_run_is_not(lab: Path) -> None:
    """On this host the process decides: a pid that now belongs to a process started after
    the run was made was reused (the run died); the run's own live process keeps it running
    even when its heartbeat is an hour late (a writer stuck on a lock)."""
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        now = time.time()
        with open_lab(lab) as opened:
            for run_id, pid, made in (("reused01", later.pid, now - 7200),
                                      ("stuck001", os.getpid(), now)):
                opened.runs.create({"id": run_id, "name": run_id, "project": "p",
                                    "status": "running", "created_at": made,
                                    "heartbeat_at": made - 3600 if run_id == "stuck001"
                                    else made, "pid": pid, "host": socket.gethostname()})
            assert opened.runs.reap_crashed(now=now + 3600) == ["reused01"]
            reused = opened.runs.get("reused01")
            assert reused.status == "crashed" and "belongs to a later process" in reused.reason
            assert opened.runs.get("stuck001").status == "running"
            # another host: only the heartbeat can tell
            opened.runs.create({"id": "remote01", "name": "remote01", "project": "p",
                                "status": "running", "created_at": now,
                                "heartbeat_at": now, "pid": os.getpid(), "host": "elsewhere"})
            assert opened.runs.reap_crashed(now=now + 30) == []
            assert opened.runs.reap_crashed(now=now + 3600) == ["remote01"]
            assert "no heartbeat for 3600 s" in opened.runs.get("remote01").reason
    finally:
        later.kill()
        later.wait()


@pytest.mark.parametrize("metric, lower", [
    ("val_loss", True), ("eval/loss", True), ("valLoss", True), ("train/time_s", True),
    ("latency_ms", True), ("eval/bpb", True), ("word_error_rate", True), ("eval/ppl", True),
    ("eval/accuracy", False), ("eval/sentiment", False), ("terrain_acc", False),
    ("throughput/tokens_per_s", False), ("mfu", False),
])
def test_metric_direction_goes_by_whole_words(metric: str, lower: bool) -> None:
    from stepstone.method.baselines import lower_is_better

    assert lower_is_better(metric) is lower
