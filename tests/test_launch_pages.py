"""Every run a launcher finishes gets exactly one result page, written by the launcher
(``run_attached``): ``stepstone run`` and its smoke run, a failed smoke run that stops the
launch, and every planned run of a ladder on the local pool. A script that calls
``stepstone.init()`` under a launcher attaches to the run and writes no page of its own."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from _cli import cli
from stepstone.errors import MethodError
from stepstone.launch.executors import local_executor
from stepstone.launch.plan import plan_ladder
from stepstone.launch.process import LaunchSpec
from stepstone.launch.runner import launch_plan
from stepstone.launch.smoke import run_smoke
from stepstone.method import baselines
from stepstone.store import open_lab

SCRIPT = """
import os, sys
import stepstone
run = stepstone.init(project="t")
run.log({"loss": 1.0 / (1 + run.config.get("width", 1))})
run.finish()
if run.config.get("smoke") and os.environ.get("FAIL_SMOKE"):
    sys.exit(3)
"""


@pytest.fixture
def script(lab: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(lab.parent)
    monkeypatch.delenv("FAIL_SMOKE", raising=False)
    path = lab.parent / "train.py"
    path.write_text(SCRIPT)
    return path


def _pages_per_run(lab: Path) -> dict[str, list[str]]:
    """Each run's result pages (the status each was written with, from its title)."""
    with open_lab(lab) as opened:
        pages = opened.notebook.pages(kind="result")
        return {r.id: [p.title for p in pages if p.run_id == r.id]
                for r in opened.runs.list()}


def _statuses(lab: Path) -> dict[str, str]:
    with open_lab(lab) as opened:
        return {r.id: r.status for r in opened.runs.list()}


def test_stepstone_run_and_its_smoke_run_get_one_page_each(lab: Path, script: Path) -> None:
    code, _, err = cli(lab, "run", "--smoke", "--", sys.executable, str(script))
    assert code == 0, err
    pages = _pages_per_run(lab)
    assert len(pages) == 2 and all(len(titles) == 1 for titles in pages.values()), pages
    assert set(_statuses(lab).values()) == {"finished"}


def test_a_failed_smoke_run_stops_the_launch_with_its_one_page(lab: Path, script: Path,
                                                                monkeypatch) -> None:
    monkeypatch.setenv("FAIL_SMOKE", "1")
    with open_lab(lab) as opened, pytest.raises(MethodError, match=r"smoke run \S+ failed"):
        run_smoke(opened, LaunchSpec(command=[sys.executable, str(script)], project="t",
                                     cwd=str(script.parent)), echo=False)
    pages = _pages_per_run(lab)
    (run_id,) = pages
    assert _statuses(lab) == {run_id: "failed"} and len(pages[run_id]) == 1


def test_every_run_of_a_local_ladder_gets_one_page(lab: Path, script: Path) -> None:
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"width": 1}).version
        plan = plan_ladder({"width": 1}, [sys.executable, str(script)],
                           rungs=[["width=2"], ["width=4"], ["width=8"]],
                           cwd=str(script.parent), baseline=version)
        result = launch_plan(opened, plan, local_executor(workers=2))
        assert result.status == "done"
        # the baseline's own ladder: its runs are the version's reference runs
        assert {r.kind for r in opened.runs.list()} == {"baseline"}
    pages = _pages_per_run(lab)
    assert len(pages) == 3 and all(len(titles) == 1 for titles in pages.values()), pages

