"""Hints that can work: a missing lab names the folder to `stepstone init`, the demo's hint names
a `stepstone` this shell can run, and the quickstart example keeps out of the demo's lab."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stepstone import demo
from stepstone.errors import LabError
from stepstone.store.lab import find_lab

ROOT = Path(__file__).resolve().parents[1]


def test_a_missing_lab_names_the_folder_to_init(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LabError, match=f"`stepstone init {empty}`"):
        find_lab(empty)
    monkeypatch.setenv("STEPSTONE_LAB", "/nonexistent")
    with pytest.raises(LabError, match=r"STEPSTONE_LAB names it\): create one with "
                                       r"`stepstone init /nonexistent`"):
        find_lab()
    with pytest.raises(LabError, match=f"`stepstone init {tmp_path}`"):
        find_lab(tmp_path / ".stepstone")


def test_the_demos_hint_names_a_stepstone_this_shell_can_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "stepstone").write_text("#!/bin/sh\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.setattr(demo.shutil, "which", lambda name: None)  # not on PATH
    assert demo.stepstone_command() == "./.venv/bin/stepstone"
    monkeypatch.setattr(demo.shutil, "which", lambda name: str(bin_dir / "stepstone"))
    assert demo.stepstone_command() == "stepstone"
    (bin_dir / "stepstone").unlink()
    monkeypatch.setattr(demo.shutil, "which", lambda name: None)
    assert demo.stepstone_command() == "./.venv/bin/python -m stepstone"


def test_the_quickstart_keeps_out_of_the_demos_lab(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "quickstart-lab" / ".stepstone").is_dir()
    assert not (tmp_path / "stepstone-demo").exists()
