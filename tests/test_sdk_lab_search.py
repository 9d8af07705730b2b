"""``init(dir=...)`` is where wandb would write its files (Lightning's WandbLogger passes
``dir="."``), not a lab: the nearest lab upward is found first, and a lab is made in ``dir``
only when there is none."""

from __future__ import annotations

from pathlib import Path

import pytest

import stepstone
from stepstone.store import init_lab, open_lab


def test_dir_does_not_hide_the_lab_upward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    lab = init_lab(tmp_path)
    work = tmp_path / "experiments" / "mnist"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    run = stepstone.init(project="p", dir=".")
    run.finish()
    assert not (work / ".stepstone").exists()
    with open_lab(lab) as opened:
        assert opened.runs.get(run.id).status == "finished"

