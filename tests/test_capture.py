"""What every run records without being asked, on a real git repository: commit, branch,
dirty diff, the code snapshot (each file once by content, size-capped), installed packages,
host, CPU and memory, the command line, start and end time and duration."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import textwrap
import time
from importlib import metadata
from pathlib import Path

import pytest

from stepstone.sdk.capture import capture_all
from stepstone.store import init_lab, open_lab
from stepstone.store.objects import ObjectStore

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.org"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                          env={**os.environ, **GIT_ENV}).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository on branch ``main`` with one commit: train.py, util.py and a .gitignore."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text("print('train')\n")
    (root / "util.py").write_text("X = 1\n")
    (root / ".gitignore").write_text("data/\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first")
    return root


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "objects")


def blobs(store: ObjectStore) -> list[Path]:
    return [p for p in store.root.rglob("*") if p.is_file()]


def objects_by_name(cap) -> dict[str, tuple]:  # type: ignore[no-untyped-def]
    return {name: (role, digest, size) for role, name, digest, size in cap.objects}


def test_a_clean_checkout_records_commit_and_branch_and_no_diff(repo, store):
    cap = capture_all(store, folder=repo)
    assert cap.fields["git_commit"] == git(repo, "rev-parse", "HEAD")
    assert cap.fields["git_branch"] == "main" and cap.fields["git_dirty"] == 0
    assert "diff.patch" not in objects_by_name(cap) and cap.notes == []


def test_a_dirty_checkout_stores_its_diff_as_diff_patch(repo, store):
    (repo / "util.py").write_text("X = 2\n")
    cap = capture_all(store, folder=repo)
    assert cap.fields["git_dirty"] == 1
    role, digest, size = objects_by_name(cap)["diff.patch"]
    patch = store.get(digest)
    assert role == "git" and size == len(patch)
    assert b"-X = 1\n+X = 2\n" in patch
    # the patch applies to the commit it was taken against
    git(repo, "checkout", "-q", "--", "util.py")
    (repo / "saved.patch").write_bytes(patch)
    git(repo, "apply", "saved.patch")
    assert (repo / "util.py").read_text() == "X = 2\n"


def test_a_detached_head_and_an_empty_repository_record_none(repo, store, tmp_path):
    git(repo, "checkout", "-q", "--detach")
    detached = capture_all(store, folder=repo)
    assert detached.fields["git_branch"] is None
    assert detached.fields["git_commit"] == git(repo, "rev-parse", "HEAD")
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q", "-b", "main")
    (empty / "a.py").write_text("pass\n")
    fresh = capture_all(store, folder=empty)
    assert fresh.fields["git_commit"] is None and fresh.fields["git_dirty"] == 1
    assert "diff.patch" not in objects_by_name(fresh)
    assert fresh.fields["code_snapshot"]  # the untracked file is still in the snapshot


def test_the_snapshot_stores_each_file_once_by_content(repo, store):
    (repo / "copy_of_util.py").write_text("X = 1\n")  # untracked, not ignored: kept
    (repo / "data").mkdir()
    (repo / "data" / "big.bin").write_bytes(b"ignored by .gitignore")
    (repo / ".stepstone").mkdir()
    (repo / ".stepstone" / "lab.db").write_bytes(b"a lab is never code")
    cap = capture_all(store, folder=repo)
    manifest = json.loads(store.get(cap.fields["code_snapshot"]))
    files = manifest["files"]
    assert sorted(files) == [".gitignore", "copy_of_util.py", "train.py", "util.py"]
    assert files["util.py"] == files["copy_of_util.py"] == {"hash": files["util.py"]["hash"],
                                                           "size": 6}
    assert manifest["root"] == str(repo) and manifest["git"] is True
    assert store.get(files["train.py"]["hash"]) == b"print('train')\n"
    # three distinct contents and the manifest: four blobs, however many files share one
    assert len(blobs(store)) == 4


def test_outside_git_the_script_folder_is_walked(tmp_path, store):
    folder = tmp_path / "plain"
    (folder / "__pycache__").mkdir(parents=True)
    (folder / "run.py").write_text("pass\n")
    (folder / "__pycache__" / "run.cpython.pyc").write_bytes(b"\0")
    cap = capture_all(store, folder=folder)
    manifest = json.loads(store.get(cap.fields["code_snapshot"]))
    assert manifest["git"] is False and sorted(manifest["files"]) == ["run.py"]
    assert "git_commit" not in cap.fields


def test_a_snapshot_over_the_cap_is_skipped_with_a_message(repo, store, monkeypatch, capsys):
    monkeypatch.setenv("STEPSTONE_SNAPSHOT_MAX_BYTES", "10")
    (repo / "util.py").write_text("X = 2  # a change bigger than ten bytes\n")
    cap = capture_all(store, folder=repo)
    assert "code_snapshot" not in cap.fields
    size = sum(p.stat().st_size for p in (repo / ".gitignore", repo / "train.py",
                                          repo / "util.py"))
    expected = (f"code snapshot skipped: {size} bytes of files in {repo} is over the 10 bytes "
                "cap; ignore data and checkpoints in .gitignore or raise "
                "STEPSTONE_SNAPSHOT_MAX_BYTES")
    assert expected in cap.notes and expected in cap.fields["capture_notes"]
    assert any(n.startswith("dirty diff not stored:") for n in cap.notes)
    assert f"stepstone: {expected}" in capsys.readouterr().err
    assert blobs(store) == []


def test_a_cap_that_is_not_a_number_is_reported_and_the_default_used(repo, store, monkeypatch):
    monkeypatch.setenv("STEPSTONE_SNAPSHOT_MAX_BYTES", "20MB")
    (repo / "util.py").write_text("X = 2\n")  # dirty: the diff and the snapshot both read it
    cap = capture_all(store, folder=repo)
    assert cap.fields["code_snapshot"] and cap.fields["git_dirty"] == 1
    assert cap.notes == ["STEPSTONE_SNAPSHOT_MAX_BYTES='20MB' is not a number of bytes; "
                         "using 21.0 MB"]


def test_packages_host_cpu_and_memory_are_recorded(repo, store):
    env = capture_all(store, folder=repo, code=False).fields["env"]
    assert env["python"] == platform.python_version() and env["executable"] == sys.executable
    assert env["packages"]["pytest"] == metadata.version("pytest")
    assert env["packages"]["stepstone"] == metadata.version("stepstone")
    hardware = env["hardware"]
    assert hardware["host"] == socket.gethostname()
    assert hardware["cpu_count"] == os.cpu_count() and hardware["machine"] == platform.machine()
    pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    assert hardware["memory_gb"] == round(pages * page_size / 2**30, 2)
    assert isinstance(hardware["cpu"], str)


def test_an_sdk_run_records_command_times_git_and_snapshot(repo, tmp_path):
    lab_root = init_lab(repo)  # a lab inside the repository, with no .gitignore for it
    (repo / "train.py").write_text(textwrap.dedent("""
        import stepstone
        run = stepstone.init(project="p")
        run.log({"loss": 1.0})
        run.finish()
    """))
    before = time.time()
    result = subprocess.run([sys.executable, "train.py", "--epochs", "2"], cwd=repo,
                            env={**os.environ, "STEPSTONE_LAB": str(lab_root)},
                            capture_output=True, text=True, timeout=120)
    after = time.time()
    assert result.returncode == 0, result.stderr
    with open_lab(lab_root) as lab:
        (record,) = lab.runs.list()
        files = lab.snapshot_manifest(record.code_snapshot)["files"]
        snapshot_train = lab.snapshot_file(record.code_snapshot, "train.py")
        patch = lab.run_object(record.id, "git", "diff.patch")
    assert record.command == [sys.executable, "train.py", "--epochs", "2"]
    assert record.cwd == str(repo)
    assert before <= record.created_at <= record.ended_at <= after
    assert record.duration == record.ended_at - record.created_at
    assert record.exit_code is None and record.status == "finished"
    assert record.git_commit == git(repo, "rev-parse", "HEAD") and record.git_branch == "main"
    assert record.git_dirty == 1 and b"+run = stepstone.init" in patch
    assert snapshot_train == (repo / "train.py").read_bytes()
    assert not any(path.startswith(".stepstone") for path in files)
    assert record.env["hardware"]["host"] == socket.gethostname()
