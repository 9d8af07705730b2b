"""Provenance describes the code that ran: ``python -m pkg.mod`` launched from a folder outside
git records the module's repository (its commit and its snapshot, the same code); an entry
point in an installed package records that package's version and the working folder's code,
not the checkout its virtualenv sits in."""

from __future__ import annotations

import json
import os
import sys
from importlib import metadata
from pathlib import Path

import pytest

from _cli import cli
from stepstone.sdk.capture import capture_all, installed_package, module_dir
from stepstone.store import open_lab
from stepstone.store.objects import ObjectStore
from test_capture import git

MODULE = """
import stepstone
run = stepstone.init(project="t")
run.log({"loss": 1.0})
run.finish()
"""


def test_a_module_run_records_its_own_repository(lab: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code_repo = tmp_path / "code"
    (code_repo / "pkg").mkdir(parents=True)
    (code_repo / "pkg" / "__init__.py").write_text("")
    (code_repo / "pkg" / "train.py").write_text(MODULE)
    git(code_repo, "init", "-q", "-b", "main")
    git(code_repo, "add", ".")
    git(code_repo, "commit", "-q", "-m", "first")
    work = tmp_path / "work"  # where the user stands: outside git
    work.mkdir()
    (work / "notes.txt").write_text("not code\n")
    monkeypatch.chdir(work)
    paths = [str(code_repo), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
    monkeypatch.syspath_prepend(str(code_repo))  # the launcher finds it as the child will
    assert module_dir("pkg.train", work) == (code_repo / "pkg").resolve()
    code, _, err = cli(lab, "run", "--json", "--", sys.executable, "-m", "pkg.train")
    assert code == 0, err
    with open_lab(lab) as opened:
        run = opened.runs.list()[0]
        manifest = json.loads(opened.objects.get(run.code_snapshot))
    assert run.git_commit == git(code_repo, "rev-parse", "HEAD")
    assert manifest["root"] == str(code_repo.resolve()) and "pkg/train.py" in manifest["files"]
    assert "notes.txt" not in manifest["files"]


def test_an_installed_entry_point_records_its_version_and_the_working_folder(
        tmp_path: Path) -> None:
    folder = module_dir("click", tmp_path)
    assert folder is not None
    assert installed_package(folder) == f"click {metadata.version('click')}"
    work = tmp_path / "work"  # outside git, whatever checkout the virtualenv sits in
    work.mkdir()
    (work / "train.py").write_text("print(1)\n")
    store = ObjectStore(tmp_path / "objects")
    cap = capture_all(store, folder=folder, cwd=work)
    assert cap.fields["env"]["code_package"] == f"click {metadata.version('click')}"
    assert "git_commit" not in cap.fields
    manifest = json.loads(store.get(cap.fields["code_snapshot"]))
    assert manifest["root"] == str(work) and list(manifest["files"]) == ["train.py"]
