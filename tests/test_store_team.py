"""The team store's own parts: the dialect, store.toml, STEPSTONE_STORE, `init --store`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from stepstone.errors import LabError, UsageError
from stepstone.store import init_lab, open_lab
from stepstone.store.db import POSTGRES, SQLITE, mask_url
from stepstone.store.lab import Lab, connect, find_store
from stepstone.store.target import STORE_FILE, offline_target, target_of_folder, write_store_file


def test_the_dialect_rewrites_only_what_differs():
    ddl = "CREATE TABLE t (id {serial_pk}, n INTEGER NOT NULL, b {blob}, s TEXT)"
    assert POSTGRES.sql(ddl) == (
        "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, n BIGINT NOT NULL, b BYTEA, s TEXT)")
    assert SQLITE.sql(ddl) == (
        "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL, b BLOB, s TEXT)")
    query = "SELECT 'INTEGER 100%' FROM t WHERE name LIKE ? AND id = ?"
    assert POSTGRES.sql(query) == "SELECT 'INTEGER 100%%' FROM t WHERE name ILIKE %s AND id = %s"
    assert SQLITE.sql(query) == query


def test_passwords_never_show():
    assert mask_url("postgresql://me:s3cr%40t@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert mask_url("postgresql://me@db/x") == "postgresql://me@db/x"


def test_store_file_is_read_with_relative_objects(tmp_path, monkeypatch):
    root = tmp_path / ".stepstone"
    root.mkdir()
    write_store_file(root, "postgresql://me@db/research", "shared/objects")
    target = target_of_folder(root)
    assert target.is_postgres and target.database == "postgresql://me@db/research"
    assert target.objects == str(tmp_path / "shared" / "objects")
    assert target.location == str(root)
    monkeypatch.setenv("STEPSTONE_OBJECTS", "s3://bucket/objects")
    assert target_of_folder(root).objects == "s3://bucket/objects"
    (root / STORE_FILE).write_text("url = 'sqlite:///nope'\n")
    with pytest.raises(LabError, match="postgresql://"):
        target_of_folder(root)
    (root / STORE_FILE).write_text("url = \n")
    with pytest.raises(LabError, match="not valid TOML"):
        target_of_folder(root)


def test_where_the_store_is_found(tmp_path, monkeypatch):
    local = init_lab(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert find_store().database == str(local / "lab.db")
    monkeypatch.setenv("STEPSTONE_STORE", "postgresql://me@db/team")
    assert find_store().database == "postgresql://me@db/team"  # the env beats the folder
    assert find_store(str(local)).database == str(local / "lab.db")  # --lab beats the env
    monkeypatch.setenv("STEPSTONE_LAB", str(local))
    assert find_store().root == local
    monkeypatch.setenv("STEPSTONE_LAB", "postgresql://me@db/other")
    assert find_store().database == "postgresql://me@db/other"


def test_init_store_needs_a_postgres_url(tmp_path):
    with pytest.raises(UsageError, match="postgresql://"):
        init_lab(tmp_path, store="mysql://me@db/x")
    with pytest.raises(UsageError, match="--objects goes with --store"):
        init_lab(tmp_path, objects=str(tmp_path / "o"))
    with pytest.raises(LabError, match="cannot connect"):
        init_lab(tmp_path, store="postgresql://me@127.0.0.1:1/x?connect_timeout=2")
    assert not (tmp_path / ".stepstone" / STORE_FILE).exists()  # nothing left behind


# -- against a server ---------------------------------------------------------------------------
@pytest.mark.postgres
def test_init_command_with_store_then_sdk_and_cli(pg_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPSTONE_")}
    shared = tmp_path / "team-objects"

    def stepstone(*args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "stepstone", *args], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout

    made = json.loads(stepstone("init", "--store", pg_url, "--objects", str(shared), "--json"))
    assert made["lab"] == str(tmp_path / ".stepstone")
    assert "objects" in (tmp_path / ".stepstone" / STORE_FILE).read_text()
    stepstone("init")  # again: checks, changes nothing
    (tmp_path / "train.py").write_text(textwrap.dedent("""
        import stepstone
        run = stepstone.init(project="team", config={"lr": 0.1})
        for step in range(20):
            run.log({"loss": 1.0 / (step + 1)})
        print("hello")
        run.finish()
    """))
    subprocess.run([sys.executable, "train.py"], cwd=tmp_path, env=env, check=True, timeout=120)
    runs = json.loads(stepstone("runs", "--json"))
    assert [r["status"] for r in runs] == ["finished"]
    assert not (tmp_path / ".stepstone" / "lab.db").exists()
    with open_lab(tmp_path / ".stepstone") as lab:
        record = lab.runs.get(runs[0]["id"])
        manifest = lab.snapshot_manifest(record.code_snapshot or "")
        assert "train.py" in manifest["files"]
    assert (shared / record.code_snapshot[:2] / record.code_snapshot).exists()
    assert json.loads(stepstone("migrate", "--json"))["migrations"] == []


@pytest.mark.postgres
def test_saved_files_and_output_go_to_the_shared_objects(pg_url, tmp_path):
    shared = tmp_path / "team-objects"
    root = init_lab(tmp_path, store=pg_url, objects=str(shared))
    (tmp_path / "weights.bin").write_bytes(b"weights")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPSTONE_")}
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import stepstone
        run = stepstone.init(project="team", id="save0001", lab={str(root)!r})
        run.save({str(tmp_path / "weights.bin")!r})
        print("hello")
        run.finish()
    """)], cwd=tmp_path, env=env, check=True, timeout=120)
    with open_lab(root) as lab:
        assert lab.run_object("save0001", "artifact", "weights.bin") == b"weights"
        assert b"hello" in lab.run_object("save0001", "log", "output.log")


@pytest.mark.postgres
def test_a_bare_store_url_in_the_environment(pg_url, tmp_path, monkeypatch):
    init_lab(tmp_path / "admin", store=pg_url, objects=str(tmp_path / "objects"))
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPSTONE_")}
    env.update(STEPSTONE_STORE=pg_url, STEPSTONE_OBJECTS=str(tmp_path / "objects"))
    subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import stepstone
        run = stepstone.init(project="bare", id="bare0001")
        run.log({"x": 1.5})
        run.finish()
    """)], cwd=work, env=env, check=True, timeout=120)
    assert not (work / ".stepstone").exists()  # no local lab was made
    monkeypatch.setenv("STEPSTONE_STORE", pg_url)
    monkeypatch.setenv("STEPSTONE_OBJECTS", str(tmp_path / "objects"))
    with open_lab() as lab:
        assert lab.root is None and lab.target.location == pg_url
        assert lab.metrics.history("bare0001")["x"].values == [1.5]
        assert lab.runs.get("bare0001").code_snapshot


@pytest.mark.postgres
def test_an_empty_store_asks_for_init(pg_url):
    with pytest.raises(LabError, match="is empty"):
        open_lab(pg_url)


@pytest.mark.postgres
def test_readonly_connections_cannot_write(pg_url, tmp_path):
    from stepstone.store.db import Database

    init_lab(tmp_path, store=pg_url)
    with open_lab(tmp_path, readonly=True) as lab:
        assert lab.runs.list() == []
        with pytest.raises(Exception, match="read-only"):
            lab.put_object(b"x")
    db = Database(pg_url)
    assert db.scalar("SELECT COUNT(*) FROM objects") == 0
    db.close()


@pytest.mark.postgres
def test_deadlocks_are_retried_whole(pg_url, tmp_path):
    """Two writers that take the same rows in opposite orders: both commit, nothing is lost."""
    import threading

    from stepstone.store.db import Database

    init_lab(tmp_path, store=pg_url)
    dbs = [Database(pg_url), Database(pg_url)]
    barrier = threading.Barrier(2)
    attempts = [0, 0]

    def work(i: int) -> None:
        db = dbs[i]
        order = ["a" * 64, "b" * 64] if i == 0 else ["b" * 64, "a" * 64]

        def body() -> None:
            attempts[i] += 1
            db.execute("INSERT INTO objects (hash, size, created_at) VALUES (?, 1, 0)"
                       " ON CONFLICT (hash) DO UPDATE SET size = objects.size + 1", (order[0],))
            if attempts[i] == 1:
                barrier.wait(timeout=10)
            db.execute("INSERT INTO objects (hash, size, created_at) VALUES (?, 1, 0)"
                       " ON CONFLICT (hash) DO UPDATE SET size = objects.size + 1", (order[1],))

        db.atomic(body)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    sizes = {r["hash"][0]: r["size"] for r in dbs[0].query("SELECT hash, size FROM objects")}
    for db in dbs:
        db.close()
    assert sizes == {"a": 2, "b": 2} and sum(attempts) == 3  # one of them ran twice


@pytest.mark.postgres
def test_a_dropped_connection_loses_no_point(pg_url, tmp_path, capsys):
    import time

    import psycopg

    import stepstone

    name = f"stepstone-drop-{uuid.uuid4().hex[:8]}"  # only this test's connections are cut:
    url = f"{pg_url}&application_name={name}"  # tests beside it use the same server
    root = init_lab(tmp_path, store=url)
    run = stepstone.init(project="p", id="drop0001", lab=str(root), flush_interval=0.05,
                         save_code=False)
    for step in range(100):
        run.log({"x": float(step)})
    run.flush()
    with psycopg.connect(pg_url, autocommit=True) as admin:  # the server drops the writer
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s", (name,)).fetchall()
    assert killed
    for step in range(100, 200):
        run.log({"x": float(step)})
    time.sleep(0.5)
    run.finish()
    err = capsys.readouterr().err
    assert "keeps retrying" in err
    # each warning is one line (psycopg's message runs over three: "server closed the
    # connection unexpectedly / This probably means the server terminated abnormally / ...")
    assert [line for line in err.splitlines() if not line.startswith("stepstone: ")] == []
    with open_lab(root) as lab:
        assert lab.metrics.history("drop0001")["x"].steps == list(range(200))
        assert lab.runs.get("drop0001").status == "finished"


@pytest.mark.postgres
def test_a_store_that_is_down_records_locally_and_sync_copies_it_in(pg_url, tmp_path, capsys):
    """A run started while the team store is unreachable is kept in the lab folder's offline
    spool; `status` lists it and `stepstone sync` there copies it into the store."""
    import stepstone
    from stepstone.cli import main
    from stepstone.sdk.run import wait_for_capture

    shared = tmp_path / "team-objects"
    root = init_lab(tmp_path, store=pg_url, objects=str(shared))
    write_store_file(root, "postgresql://me:secret@127.0.0.1:1/research?connect_timeout=2",
                     str(shared))
    run = stepstone.init(project="team", config={"lr": 0.1}, lab=str(root))
    for step in range(30):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    run.finish()
    wait_for_capture()  # finish() does not wait for the code snapshot; sync copies it below
    err = capsys.readouterr().err
    assert "Recording this run in the local lab" in err and "stepstone sync" in err
    assert "secret" not in err
    assert (root / "lab.db").exists()

    write_store_file(root, pg_url, str(shared))  # the store is back
    main(["status", "--lab", str(root), "--json"])
    assert json.loads(capsys.readouterr().out)["offline_runs"] == [run.id]
    main(["status", "--lab", str(root)])
    assert f"waiting for `stepstone sync`: {run.id}" in capsys.readouterr().out
    main(["sync", "--lab", str(root), "--json"])
    assert json.loads(capsys.readouterr().out)["inserted"] > 0
    with open_lab(root) as lab:
        assert lab.target.is_postgres
        record = lab.runs.get(run.id)
        assert record.status == "finished" and record.config == {"lr": 0.1}
        assert lab.metrics.history(run.id)["loss"].steps == list(range(30))
        assert (shared / record.code_snapshot[:2] / record.code_snapshot).exists()
    main(["status", "--lab", str(root), "--json"])
    assert json.loads(capsys.readouterr().out)["offline_runs"] == []


@pytest.mark.postgres
def test_offline_mode_keeps_a_team_labs_run_local(pg_url, tmp_path):
    import stepstone

    root = init_lab(tmp_path, store=pg_url, objects=str(tmp_path / "team-objects"))
    run = stepstone.init(project="team", mode="offline", lab=str(root))
    run.log({"x": 1.0})
    run.finish()
    with open_lab(root) as lab:
        assert not lab.runs.exists(run.id)
    spool = offline_target(target_of_folder(root))
    assert spool.database == str(root / "lab.db")
    with Lab(root, connect(spool), spool) as local:
        assert local.runs.get(run.id).status == "finished"


@pytest.mark.postgres
def test_status_lists_offline_runs_of_a_store_named_by_url_alone(pg_url, tmp_path, capsys,
                                                                monkeypatch):
    """With STEPSTONE_STORE alone (no lab folder) a run recorded while the store was down goes
    to the offline lab in the user's data folder; `status` listed none of them."""
    import stepstone
    from stepstone.cli import main
    from stepstone.store.target import target_of_url

    init_lab(tmp_path / "team", store=pg_url, objects=str(tmp_path / "team-objects"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("STEPSTONE_OBJECTS", str(tmp_path / "team-objects"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STEPSTONE_STORE", "postgresql://me@127.0.0.1:1/research"
                                          "?connect_timeout=2")
    run = stepstone.init(project="team", save_code=False)
    run.log({"x": 1.0})
    run.finish()
    capsys.readouterr()
    spool = offline_target(target_of_url(pg_url))
    assert os.path.exists(spool.database)
    monkeypatch.setenv("STEPSTONE_STORE", pg_url)  # the store is back
    main(["status", "--json"])
    assert json.loads(capsys.readouterr().out)["offline_runs"] == [run.id]
    main(["status"])
    assert f"stepstone sync --lab {spool.root}`: {run.id}" in capsys.readouterr().out


@pytest.mark.postgres
def test_a_connection_cut_mid_run_is_one_line_on_stderr(pg_url, tmp_path, capsys):
    """A cut connection made psycopg say "server closed the connection unexpectedly" over
    three lines ("This probably means the server terminated abnormally ..."): each warning
    is one line."""
    import time

    import stepstone
    from _faults import Proxy

    proxy = Proxy(pg_url)
    try:
        root = init_lab(tmp_path, store=proxy.url, objects=str(tmp_path / "team-objects"))
        run = stepstone.init(project="p", id="cut00001", lab=str(root), flush_interval=0.05,
                             save_code=False)
        run.log({"x": 0.0})
        run.flush()
        proxy.cut()
        run.log({"x": 1.0})
        time.sleep(0.5)
        proxy.heal()
        run.finish()
    finally:
        proxy.close()
    err = capsys.readouterr().err
    assert "keeps retrying" in err
    assert [line for line in err.splitlines() if not line.startswith("stepstone: ")] == []
