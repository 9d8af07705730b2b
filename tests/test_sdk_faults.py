"""Nothing logged is lost or written twice, with real faults: values no column holds, a disk
that fills up through ``finish()``, a store that goes away through it, a COMMIT whose reply is
lost (issue 17: defects 1, 2, 3, 9)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

import stepstone
from _cli import cli
from _faults import Proxy, fill, tiny_disk
from stepstone.cli import main
from stepstone.sdk.run import wait_for_capture
from stepstone.store import init_lab, open_lab
from stepstone.store.batches import claim_batch
from stepstone.store.target import StoreTarget


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPSTONE_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def test_values_no_column_holds_are_dropped_with_one_warning_and_recording_goes_on(
        lab, capsys):
    np = pytest.importorskip("numpy")
    run = stepstone.init(project="bad", lab=lab, flush_interval=0.05, save_code=False)
    run.log({"x": 0.0, "bad": 1.0}, step=0)
    run.log({"x": 1.0, "bad": 2**1100}, step=1)  # an int no float64 holds
    run.log({"x": 2.0}, step=2**63)  # a step no int64 holds
    run.log({"x": 3.0, "long": np.longdouble(1.5)}, step=3)  # .item() gives itself back
    run.log({"x": 3.5, 7: 1.0}, step=3)  # a name that is not text: the call keeps "x"
    run.flush()
    for step in range(4, 100):
        run.log({"x": float(step), "bad": float(step)}, step=step)
    run.finish()
    err = capsys.readouterr().err
    assert err.count("'bad'") == 1 and err.count("'step'") == 1 and "not 7" in err, err
    with open_lab(lab) as opened:
        history = opened.metrics.history(run.id)
        record = opened.runs.get(run.id)
    assert history["x"].steps == [0, 1, 3, 3, *range(4, 100)]
    assert history["bad"].steps == [0, *range(4, 100)]
    assert history["long"].values == [1.5]
    assert record.status == "finished" and record.summary["bad"] == 99.0


def test_a_batch_the_database_refuses_is_dropped_alone_and_the_writer_goes_on(lab, capsys):
    run = stepstone.init(project="refused", lab=lab, flush_interval=0.05, save_code=False)
    for step in range(10):
        run.log({"x": float(step)})
    run.flush()
    run.log({"x": 10.0, "\ud800": 1.0})  # a lone surrogate: SQLite cannot encode the key
    run.flush()
    for step in range(11, 100):
        run.log({"x": float(step)})
    run.finish()
    err = capsys.readouterr().err
    assert "the lab refused 2 logged points" in err and "recording goes on" in err, err
    with open_lab(lab) as opened:
        assert opened.metrics.history(run.id)["x"].steps == [*range(10), *range(11, 100)]
        assert opened.runs.get(run.id).status == "finished"


def test_a_refusal_over_several_lines_is_warned_in_one(lab, capsys):
    """A database error that runs over lines (PostgreSQL's DETAIL, a trigger's message) is
    warned on one line."""
    import sqlite3

    run = stepstone.init(project="refused", lab=lab, flush_interval=0.05, save_code=False)
    run.flush()
    with sqlite3.connect(lab / "lab.db") as conn:  # a real refusal, two lines long
        conn.execute("CREATE TRIGGER poison BEFORE INSERT ON metric_chunks "
                     "WHEN NEW.key = 'poison' BEGIN "
                     "SELECT RAISE(ABORT, 'poison refused\nDETAIL: more'); END")
    run.log({"poison": 1.0})
    run.flush()
    run.log({"x": 1.0})
    run.finish()
    lines = [line for line in capsys.readouterr().err.splitlines() if "refused" in line]
    assert len(lines) == 1 and "poison refused" in lines[0], lines
    assert "DETAIL" not in lines[0] and "recording goes on" in lines[0], lines


def test_a_flush_claimed_once_is_not_written_again(store_target: StoreTarget):
    with open_lab(store_target.location) as lab:
        now = time.time()
        lab.runs.create({"id": "claim001", "name": "c", "project": "p", "status": "running",
                         "created_at": now, "heartbeat_at": now})
        claims = []
        for seq in (1, 1, 2, 1, 3, 3):
            with lab.db.transaction():
                claims.append(claim_batch(lab.db, "claim001", "w1", seq))
        with lab.db.transaction():
            claims.append(claim_batch(lab.db, "claim001", "w2", 1))  # another writer
    assert claims == [True, False, True, False, True, False, True]


@pytest.mark.postgres
def test_a_lost_commit_reply_writes_nothing_twice(pg_url, tmp_path, capsys):
    """The proxy forwards the writer's COMMIT (the server commits), then drops the connection
    instead of the reply: the writer retries the batch, and the retry adds nothing."""
    proxy = Proxy(pg_url)
    try:
        root = init_lab(tmp_path, store=proxy.url)
        run = stepstone.init(project="p", id="commit01", lab=str(root), flush_interval=0.05,
                             save_code=False)
        for step in range(1000):
            run.log({"x": float(step), "y": 1.0})
        run.flush()
        proxy.drop_commit_replies(3)
        for step in range(1000, 3000):
            run.log({"x": float(step), "y": 1.0})
            if step % 200 == 0:
                time.sleep(0.06)
        run.finish()
    finally:
        proxy.close()
    assert proxy.dropped == 3
    assert "keeps retrying" in capsys.readouterr().err
    with open_lab(pg_url) as lab:
        assert lab.metrics.history("commit01")["x"].steps == list(range(3000))
        assert lab.metrics.count("commit01") == 6000
        assert lab.runs.get("commit01").status == "finished"


@pytest.mark.postgres
def test_a_store_down_through_finish_is_spooled_and_sync_copies_it_once(pg_url, tmp_path):
    proxy = Proxy(pg_url)
    shared = tmp_path / "team-objects"
    try:
        root = init_lab(tmp_path, store=proxy.url, objects=str(shared))
        script = tmp_path / "train.py"
        script.write_text(textwrap.dedent("""
            import sys, time, stepstone
            run = stepstone.init(project="down", id="down0001", flush_interval=0.05)
            for step in range(4000):
                run.log({"x": float(step)})
                if step == 1000:
                    run.flush()
                    print("cut", flush=True)
                    sys.stdin.readline()  # the store goes away here, until the end
            run.finish()
            print("training finished", flush=True)
        """))
        proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=_env(
                                    STEPSTONE_LAB=str(root), XDG_DATA_HOME=str(tmp_path / "d")))
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "cut"
        proxy.cut()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "training finished" in out and "Traceback" not in err
        assert f"stepstone sync --lab {root}" in err, err
        proxy.heal()
        with open_lab(root) as lab:
            assert lab.metrics.count("down0001") < 4000  # the store lacks the end
        for _ in range(2):  # the second sync adds nothing
            main(["sync", "--lab", str(root), "--to", str(root)])
            with open_lab(root) as lab:
                assert lab.metrics.history("down0001")["x"].steps == list(range(4000))
                assert lab.runs.get("down0001").status == "finished"
    finally:
        proxy.close()


def test_a_full_disk_through_finish_raises_nothing_and_loses_nothing(tmp_path):
    """The lab lives on a 2 MB tmpfs filled to the brim before the end of the run: no SDK
    call raises (log, save, finish), the warning says "disk is full", and what the lab could
    not take is in the spool, which `stepstone sync` copies in once the disk has room.
    Where no tmpfs can be mounted, a file-size limit fills every disk: the loss is counted."""
    with tiny_disk(tmp_path / "disk") as disk:
        base = disk or tmp_path
        root = init_lab(base)
        data = tmp_path / "data"
        script = tmp_path / "train.py"
        script.write_text(textwrap.dedent(f"""
            import os, resource, signal, sys, stepstone
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from _faults import fill
            run = stepstone.init(project="full", id="fulldisk", flush_interval=0.05)
            run.log({{"x": 0.0}})
            run.flush()
            if {disk is None}:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 18, 1 << 18))
            else:
                filler = fill({str(base)!r})
            for step in range(1, 20000):
                run.log({{"x": float(step)}})
                print("step", step)
            open({str(tmp_path / "ckpt.bin")!r}, "wb").write(b"x" * 100000)
            run.save({str(tmp_path / "ckpt.bin")!r})
            run.finish()
            sys.stdout = sys.__stdout__
            again = None
            if {disk is not None}:  # full again: the first run's end freed its write-ahead log
                os.mkdir({str(base / "again")!r})
                again = fill({str(base / "again")!r})
            stepstone.init(project="full", id="second1").finish()  # on the full disk
            if again is not None:
                again.unlink()
            print("training finished", flush=True)
        """))
        (tmp_path / "ckpt.bin").write_bytes(b"")
        result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, text=True,
                                capture_output=True, timeout=300, env=_env(
                                    STEPSTONE_LAB=str(root), XDG_DATA_HOME=str(data)))
        assert result.returncode == 0, result.stderr
        assert "training finished" in result.stdout and "Traceback" not in result.stderr
        assert "NOT being recorded" in result.stderr  # the second init(), on the full disk
        if disk is None:  # a file-size limit: SQLite says "disk I/O error"
            assert "logged points are lost" in result.stderr, result.stderr
            return
        assert "disk is full" in result.stderr and "cannot rollback" not in result.stderr
        spool = next(data.glob("stepstone/spool/*/.stepstone"))
        code, _out, err = cli(spool, "sync", "--to", str(root))  # still full: one clear line
        assert code == 1 and "is full" in err and "unexpected" not in err, err
        (base / "filler").unlink()
        assert f"stepstone sync --lab {spool} --to {root}" in result.stderr, result.stderr
        for _ in range(2):
            main(["sync", "--lab", str(spool), "--to", str(root), "--json"])
            with open_lab(root) as lab:
                assert lab.metrics.history("fulldisk")["x"].steps == list(range(20000))
                assert lab.runs.get("fulldisk").status == "finished"


def test_a_migration_number_that_landed_late_is_applied_to_a_newer_lab(store_target):
    """Migration numbers are handed out ahead: a lab upgraded to v8 before v6 existed lacks
    v6, and an upgrade fills the gap."""
    from stepstone.store.migrations import LATEST, schema_version, upgrade

    with open_lab(store_target.location) as lab:
        with lab.db.transaction():
            lab.db.execute("DROP TABLE run_writers")
            lab.db.execute("DELETE FROM schema_migrations WHERE version = 6")
        assert schema_version(lab.db) == 5
        assert upgrade(lab.db) == (5, LATEST)
        assert "run_writers" in lab.db.tables()


def test_status_lists_the_spools_waiting_for_sync(lab, tmp_path, monkeypatch):
    """What the SDK spooled at a run's end (the lab could not take it) shows in ``status``
    with the exact ``stepstone sync`` command, until that command has copied it in."""
    import json

    from stepstone.store.lab import find_store
    from stepstone.store.target import spool_targets

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    spool = spool_targets(find_store(str(lab)))[-1]
    run = stepstone.init(project="p", id="spooled1", lab=str(spool.root), save_code=False)
    run.log({"x": 1.0})  # the spool holds the run and its flushes, as a run's end leaves it
    run.finish()
    wait_for_capture()  # its start-up capture's write too, not one landing after the sync
    command = f"stepstone sync --lab {spool.root} --to {lab}"
    code, out, err = cli(lab, "status")
    assert code == 0 and command in out and "spooled1" in out, out + err
    spools = json.loads(cli(lab, "status", "--json")[1])["spools"]
    assert spools == [{"spool": str(spool.root), "runs": ["spooled1"], "sync": command}]
    assert cli(spool.root, "sync", "--to", str(lab))[0] == 0
    code, out, err = cli(lab, "status")
    assert code == 0 and "waiting" not in out and "spooled1" in out, out  # copied in


def _log_through_an_outage(run: stepstone.Run, first: int, chunks: int) -> tuple[int, int]:
    """Log ``chunks`` chunks of 250 calls of two keys (500 points), each flushed, from step
    ``first``; return the next step and the most points the writer kept in memory after any
    call (a batch holds at most one chunk)."""
    writer = run._writer
    assert writer is not None
    most = 0
    step = first
    for _ in range(chunks):
        for _ in range(250):
            run.log({"x": float(step), "y": 1.0}, step=step)
            step += 1
            most = max(most, writer.backlog_points)
        run.flush()
        most = max(most, writer.backlog_points)
    return step, most


SPILL_AT = 5000  # STEPSTONE_SPILL_POINTS in the tests: passed several times by each outage


def _through_an_outage(run: stepstone.Run, begin: Callable[[], Callable[[], None]],
                       chunks: int, finish: Callable[[], object] | None = None,
                       ) -> tuple[int, int]:
    """Log 4 chunks, ``begin`` an outage (it returns what ends it) and log ``chunks`` more, end
    it, log 4 and ``finish`` (by default ``run.finish``, the capture's last write included);
    return the steps logged and the most points the writer kept in memory during the outage."""
    step, _ = _log_through_an_outage(run, 0, 4)
    end = begin()
    step, most = _log_through_an_outage(run, step, chunks)
    end()
    step, _ = _log_through_an_outage(run, step, 4)
    (finish or run.finish)()
    wait_for_capture()  # a run that ends before its capture: the close says it
    return step, most


def _cut(proxy: Proxy) -> Callable[[], None]:
    proxy.cut()
    return proxy.heal


def _full(disk: Path) -> Callable[[], None]:
    return fill(disk).unlink


@pytest.mark.postgres
def test_a_long_store_outage_spills_to_the_spool_and_sync_copies_every_point_once(
        pg_url, tmp_path, monkeypatch, capsys):
    """The store is cut for 30,000 points: past the bound the batches kept in memory go to
    the spool (one warning naming it and the sync command), the writer goes on retrying, and
    once the store is back the rest goes to it. Sync makes every point there once."""
    monkeypatch.setenv("STEPSTONE_SPILL_POINTS", str(SPILL_AT))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    proxy = Proxy(pg_url)
    try:
        root = init_lab(tmp_path, store=proxy.url, objects=str(tmp_path / "team-objects"))
        run = stepstone.init(project="p", id="spill001", lab=str(root), flush_interval=0.05,
                             save_code=False, system_metrics=False)
        step, most = _through_an_outage(run, lambda: _cut(proxy), 60)
        assert most <= SPILL_AT + 500, most
        err = capsys.readouterr().err
        command = f"stepstone sync --lab {root} --to {root}"  # the offline lab beside store.toml
        assert err.count("moved from memory to the spool") == 1, err
        assert err.count(command) == 2, err  # the warning and the run's last line
        with open_lab(pg_url) as lab:
            # the spool holds the rest: the bound was passed several times
            assert 2 * 2000 < lab.metrics.count("spill001") <= 2 * step - 3 * SPILL_AT
            assert lab.runs.get("spill001").status == "finished"
        code, out, _err = cli(root, "status")
        assert code == 0 and command in out and "spill001" in out, out
        for _ in range(2):  # the second sync adds nothing
            main(["sync", "--lab", str(root), "--to", str(root)])
            with open_lab(pg_url) as lab:
                history = lab.metrics.history("spill001")
                assert sorted(history["x"].steps) == list(range(step))  # each once
                assert lab.metrics.count("spill001") == 2 * step
                record = lab.runs.get("spill001")
                assert record.status == "finished" and record.last_step == step - 1
                assert record.summary["x"] == float(step - 1)
        assert "waiting" not in cli(root, "status")[1]
    finally:
        proxy.close()



@pytest.mark.postgres
def test_sync_keeps_the_newer_row_of_a_run_resumed_after_its_spill_and_a_process_warns_once(
        pg_url, tmp_path, monkeypatch, capsys):
    """Two runs of one process spill to one spool through two outages: one warning says where
    and how to sync. What a spilled flush set on the run (a config value, a summary value set
    during the outage alone) reaches the store once it is back. The first run is then resumed
    with the store up and logs on: the store's row is newer than the spool's, and syncing the
    spool keeps it (its end, last step, config and summary) while every point of both runs
    lands once."""
    monkeypatch.setenv("STEPSTONE_SPILL_POINTS", str(SPILL_AT))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    proxy = Proxy(pg_url)

    def outage(run: stepstone.Run) -> Callable[[], None]:
        heal = _cut(proxy)
        run.config.update({"phase": "outage"})
        run.summary["val"] = 2.0
        return heal

    try:
        root = init_lab(tmp_path, store=proxy.url, objects=str(tmp_path / "team-objects"))
        steps = {}
        for run_id in ("spill010", "spill011"):
            run = stepstone.init(project="p", id=run_id, lab=str(root), flush_interval=0.05,
                                 config={"phase": "before"}, save_code=False,
                                 system_metrics=False)
            run.summary["val"] = 1.0
            steps[run_id], _ = _through_an_outage(run, partial(outage, run), 30)
        run = stepstone.init(project="p", id="spill010", lab=str(root), resume="allow",
                             flush_interval=0.05, save_code=False, system_metrics=False)
        steps["spill010"], _ = _log_through_an_outage(run, steps["spill010"], 2)
        run.summary["best"] = "resumed"
        run.finish()
        wait_for_capture()
        err = capsys.readouterr().err
        command = f"stepstone sync --lab {root} --to {root}"
        assert err.count("moved from memory to the spool") == 1, err
        assert err.count(command) == 3, err  # the warning and the two spilled runs' last lines
        with open_lab(pg_url) as lab:
            newest = lab.runs.get("spill010")
            other = lab.runs.get("spill011")
        assert newest.last_step == steps["spill010"] - 1 and newest.summary["best"] == "resumed"
        for record in (newest, other):  # set in the spilled flushes alone
            assert record.config["phase"] == "outage" and record.summary["val"] == 2.0
        for _ in range(2):  # the second sync adds nothing
            code, out, err = cli(root, "sync", "--to", str(root))
            assert code == 0 and "kept" in out, out + err
            with open_lab(pg_url) as lab:
                for run_id, step in steps.items():
                    assert sorted(lab.metrics.history(run_id)["x"].steps) == list(range(step))
                    assert lab.metrics.count(run_id) == 2 * step
                    assert lab.runs.get(run_id).status == "finished"
                record = lab.runs.get("spill010")
            assert (record.ended_at, record.last_step, record.config, record.summary) == (
                newest.ended_at, newest.last_step, newest.config, newest.summary)
        assert "waiting" not in cli(root, "status")[1]
    finally:
        proxy.close()


def _killed_after_an_outage(outage: str, where: str) -> None:
    """Run in a process of its own by the test below: a run through an outage (``cut``: a
    store behind a proxy, ``full``: a lab on the tmpfs ``where``), killed once the lab works
    again and has taken the run's last points."""
    import signal

    if outage == "cut":
        proxy = Proxy(os.environ["KILL_TEST_PG"])
        root = init_lab(Path(where), store=proxy.url, objects=str(Path(where) / "objects"))
        begin: Callable[[], Callable[[], None]] = lambda: _cut(proxy)  # noqa: E731
    else:
        root = init_lab(Path(where))
        begin = lambda: _full(Path(where))  # noqa: E731
    run = stepstone.init(project="p", id="killed01", lab=str(root), flush_interval=0.05,
                         save_code=False, system_metrics=False)
    _through_an_outage(run, begin, 30, finish=lambda: os.kill(os.getpid(), signal.SIGKILL))


@pytest.mark.parametrize("outage", [pytest.param("cut", marks=pytest.mark.postgres), "full"])
def test_a_run_killed_after_its_spill_keeps_its_newer_row_through_sync(
        outage, tmp_path, request):
    """The run spills through an outage, the lab works again and takes the rest, then the
    process is killed: the lab's row (crashed, its last step and summary) is newer than the
    spool's copy, and syncing the spool keeps it while every point lands once."""
    import signal

    env = _env(STEPSTONE_SPILL_POINTS=str(SPILL_AT), XDG_DATA_HOME=str(tmp_path / "data"))
    with contextlib.ExitStack() as stack:
        if outage == "cut":
            env["KILL_TEST_PG"] = lab_at = request.getfixturevalue("pg_url")
            where = tmp_path / "project"
            spool = where / ".stepstone"  # the offline lab beside store.toml
            to = [lab_at, "--objects", str(where / "objects")]  # the proxy died with it
        else:
            disk = stack.enter_context(tiny_disk(tmp_path / "disk"))
            assert disk is not None, "this test needs a tmpfs (run it as root)"
            where = disk
            lab_at = str(disk / ".stepstone")
            to = [lab_at]
        result = subprocess.run(
            [sys.executable, "-c", "import test_sdk_faults as t; "
             f"t._killed_after_an_outage({outage!r}, {str(where)!r})"],
            cwd=Path(__file__).parent, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == -signal.SIGKILL, result.stderr
        assert result.stderr.count("moved from memory to the spool") == 1, result.stderr
        if outage == "full":
            spool = next((tmp_path / "data").glob("stepstone/spool/*/.stepstone"))
        step = 250 * (4 + 30 + 4)
        with open_lab(lab_at) as lab:
            assert lab.runs.reap_crashed() == ["killed01"]  # what any reader of the lab does
            killed = lab.runs.get("killed01")
        assert killed.status == "crashed" and killed.last_step == step - 1
        assert killed.summary["x"] == float(step - 1)
        for _ in range(2):
            main(["sync", "--lab", str(spool), "--to", *to])
            with open_lab(lab_at) as lab:
                lab.runs.reap_crashed()
                assert sorted(lab.metrics.history("killed01")["x"].steps) == list(range(step))
                assert lab.metrics.count("killed01") == 2 * step
                record = lab.runs.get("killed01")
            assert (record.status, record.ended_at, record.last_step, record.summary) == (
                killed.status, killed.ended_at, killed.last_step, killed.summary)


@pytest.mark.postgres
def test_a_flush_committed_before_its_reply_was_lost_and_then_spilled_is_synced_once(
        pg_url, tmp_path, monkeypatch, capsys):
    """The store commits a flush but its reply is lost, and the store is cut before the writer
    tries again: the flush is spilled with the rest, so it is in the store and in the spool;
    sync matches it by content and copies it no second time."""
    import json

    monkeypatch.setenv("STEPSTONE_SPILL_POINTS", str(SPILL_AT))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    proxy = Proxy(pg_url)
    try:
        root = init_lab(tmp_path, store=proxy.url, objects=str(tmp_path / "team-objects"))
        run = stepstone.init(project="p", id="spill004", lab=str(root), flush_interval=2.0,
                             save_code=False, system_metrics=False)
        step, _ = _log_through_an_outage(run, 0, 4)
        proxy.drop_commit_replies(1)
        step, _ = _log_through_an_outage(run, step, 1)  # committed, the reply lost
        proxy.cut()  # before the next try, 2 s later
        step, _ = _log_through_an_outage(run, step, 20)
        proxy.heal()
        step, _ = _log_through_an_outage(run, step, 4)
        run.finish()
        wait_for_capture()
        assert proxy.dropped == 1
        assert capsys.readouterr().err.count("moved from memory to the spool") == 1
        code, out, err = cli(root, "sync", "--to", str(root), "--json")
        assert code == 0, err
        assert json.loads(out)["tables"]["metric_chunks"]["unchanged"] >= 1  # in both
        with open_lab(pg_url) as lab:
            assert sorted(lab.metrics.history("spill004")["x"].steps) == list(range(step))
            assert lab.metrics.count("spill004") == 2 * step
    finally:
        proxy.close()


def test_a_disk_full_for_long_spills_to_the_spool_and_sync_copies_every_point_once(
        tmp_path, monkeypatch, capsys):
    """The lab's disk (a 2 MB tmpfs) is full for 30,000 points, then has room again: the same
    as a store outage, the spool on another disk."""
    monkeypatch.setenv("STEPSTONE_SPILL_POINTS", str(SPILL_AT))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with tiny_disk(tmp_path / "disk") as disk:
        assert disk is not None, "this test needs a tmpfs (run it as root)"
        root = init_lab(disk)
        run = stepstone.init(project="p", id="spill002", lab=str(root), flush_interval=0.05,
                             save_code=False, system_metrics=False)
        step, most = _through_an_outage(run, lambda: _full(disk), 60)
        assert most <= SPILL_AT + 500, most
        err = capsys.readouterr().err
        spool = next((tmp_path / "data").glob("stepstone/spool/*/.stepstone"))
        command = f"stepstone sync --lab {spool} --to {root}"
        assert "disk is full" in err and err.count("moved from memory to the spool") == 1, err
        assert err.count(command) == 2, err
        for _ in range(2):
            main(["sync", "--lab", str(spool), "--to", str(root)])
            with open_lab(root) as lab:
                assert sorted(lab.metrics.history("spill002")["x"].steps) == list(range(step))
                assert lab.metrics.count("spill002") == 2 * step
                assert lab.runs.get("spill002").status == "finished"


def test_when_the_spool_is_full_too_the_backlog_stays_in_memory_and_nothing_is_lost(
        tmp_path, monkeypatch, capsys):
    """The lab and its spool on one full disk: past the bound the writer says once that no
    spool takes the backlog, keeps it in memory (which grows) and retries; once the disk has
    room the lab takes all of it."""
    monkeypatch.setenv("STEPSTONE_SPILL_POINTS", str(SPILL_AT))
    with tiny_disk(tmp_path / "disk") as disk:
        assert disk is not None, "this test needs a tmpfs (run it as root)"
        monkeypatch.setenv("XDG_DATA_HOME", str(disk / "data"))
        root = init_lab(disk)
        run = stepstone.init(project="p", id="spill003", lab=str(root), flush_interval=0.05,
                             save_code=False, system_metrics=False)
        step, most = _through_an_outage(run, lambda: _full(disk), 30)
        assert most > 2 * SPILL_AT, most  # nothing dropped: memory grew
        err = capsys.readouterr().err
        assert err.count("no spool takes the") == 1 and "disk is full" in err, err
        assert "moved from memory" not in err and "could not be fully saved" not in err, err
        with open_lab(root) as lab:
            assert lab.metrics.history("spill003")["x"].steps == list(range(step))
            assert lab.metrics.count("spill003") == 2 * step
            assert lab.runs.get("spill003").status == "finished"
        code, out, _err = cli(root, "status")
        assert code == 0 and "waiting" not in out, out + _err


def test_the_spill_bound_comes_from_the_environment_and_a_bad_value_is_reported(
        monkeypatch, capsys):
    from stepstone.sdk.writer import SPILL_POINTS, spill_bound

    assert spill_bound() == SPILL_POINTS
    monkeypatch.setenv("STEPSTONE_SPILL_POINTS", "5000")
    assert spill_bound() == 5000
    monkeypatch.setenv("STEPSTONE_SPILL_POINTS", "lots")
    assert spill_bound() == SPILL_POINTS
    assert spill_bound() == SPILL_POINTS  # the next run of the process: said once
    assert capsys.readouterr().err.count("STEPSTONE_SPILL_POINTS='lots' is not a number") == 1
