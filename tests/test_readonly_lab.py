"""A lab that cannot be written (a read-only bind mount; as a user other than root, a folder
and file without write permission) is readable by every read command and the dashboard.

Root ignores file modes, so as root the lab is bind-mounted read-only onto itself in a mount
namespace of the command's own (``unshare -m``); elsewhere its modes are cleared."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import stepstone
from stepstone.method import notebook
from stepstone.sdk.run import wait_for_capture
from stepstone.store import open_lab

_DASHBOARD = """
import json, sys
from fastapi.testclient import TestClient
from stepstone.web.app import create_app
client = TestClient(create_app(sys.argv[1]))
out = {}
for path in sys.argv[2:]:
    response = client.get(path, headers={"accept": "text/html"})
    out[path] = [response.status_code, response.text]
print(json.dumps(out))
"""


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def frozen(lab: Path) -> Path:
    """A lab with a finished run, a run whose process died unseen, and a notebook page."""
    run = stepstone.init(project="p", name="done", lab=str(lab), save_code=False)
    run.log({"loss": 0.5})
    run.finish()
    wait_for_capture()  # the environment is captured off the training thread: let it land
    now = time.time()
    with open_lab(lab) as opened:
        opened.runs.create({"id": "dead0001", "name": "dead", "project": "p",
                            "status": "running", "created_at": now, "heartbeat_at": now,
                            "pid": _dead_pid(), "host": socket.gethostname()})
        notebook.write(opened, "note", "a page", "kept as written")
    return lab


def _read_only(lab: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with ``lab`` read-only for it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if os.geteuid() != 0:
        for path in (lab, *lab.rglob("*")):
            path.chmod(path.stat().st_mode & ~0o222)
        try:
            return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
        finally:
            for path in (lab, *lab.rglob("*")):
                path.chmod(path.stat().st_mode | 0o200)
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script,
                           str(lab), *argv], capture_output=True, text=True, env=env,
                          timeout=120)


def _digest(lab: Path) -> str:
    """The lab's rows (its file's bytes may change when a connection of this process closes
    and checkpoints)."""
    import sqlite3

    conn = sqlite3.connect(lab / "lab.db")
    try:
        return hashlib.sha256("\n".join(conn.iterdump()).encode()).hexdigest()
    finally:
        conn.close()


def test_the_lab_is_really_read_only_for_the_command(frozen: Path) -> None:
    probe = _read_only(frozen, sys.executable, "-c",
                       f"open({str(frozen / 'probe')!r}, 'w')")
    assert probe.returncode != 0 and ("Read-only" in probe.stderr or "ermission" in probe.stderr)


@pytest.mark.parametrize("args, expected", [
    (("runs", "--json"), '"dead0001"'),
    (("status", "--json"), '"dead0001"'),
    (("show", "done"), "status=finished"),
    (("notebook",), "kept as written"),
    (("query", "--sql", "SELECT COUNT(*) AS n FROM points", "--json"), '"n": 1'),
], ids=["runs", "status", "show", "notebook", "query"])
def test_every_read_command_reads_a_read_only_lab(frozen: Path, args: tuple[str, ...],
                                                  expected: str) -> None:
    """Each refused ("the lab ... is read-only") or failed ("unable to open database file")."""
    before = _digest(frozen)
    result = _read_only(frozen, sys.executable, "-m", "stepstone", *args, "--lab", str(frozen))
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert _digest(frozen) == before


def test_a_dead_run_shows_as_crashed_in_a_read_only_lab(frozen: Path) -> None:
    """The reader cannot record the crash; it shows it by the same rule."""
    result = _read_only(frozen, sys.executable, "-m", "stepstone", "status", "--json",
                        "--lab", str(frozen))
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert [r["id"] for r in status["needs_attention"]] == ["dead0001"]
    assert status["needs_attention"][0]["status"] == "crashed"
    assert status["running"] == []
    with open_lab(frozen, readonly=True) as opened:
        assert opened.db.scalar("SELECT status FROM runs WHERE id = 'dead0001'") == "running"


def test_the_dashboard_reads_a_read_only_lab(frozen: Path) -> None:
    with open_lab(frozen, readonly=True) as opened:
        done = opened.runs.get("done").id
    paths = ["/runs", "/api/runs", f"/runs/{done}", "/notebook", "/api/status?run=dead0001"]
    result = _read_only(frozen, sys.executable, "-c", _DASHBOARD, str(frozen), *paths)
    assert result.returncode == 0, result.stderr
    pages = json.loads(result.stdout)
    assert {path: code for path, (code, _text) in pages.items()} == dict.fromkeys(paths, 200)
    assert "kept as written" in pages["/notebook"][1]
    assert json.loads(pages["/api/status?run=dead0001"][1])["runs"][0]["status"] == "crashed"


def test_a_reader_upgrades_an_older_lab_it_can_write(tmp_path: Path) -> None:
    """The dashboard opens a lab read-only: a lab made by an older stepstone (here, one
    migration short) is upgraded as a writer would upgrade it, then read."""
    from fastapi.testclient import TestClient

    from stepstone.store import init_lab
    from stepstone.store.migrations import LATEST
    from stepstone.web.app import create_app

    root = init_lab(tmp_path)
    with open_lab(root) as lab:  # made by this version, then set back by one migration (12)
        lab.db.execute("ALTER TABLE plans DROP COLUMN cancelled_at")
        lab.db.execute("DELETE FROM schema_migrations WHERE version = ?", (LATEST,))
    client = TestClient(create_app(str(root)))
    assert client.get("/runs").status_code == 200
    with open_lab(root, readonly=True) as lab:
        assert lab.db.has_table("schema_migrations")
        assert max(r["version"] for r in lab.db.query(
            "SELECT version FROM schema_migrations")) == LATEST
