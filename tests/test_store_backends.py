"""The store test-suite, run against SQLite and PostgreSQL alike (``store_target``)."""

from __future__ import annotations

import math
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from stepstone.errors import LabError, SchemaVersionError, UsageError
from stepstone.store import migrations, open_lab
from stepstone.store.db import Database
from stepstone.store.lab import Lab
from stepstone.store.metrics import Chunk
from stepstone.store.objects import RunObject
from stepstone.store.schema_core import Migration
from stepstone.store.target import StoreTarget, open_objects
from stepstone.store.team import sync


def _open(target: StoreTarget) -> Lab:
    return open_lab(target.location)


def _run_row(run_id: str, **extra: object) -> dict[str, object]:
    now = time.time()
    row: dict[str, object] = {"id": run_id, "name": f"run-{run_id}", "project": "p",
                              "status": "running", "created_at": now, "heartbeat_at": now}
    row.update(extra)
    return row


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPSTONE_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


# -- schema --------------------------------------------------------------------------------
def test_migrations_are_recorded_and_integers_are_64_bit(store_target):
    with _open(store_target) as lab:
        versions = [r["version"] for r in lab.db.query(
            "SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == [m.version for m in migrations.MIGRATIONS]
        assert {"runs", "run_configs", "metric_chunks", "objects"} <= lab.db.tables()
        big = 2**40 + 1
        lab.runs.create(_run_row("big00001", seed=big, last_step=big, pid=2**31 + 5))
        record = lab.runs.get("big00001")
        assert (record.seed, record.last_step, record.pid) == (big, big, 2**31 + 5)
        lab.put_object(b"")  # size 0 and a 64-bit size column alike
        assert lab.db.scalar("SELECT SUM(size) FROM objects") == 0


# -- runs ----------------------------------------------------------------------------------
def test_runs_create_get_and_list(store_target):
    with _open(store_target) as lab:
        lab.runs.create(_run_row("aaaa1111", name="Brisk-Otter", tags=["sweep", "a"]),
                        {"optim": {"lr": 0.1}, "steps": 3})
        lab.runs.create(_run_row("bbbb2222", name="calm-heron", project="q", status="finished"))
        lab.runs.create(_run_row("bbbb3333", name="calm-heron", project="q"))
        assert lab.runs.get("aaaa1111").config == {"optim": {"lr": 0.1}, "steps": 3}
        assert lab.runs.get("Brisk-Otter").id == "aaaa1111"
        assert lab.runs.get("aaaa").tags == ["sweep", "a"]
        with pytest.raises(UsageError, match="2 runs are named"):
            lab.runs.get("calm-heron")
        assert {r.id for r in lab.runs.list(project="q")} == {"bbbb2222", "bbbb3333"}
        assert [r.id for r in lab.runs.list(status="finished")] == ["bbbb2222"]
        assert [r.id for r in lab.runs.list(tag="sweep")] == ["aaaa1111"]
        assert [r.id for r in lab.runs.list(name="brisk")] == ["aaaa1111"]  # any case
        assert len(lab.runs.list(limit=2)) == 2
        assert lab.runs.list(ids=[]) == []
        lab.runs.update("bbbb3333", last_step=10)
        lab.runs.update("bbbb3333", last_step=4)  # never goes back
        assert lab.runs.get("bbbb3333").last_step == 10
        # a status written since the caller read it stands (a run's own end, a cancel's mark)
        assert not lab.runs.update("bbbb2222", if_status=("running",), status="killed")
        assert lab.runs.get("bbbb2222").status == "finished"
        assert lab.runs.update("bbbb3333", if_status=("running",), status="killed")
        assert lab.runs.get("bbbb3333").status == "killed"


def test_config_and_summary_upsert(store_target):
    with _open(store_target) as lab:
        lab.runs.create(_run_row("cfg00001"), {"a": 1, "b": {"c": "x"}})
        lab.runs.write_config("cfg00001", {"a": 2, "d": [1, 2]}, own_transaction=True)
        lab.runs.set_summary("cfg00001", {"loss": 0.5, "best": float("inf"), "bad": float("nan"),
                                          "note": "ok"})
        lab.runs.set_summary("cfg00001", {"loss": 0.25})
        record = lab.runs.get("cfg00001")
        assert record.config == {"a": 2, "b": {"c": "x"}, "d": [1, 2]}
        assert record.summary["loss"] == 0.25 and record.summary["best"] == math.inf
        assert math.isnan(record.summary["bad"]) and record.summary["note"] == "ok"
        nums = {r["key"]: r["num"] for r in lab.db.query(
            "SELECT key, num FROM run_summaries WHERE run_id = ?", ("cfg00001",))}
        assert nums == {"loss": 0.25, "best": math.inf, "bad": None, "note": None}
        assert lab.db.scalar("SELECT COUNT(*) FROM run_summaries") == 4


# -- metrics and evaluations ----------------------------------------------------------------
def test_metric_chunks_round_trip_with_nan_and_inf(store_target):
    nasty = [0.0, -0.0, 1e-310, 1.5, float("nan"), float("inf"), float("-inf"), 1e308]
    steps = [0, 1, 2, 3, 4, 5, 6, 2**40]
    times = [1700000000.0 + i / 3 for i in range(len(steps))]
    with _open(store_target) as lab:
        lab.runs.create(_run_row("met00001"))
        with lab.db.transaction():
            written = lab.metrics.write_chunks("met00001", [
                Chunk("loss", steps, nasty, times), Chunk("acc", [0, 1], [0.5, 0.75], times[:2]),
                Chunk("empty", [], [], []),
            ])
            lab.metrics.write_texts("met00001", [("phase", 0, times[0], "warm-up ✓")])
        with lab.db.transaction():
            lab.metrics.write_chunks("met00001", [Chunk("acc", [2], [1.0], [times[2]])])
        assert written == len(steps) + 2
        history = lab.metrics.history("met00001")
        assert lab.metrics.keys("met00001") == ["acc", "loss"]
        assert lab.metrics.count("met00001") == len(steps) + 3
        assert history["acc"].values == [0.5, 0.75, 1.0] and history["acc"].steps == [0, 1, 2]
        loss = history["loss"]
        assert loss.steps == steps and loss.times == times
        assert [str(v) for v in loss.values] == [str(v) for v in nasty]  # -0.0, nan, inf kept
        assert math.copysign(1, loss.values[1]) == -1
        assert lab.metrics.texts("met00001") == {"phase": [(0, "warm-up ✓")]}
        flags = {r["key"]: r["nonfinite"] for r in lab.db.query(
            "SELECT key, nonfinite FROM metric_chunks WHERE run_id = ?", ("met00001",))}
        assert flags == {"loss": 1, "acc": 0}


def test_new_points_after_each_keys_own_step(store_target):
    """A poller's read: each key past its own last step, a key it has not seen read whole,
    one step for all keys as before."""
    with _open(store_target) as lab:
        lab.runs.create(_run_row("met00002"))
        with lab.db.transaction():
            lab.metrics.write_chunks("met00002", [
                Chunk("train/loss", [0, 1, 2], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0]),
                Chunk("eval/loss", [2], [1.5], [4.0]),  # logged after train/loss's step 2
                Chunk("lr", [0, 1, 2], [0.1, 0.1, 0.1], [1.0, 2.0, 3.0]),
            ])
        seen = lab.metrics.history("met00002", after_step={"train/loss": 1, "lr": 2})
        assert {k: s.steps for k, s in seen.items()} == {"train/loss": [2], "eval/loss": [2]}
        assert lab.metrics.history("met00002", after_step={"train/loss": 2, "eval/loss": 2,
                                                           "lr": 2}) == {}
        assert set(lab.metrics.history("met00002", after_step={})) == {
            "train/loss", "eval/loss", "lr"}
        assert {k: s.steps for k, s in lab.metrics.history("met00002", after_step=1).items()
                } == {"train/loss": [2], "eval/loss": [2], "lr": [2]}


def test_evaluation_records(store_target):
    from stepstone.store.evals import normalize_record

    records = [{"id": "q1", "score": 0.5, "difficulty": "hard"},
               {"id": 2, "correct": True, "prediction": "42", "length": 7}]
    with _open(store_target) as lab:
        lab.runs.create(_run_row("eva00001"))
        with lab.db.transaction():
            lab.evals.write("eva00001", "mmlu", 100,
                            [normalize_record(r, i) for i, r in enumerate(records)])
        out = lab.evals.records("eva00001")
        assert lab.evals.names("eva00001") == ["mmlu"]
    assert out[0].to_dict() == {"id": "q1", "score": 0.5, "difficulty": "hard", "name": "mmlu",
                                "step": 100}
    assert out[1].correct is True and out[1].score is None and out[1].fields["length"] == 7


# -- objects -------------------------------------------------------------------------------
def test_objects_live_where_the_target_says(store_target):
    with _open(store_target) as lab:
        lab.runs.create(_run_row("obj00001"))
        digest = lab.put_object(b"checkpoint bytes")
        assert lab.put_object(b"checkpoint bytes") == digest
        lab.attach_object("obj00001", "artifact", "model.pt", digest)
        assert lab.run_object("obj00001", "artifact", "model.pt") == b"checkpoint bytes"
        assert lab.run_objects("obj00001") == [RunObject("artifact", "model.pt", digest)]
        assert lab.db.scalar("SELECT COUNT(*) FROM objects") == 1
    assert (Path(store_target.objects) / digest[:2] / digest).read_bytes() == b"checkpoint bytes"


def test_objects_at_an_fsspec_url():
    pytest.importorskip("fsspec")
    store = open_objects("memory://stepstone-test-objects")
    digest = store.put(b"blob")
    assert store.exists(digest) and store.get(digest) == b"blob"
    assert store.put(b"blob") == digest
    from stepstone.errors import NotFoundError

    with pytest.raises(NotFoundError, match="missing"):
        store.get("0" * 64)


# -- the SDK, many processes, crashes ---------------------------------------------------------
_WORKER = textwrap.dedent("""
    import sys, stepstone
    lab, worker, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    run = stepstone.init(project="many", id=f"worker{worker:02d}", lab=lab, flush_interval=0.05,
                         config={"worker": worker}, save_code=worker == 0)
    for step in range(steps):
        run.log({f"m{k}": float(step * k) for k in range(10)})
        if step % 100 == 0:
            run.log_eval([{"id": step, "score": 1.0}], step=step)
    run.finish()
""")


def test_sixteen_processes_logging_at_once_lose_no_point(store_target, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    steps, workers = 400, 16
    procs = [subprocess.Popen([sys.executable, str(script), str(store_target.root), str(w),
                               str(steps)], env=_env(), stderr=subprocess.PIPE, text=True)
             for w in range(workers)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * workers, errors
    with _open(store_target) as lab:
        runs = lab.runs.list(project="many")
        assert sorted(r.id for r in runs) == [f"worker{w:02d}" for w in range(workers)]
        for run in runs:
            assert run.status == "finished" and run.last_step == steps - 1
            assert lab.metrics.count(run.id) == steps * 10
            series = lab.metrics.history(run.id, ["m3"])["m3"]
            assert series.steps == list(range(steps))
            assert series.values == [float(s * 3) for s in range(steps)]
            assert len(lab.evals.records(run.id)) == steps // 100
        assert lab.db.scalar("SELECT SUM(n) FROM metric_chunks") == workers * steps * 10
        assert lab.runs.get("worker00").code_snapshot  # its blobs are in the target's objects
        snapshot = lab.runs.get("worker00").code_snapshot
        assert "files" in lab.snapshot_manifest(snapshot)


def test_a_worker_killed_mid_run_shows_as_crashed(store_target, tmp_path):
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent("""
        import sys, time, stepstone
        run = stepstone.init(project="kill", id="killme01", lab=sys.argv[1], flush_interval=0.1,
                             save_code=False)
        for step in range(100000):
            run.log({"x": float(step)})
            print(step, flush=True)
            time.sleep(0.005)
    """))
    proc = subprocess.Popen([sys.executable, str(script), str(store_target.root)], env=_env(),
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if int(line) >= 100:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with _open(store_target) as lab:
        assert lab.runs.get("killme01").status == "running"  # until someone looks
        # a run of another machine whose heartbeat stopped long ago is crashed too
        lab.runs.create(_run_row("remote01", host=f"not-{socket.gethostname()}", pid=1,
                                 heartbeat_at=time.time() - 3600))
        assert sorted(lab.runs.reap_crashed()) == ["killme01", "remote01"]
        record = lab.runs.get("killme01")
        series = lab.metrics.history("killme01")["x"]
    assert record.status == "crashed" and "died" in (record.reason or "")
    assert series.steps == list(range(len(series.steps))) and len(series.steps) > 0


# -- schema versions ----------------------------------------------------------------------------
def test_a_store_newer_than_this_client_is_refused(store_target, capsys):
    from stepstone.cli import main

    with _db(store_target) as db:
        db.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                   (migrations.LATEST + 1, "from the future", time.time()))
    with pytest.raises(SchemaVersionError, match="newer than this stepstone"):
        _open(store_target)
    with pytest.raises(SystemExit) as exit_info:
        main(["migrate", "--lab", str(store_target.root)])
    assert exit_info.value.code == 1
    assert "upgrade stepstone" in capsys.readouterr().err
    import stepstone

    run = stepstone.init(project="p", lab=str(store_target.root))  # training goes on, unrecorded
    assert run.dir is None
    run.finish()
    assert "NOT being recorded" in capsys.readouterr().err


def test_an_older_store_is_upgraded_by_the_policy(store_target, monkeypatch, capsys):
    """A newer client: SQLite upgrades on open; PostgreSQL waits for `stepstone migrate`."""
    from stepstone.cli import main

    new = Migration(migrations.LATEST + 1, "a test table",
                    ("CREATE TABLE test_extra (id {serial_pk}, note TEXT NOT NULL)",))
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, new))
    monkeypatch.setattr(migrations, "LATEST", new.version)
    if not store_target.is_postgres:
        with _open(store_target) as lab:
            assert "test_extra" in lab.db.tables()
        return
    with pytest.raises(SchemaVersionError, match="run `stepstone migrate`"):
        _open(store_target)
    main(["migrate", "--lab", str(store_target.root), "--dry-run"])
    assert "would apply" in capsys.readouterr().out
    main(["migrate", "--lab", str(store_target.root)])
    assert f"to v{new.version}" in capsys.readouterr().out
    with _open(store_target) as lab:
        assert "test_extra" in lab.db.tables()
    main(["migrate", "--lab", str(store_target.root), "--json"])
    assert '"migrations": []' in capsys.readouterr().out


class _db:
    """A raw connection to a target's database, closed on exit."""

    def __init__(self, target: StoreTarget) -> None:
        self.db = Database(target.database)

    def __enter__(self) -> Database:
        return self.db

    def __exit__(self, *exc: object) -> None:
        self.db.close()


# -- sync ----------------------------------------------------------------------------------
PAGES = Migration(900, "notebook-like pages (test only)", (
    """CREATE TABLE test_pages (
        id {serial_pk},
        run_id TEXT REFERENCES runs (id),
        corrects INTEGER REFERENCES test_pages (id),
        body TEXT NOT NULL
    )""",
    "CREATE TABLE test_tags (name TEXT PRIMARY KEY, color TEXT)",
))


def _add_pages(monkeypatch: pytest.MonkeyPatch, *dbs: Database) -> None:
    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS, PAGES))
    monkeypatch.setattr(migrations, "LATEST", PAGES.version)
    for db in dbs:
        migrations.migrate(db)


def _local_work(root: Path, tmp_path: Path) -> list[str]:
    """Two runs made through the SDK in a laptop's lab (metrics, evals, objects, texts)."""
    script = tmp_path / "laptop.py"
    script.write_text(textwrap.dedent("""
        import sys, stepstone
        for name in ("first", "second"):
            run = stepstone.init(project="laptop", name=name, lab=sys.argv[1], config={"lr": 0.1})
            for step in range(50):
                run.log({"loss": 1.0 / (step + 1), "bad": float("nan"), "phase": "train"})
            run.log_eval([{"id": i, "score": i / 10, "bucket": "easy"} for i in range(5)])
            run.summary["best"] = 0.02
            run.finish()
            print(run.id)
    """))
    out = subprocess.run([sys.executable, str(script), str(root)], env=_env(), cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.split()


def _snapshot(lab: Lab) -> dict[str, object]:
    """Everything that sync must carry, without the generated numbers."""
    out: dict[str, object] = {}
    for run in lab.runs.list(project="laptop"):
        history = {k: (s.steps, [str(v) for v in s.values]) for k, s in
                   lab.metrics.history(run.id).items()}
        out[run.id] = (run.status, run.config, {k: str(v) for k, v in run.summary.items()},
                       history, lab.metrics.texts(run.id), lab.evals.records(run.id),
                       lab.run_objects(run.id))
    return out


def test_sync_copies_everything_once(store_target, tmp_path, monkeypatch):
    from stepstone.store.lab import init_lab

    laptop_root = init_lab(tmp_path / "laptop")
    run_ids = _local_work(laptop_root, tmp_path)
    with open_lab(laptop_root) as laptop, _open(store_target) as team:
        _add_pages(monkeypatch, laptop.db, team.db)
        # the team store has work of its own, whose generated numbers collide with the laptop's
        team.runs.create(_run_row("team0001", project="team"))
        with team.db.transaction():
            team.db.execute("INSERT INTO test_pages (run_id, body) VALUES (?, ?)",
                            ("team0001", "team page"))
            team.metrics.write_chunks("team0001", [Chunk("loss", [0], [9.0], [0.0])])
        with laptop.db.transaction():
            laptop.db.execute("INSERT INTO test_pages (run_id, body) VALUES (?, ?)",
                              (run_ids[0], "result: loss 0.02"))
            first = laptop.db.scalar("SELECT MAX(id) FROM test_pages")
            laptop.db.execute("INSERT INTO test_pages (corrects, body) VALUES (?, ?)",
                              (first, "correction: it was 0.03"))
            laptop.db.execute("INSERT INTO test_tags (name, color) VALUES (?, ?)", ("a", "red"))
        report = sync(laptop, team)
        assert report.tables["runs"].inserted == 2 and report.tables["test_pages"].inserted == 2
        assert report.objects_copied > 0 and not report.objects_missing
        assert _snapshot(team) == _snapshot(laptop)
        correction = team.db.query_one(
            "SELECT p.body AS body, q.body AS corrected FROM test_pages p"
            " JOIN test_pages q ON q.id = p.corrects")
        assert correction == {"body": "correction: it was 0.03", "corrected": "result: loss 0.02"}
        for digest in {o.hash for r in run_ids for o in team.run_objects(r)}:
            assert team.objects.get(digest) == laptop.objects.get(digest)
        counts = {t: team.db.scalar(f"SELECT COUNT(*) FROM {t}") for t in report.tables}

        again = sync(laptop, team)  # nothing new: nothing added
        assert again.inserted == 0 and again.updated == 0 and again.objects_copied == 0
        assert {t: team.db.scalar(f"SELECT COUNT(*) FROM {t}") for t in report.tables} == counts

        # the laptop goes on: a run is reaped on the team side, then finishes at home
        team.runs.update(run_ids[1], status="crashed")
        with laptop.db.transaction():
            laptop.metrics.write_chunks(run_ids[1], [Chunk("loss", [50], [0.01], [1.0])])
            laptop.db.execute("INSERT INTO test_tags (name, color) VALUES (?, ?)", ("b", "blue"))
        laptop.runs.update(run_ids[1], notes="more steps")
        third = sync(laptop, team)
        assert third.tables["metric_chunks"].inserted == 1
        assert third.tables["test_tags"].inserted == 1
        assert third.tables["runs"].updated == 1
        assert _snapshot(team) == _snapshot(laptop)
        assert team.runs.get(run_ids[1]).status == "finished"
        assert team.metrics.history("team0001")["loss"].values == [9.0]  # untouched
        assert team.db.scalar("SELECT COUNT(*) FROM test_pages") == 3


def test_sync_keeps_a_run_the_destination_holds_newer_by_the_runs_clock(store_target, tmp_path):
    """The later of a run's last write, end and start decides which side's row wins, an ended
    run beating a running one at the same time; the newer side's config and summary stay,
    and what only the older side has is added."""
    from stepstone.store.lab import init_lab

    t = 1_800_000_000.0
    laptop_root = init_lab(tmp_path / "laptop")
    with open_lab(laptop_root) as laptop, _open(store_target) as team:
        for lab, rows in (
            (laptop, [("older001", "running", t + 5, None, "laptop"),
                       ("tied0001", "running", t + 5, None, "laptop"),
                       ("newer001", "finished", t + 9, t + 9, "laptop"),
                       ("edit0001", "finished", t + 5, t + 5, "laptop")]),
            (team, [("older001", "crashed", t + 7, t + 7, "team"),
                    ("tied0001", "crashed", t + 5, t + 5, "team"),
                    ("newer001", "crashed", t + 7, t + 7, "team"),
                    ("edit0001", "finished", t + 5, t + 5, "team")]),
        ):
            for run_id, status, beat, ended, side in rows:
                lab.runs.create(_run_row(run_id, status=status, created_at=t, heartbeat_at=beat,
                                         ended_at=ended, notes=side), {"side": side})
                lab.runs.set_summary(run_id, {"loss": 1.0 if side == "team" else 2.0,
                                              side: 1.0})
        report = sync(laptop, team)
        assert report.tables["runs"].kept == 2 and report.tables["runs"].updated == 2
        for run_id, winner in (("older001", "team"), ("tied0001", "team"),
                               ("newer001", "laptop"), ("edit0001", "laptop")):
            record = team.runs.get(run_id)
            assert record.notes == winner and record.config == {"side": winner}, run_id
            assert record.summary["loss"] == (1.0 if winner == "team" else 2.0), run_id
            assert record.summary["laptop"] == 1.0, run_id  # only the laptop had it: added
        again = sync(laptop, team)
        assert again.inserted == 0 and again.updated == 0 and again.kept == 6


def test_sync_refuses_different_schema_versions(store_target, tmp_path, monkeypatch):
    from stepstone.store.lab import init_lab

    laptop_root = init_lab(tmp_path / "laptop")
    with open_lab(laptop_root) as laptop, _open(store_target) as team:
        _add_pages(monkeypatch, laptop.db)
        with pytest.raises(SchemaVersionError, match="stepstone migrate"):
            sync(laptop, team)
        with pytest.raises(UsageError, match="same store"):
            sync(laptop, laptop)


def test_sync_command_twice(store_target, tmp_path, capsys):
    import json

    from stepstone.cli import main
    from stepstone.store.lab import init_lab

    laptop_root = init_lab(tmp_path / "laptop")
    _local_work(laptop_root, tmp_path)
    args = ["sync", "--lab", str(laptop_root), "--to", str(store_target.root), "--json"]
    main(args)
    first = json.loads(capsys.readouterr().out)
    assert first["tables"]["runs"]["inserted"] == 2 and first["objects_copied"] > 0
    main(args)
    second = json.loads(capsys.readouterr().out)
    assert second["inserted"] == 0 and second["updated"] == 0 and second["objects_copied"] == 0
    main(args[:-1])
    assert "nothing new" in capsys.readouterr().out


def test_unreachable_store_is_one_clear_error(tmp_path, capsys, monkeypatch):
    with pytest.raises(LabError, match=r"cannot connect to the team store postgresql://me:\*\*\*@"):
        Database("postgresql://me:secret@127.0.0.1:1/nothing?connect_timeout=2")
    import stepstone

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    run = stepstone.init(project="p", lab="postgresql://me:secret@127.0.0.1:1/nothing")
    run.log({"x": 1.0})
    run.finish()
    err = capsys.readouterr().err
    assert "Recording this run in the local lab" in err and "secret" not in err
    spool = tmp_path / "data" / "stepstone" / "offline"
    assert f"STEPSTONE_STORE=... stepstone sync --lab {spool}" in err
    with open_lab(spool) as lab:  # a plain local lab that `stepstone sync` copies from
        assert lab.metrics.history(run.id)["x"].values == [1.0]


def test_sync_carries_the_method_tables(store_target, tmp_path):
    """Baselines that point at their parent and append-only notebook pages with corrections."""
    from stepstone.store.lab import init_lab

    laptop_root = init_lab(tmp_path / "laptop")
    with open_lab(laptop_root) as laptop, _open(store_target) as team:
        if not {"baselines", "notebook_pages"} <= laptop.db.tables():
            pytest.skip("no method tables in this schema")
        base = ("INSERT INTO baselines (version, tier, day, seq, parent, config, created_at)"
                " VALUES (?, 'small', '2026-11-21', ?, ?, '{}', 0)")
        page = ("INSERT INTO notebook_pages (kind, title, body, corrects, created_at)"
                " VALUES (?, ?, ?, ?, 0)")
        with laptop.db.transaction():  # the child sorts before its parent by key
            laptop.db.execute(base, ("z-root", 1, None))
            laptop.db.execute(base, ("a-child", 2, "z-root"))
            laptop.db.execute(page, ("result", "r1", "loss 0.02", None))
            laptop.db.execute(page, ("correction", "c1", "it was 0.03", 1))
        with team.db.transaction():  # the team's own page 1
            team.db.execute(page, ("note", "team", "team page", None))
        first = sync(laptop, team)
        assert first.tables["baselines"].inserted == 2
        assert first.tables["notebook_pages"].inserted == 2
        assert team.db.query_one(
            "SELECT q.title AS corrected FROM notebook_pages p"
            " JOIN notebook_pages q ON q.number = p.corrects WHERE p.title = 'c1'"
        ) == {"corrected": "r1"}
        again = sync(laptop, team)
        assert again.inserted == 0 and again.updated == 0
        assert team.db.scalar("SELECT COUNT(*) FROM notebook_pages") == 3


def test_sync_repoints_a_decision_at_its_evidence_page(store_target, tmp_path):
    """Pages get new numbers in the team store: a decision still names its evidence page."""
    from stepstone.store.lab import init_lab

    laptop_root = init_lab(tmp_path / "laptop")
    with open_lab(laptop_root) as laptop, _open(store_target) as team:
        for title in ("team 1", "team 2"):
            team.notebook.append(kind="note", title=title, body="")
        laptop.notebook.append(kind="note", title="see page 1 of the paper", body="page 1")
        evidence = laptop.notebook.append(kind="result", title="Evidence for q1", body="gains",
                                          question_id="q1")
        laptop.notebook.append(kind="decision", title="q1 answered yes",
                               body=f"Answer: **yes**\n\nEvidence: page {evidence}",
                               question_id="q1", data={"evidence_page": evidence})
        sync(laptop, team)
        again = sync(laptop, team)
        assert again.inserted == 0  # the rewritten page matches on the second sync
        pages = {p.title: p for p in team.notebook.pages()}
    moved = pages["Evidence for q1"].number
    assert moved != evidence
    decision = pages["q1 answered yes"]
    assert decision.data["evidence_page"] == moved
    assert decision.body.endswith(f"Evidence: page {moved}")
    assert pages["see page 1 of the paper"].body == "page 1"  # a person's text is kept


def test_notebook_pages_mentioning_a_run(store_target):
    with _open(store_target) as lab:
        lab.notebook.append(kind="result", title="r", body="", run_id="abc_1")
        lab.notebook.append(kind="decision", title="d", body="evidence: abc_1, abcx1")
        lab.notebook.append(kind="note", title="n", body="", data={"runs": ["abc_1"]})
        lab.notebook.append(kind="note", title="other", body="abcd1 and abc%1")
        found = [p.title for p in lab.notebook.pages(mentioning="abc_1")]
    assert found == ["r", "d", "n"]  # '_' and '%' are matched as text, not as wildcards


def test_metric_extents_come_from_the_chunk_headers(store_target):
    import stepstone

    run = stepstone.init(project="p", lab=str(store_target.root), flush_interval=0.05,
                         save_code=False)
    for step in range(0, 1000, 100):
        run.log({"loss": 1.0, "acc": 0.5} if step % 200 == 0 else {"loss": 1.0}, step=step)
        run.flush()  # several chunks per key
    run.finish()
    with _open(store_target) as lab:
        assert lab.metrics.extents(run.id) == {"acc": (5, 0, 800), "loss": (10, 0, 900)}
        assert lab.metrics.extents("nope") == {}


def test_two_runs_storing_the_same_blobs_at_once_never_deadlock(store_target):
    """Two runs record the same blobs in one transaction each, listed in opposite orders
    (two launchers capturing one repository): each transaction takes the shared rows in one
    order, so neither waits on the other in a cycle and both land whole."""
    blobs = [(None, f"f{i}", f"{i:064x}", i) for i in range(200)]
    with _open(store_target) as lab:
        for run_id in ("ra", "rb"):
            lab.runs.create(_run_row(run_id, status="finished"), {})
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def store(run_id: str, order: list) -> None:
        try:
            with _open(store_target) as lab:
                for _ in range(5):
                    start.wait(timeout=30)
                    with lab.db.transaction():
                        lab.object_index.add(run_id, [("code", name, digest, size)
                                                      for _r, name, digest, size in order])
        except BaseException as exc:  # the test reports it below
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=store, args=("ra", blobs)),
               threading.Thread(target=store, args=("rb", blobs[::-1]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    with _open(store_target) as lab:
        for run_id in ("ra", "rb"):
            assert sorted(o.name for o in lab.run_objects(run_id, "code")) == sorted(
                name for _r, name, _d, _s in blobs)
