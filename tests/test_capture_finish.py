"""A run that finishes right after ``init()`` keeps its provenance: ``finish()`` does not wait
for the start-up capture, the capture is written when it ends (at the latest at exit), and a
capture that never ends leaves its run marked with the reason. What does not change between
runs of one environment (packages, an unchanged code snapshot) comes from the cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from tests.test_capture import git, repo  # noqa: F401  (the fixture)

import stepstone
from stepstone.sdk import capture
from stepstone.sdk.run import CAPTURE_LOST, CAPTURE_PENDING, wait_for_capture
from stepstone.store import init_lab, open_lab
from stepstone.store.objects import ObjectStore


def test_a_script_that_finishes_right_after_init_keeps_packages_git_and_snapshot(repo):  # noqa: F811
    lab_root = init_lab(repo)
    (repo / "train.py").write_text(textwrap.dedent("""
        import stepstone
        stepstone.init(project="p").finish()
    """))
    for _ in range(2):  # the first run fills the cache, the second reads it
        result = subprocess.run([sys.executable, "train.py"], cwd=repo,
                                env={**os.environ, "STEPSTONE_LAB": str(lab_root)},
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    with open_lab(lab_root) as lab:
        records = lab.runs.list()
        assert len(records) == 2
        for record in records:
            assert record.status == "finished" and record.capture_notes is None
            assert record.env["packages"]["stepstone"]
            assert record.git_commit == git(repo, "rev-parse", "HEAD")
            assert lab.snapshot_file(record.code_snapshot, "train.py") == (
                repo / "train.py").read_bytes()
        assert records[0].code_snapshot == records[1].code_snapshot


@pytest.fixture
def held_capture(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """A start-up capture that runs until the test sets the event."""
    release = threading.Event()
    real = capture.capture_all

    def slow(store: ObjectStore, **kwargs: object) -> capture.Capture:
        release.wait(30)
        return real(store, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(capture, "capture_all", slow)
    return release


def test_finish_does_not_wait_for_the_capture_and_marks_it_pending_until_written(
        lab, tmp_path, monkeypatch, held_capture):
    monkeypatch.chdir(tmp_path)
    run = stepstone.init(project="p", lab=lab)
    run.finish()  # the capture is still held: finish returns at once
    with open_lab(lab) as opened:
        record = opened.runs.get(run.id)
        assert record.status == "finished" and record.capture_notes == [CAPTURE_PENDING]
        assert record.env is None
    held_capture.set()
    wait_for_capture()
    with open_lab(lab) as opened:
        record = opened.runs.get(run.id)
        assert record.capture_notes is None and record.env["packages"]["stepstone"]
        assert record.code_snapshot


def test_a_capture_that_does_not_end_in_time_leaves_the_reason(lab, tmp_path, monkeypatch,
                                                                held_capture):
    monkeypatch.chdir(tmp_path)
    run = stepstone.init(project="p", lab=lab)
    run.finish()
    wait_for_capture(timeout=0.05)
    with open_lab(lab) as opened:
        record = opened.runs.get(run.id)
    assert record.status == "finished" and record.env is None
    assert record.capture_notes == [CAPTURE_LOST.format(60.0)]
    held_capture.set()
    assert run._capture is not None
    run._capture.join(30)  # not left reading packages while the next test counts the reads



def test_the_capture_waits_at_its_next_step_while_finish_writes_the_end(lab, tmp_path,
                                                                        monkeypatch):
    """A short run's end does not share the interpreter with the capture: a capture in the
    middle of a step finishes that step, then waits until the run's end is written."""
    import time

    from stepstone.sdk.run import Run

    monkeypatch.chdir(tmp_path)
    inside, go_on = threading.Event(), threading.Event()
    events: list[str] = []
    real_env, real_package, real_after = (capture.environment, capture.installed_package,
                                          Run._after_finish)

    def environment() -> dict[str, object]:
        inside.set()
        go_on.wait(30)
        return real_env()

    def installed_package(folder: Path) -> str | None:
        events.append("capture's next step")
        return real_package(folder)

    def after_finish(run: Run) -> None:
        go_on.set()  # the capture leaves its step while the end is being written
        time.sleep(0.3)
        real_after(run)
        events.append("end written")

    monkeypatch.setattr(capture, "environment", environment)
    monkeypatch.setattr(capture, "installed_package", installed_package)
    monkeypatch.setattr(Run, "_after_finish", after_finish)
    run = stepstone.init(project="p", lab=lab)
    assert inside.wait(30)
    run.finish()
    wait_for_capture()
    assert events == ["end written", "capture's next step"]
    with open_lab(lab) as opened:
        record = opened.runs.get(run.id)
    assert record.status == "finished" and record.capture_notes is None and record.env

def test_packages_come_from_the_cache_until_site_packages_change(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    monkeypatch.setattr(capture, "_PACKAGES", {})
    scans: list[int] = []
    real = capture._installed
    monkeypatch.setattr(capture, "_installed", lambda: scans.append(1) or real())
    first = capture.packages()
    capture._PACKAGES.clear()  # a new process: only the file cache is left
    assert capture.packages() == first and len(scans) == 1
    (site / "new_dist-1.0.dist-info").mkdir()  # an install changes the folder
    os.utime(site, ns=(1, 1))
    assert capture.packages() == first and len(scans) == 2


def test_an_unchanged_snapshot_is_not_read_again_and_a_change_is_seen(repo, tmp_path,  # noqa: F811
                                                                       monkeypatch):
    store = ObjectStore(tmp_path / "objects")
    first = capture.capture_all(store, folder=repo)
    reads: list[Path] = []
    real_read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda p: reads.append(p) or real_read(p))
    again = capture.capture_all(store, folder=repo)
    assert again.fields["code_snapshot"] == first.fields["code_snapshot"]
    assert sorted(again.objects, key=str) == sorted(first.objects, key=str)
    assert not [p for p in reads if p.parent == repo]
    (repo / "util.py").write_text("X = 2\n")
    changed = capture.capture_all(store, folder=repo)
    assert changed.fields["code_snapshot"] != first.fields["code_snapshot"]
    assert any(p == repo / "util.py" for p in reads)
