"""A damaged lab (issue 17, defect 4): bytes overwritten in lab.db, or a lab.db cut to 0 bytes.
Training runs on unrecorded with one line; every command says the lab is damaged and what to
do; `stepstone doctor` finds it and `stepstone recover` copies what is readable into a new
lab.db, keeping the damaged file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import stepstone
from _cli import cli
from stepstone.sdk.run import wait_for_capture
from stepstone.store import init_lab, open_lab


def _lab_with_a_run(tmp_path: Path, points: int = 60_000) -> Path:
    root = init_lab(tmp_path)
    run = stepstone.init(project="p", id="keep0001", lab=root, save_code=False,
                         config={"lr": 0.1})
    for step in range(points):
        run.log({"x": float(step), "y": 2.0})
        if step % 5000 == 4999:
            run.flush()  # many chunks: many pages
    run.finish()
    wait_for_capture()  # its capture's last write lands now, not in a lab the test damages
    with open_lab(root) as lab:
        lab.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return root


def _overwrite(path: Path, start: int, length: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(start)
        fh.write(os.urandom(length))


def _train(root: Path) -> subprocess.CompletedProcess[str]:
    script = root.parent / "train.py"
    script.write_text(textwrap.dedent("""
        import stepstone
        run = stepstone.init(project="p")
        for step in range(100):
            run.log({"x": float(step)})
        run.finish()
        print("training finished")
    """))
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPSTONE_")}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env={**env, "STEPSTONE_LAB": str(root)})


def test_garbage_in_lab_db_training_goes_on_and_the_cli_says_how_to_recover(tmp_path):
    root = _lab_with_a_run(tmp_path)
    db = root / "lab.db"
    size = db.stat().st_size
    _overwrite(db, 8192, size - 16384)  # everything but the first and last pages
    result = _train(root)
    assert result.returncode == 0 and "training finished" in result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "damaged" in lines[0] and "NOT being recorded" in lines[0]
    for command in (["runs"], ["status"], ["show", "keep0001"]):
        code, _out, err = cli(root, *command)
        assert code == 1 and "damaged" in err and "stepstone doctor" in err, (command, err)
        assert "unexpected" not in err
    code, out, _ = cli(root, "doctor")
    assert code == 1 and "damaged" in out and "stepstone recover" in out


def test_doctor_finds_a_damaged_page_and_recover_keeps_what_is_readable(tmp_path):
    root = _lab_with_a_run(tmp_path)
    db = root / "lab.db"
    assert cli(root, "doctor")[0] == 0
    _overwrite(db, db.stat().st_size // 2, 4 * 4096)  # a few pages of metric chunks
    before = db.read_bytes()
    code, out, _ = cli(root, "doctor")
    assert code == 1 and "damaged" in out
    assert db.read_bytes() == before  # the check changes nothing
    code, out, err = cli(root, "recover")
    assert code == 0, err
    kept = next(p for p in root.glob("lab.db.damaged-*") if not p.name.endswith(("-wal", "-shm")))
    assert kept.read_bytes() == before  # the damaged file is kept as it was
    assert cli(root, "doctor")[0] == 0
    with open_lab(root) as lab:
        record = lab.runs.get("keep0001")
        steps = lab.metrics.history("keep0001")["x"].steps
    assert record.status == "finished" and record.config == {"lr": 0.1}
    assert 40_000 < len(steps) < 60_000 and steps == sorted(steps)


def test_a_zero_byte_lab_db_is_refused_not_replaced(tmp_path):
    root = _lab_with_a_run(tmp_path, points=10)
    db = root / "lab.db"
    db.write_bytes(b"")
    result = _train(root)
    assert result.returncode == 0 and "training finished" in result.stdout, result.stderr
    assert "0 bytes" in result.stderr and "NOT being recorded" in result.stderr
    assert db.stat().st_size == 0  # not silently made into a new, empty lab
    code, _out, err = cli(root, "runs")
    assert code == 1 and "0 bytes" in err and "unexpected" not in err
    code, out, _ = cli(root, "doctor")
    assert code == 1 and "0 bytes" in out
    code, _out, err = cli(root, "recover")
    assert code == 0, err
    assert [p.stat().st_size for p in root.glob("lab.db.damaged-*")] == [0]  # kept aside
    with open_lab(root) as lab:
        assert lab.runs.list() == []
