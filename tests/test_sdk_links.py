"""A run linked to a question or baseline the lab does not hold keeps the link as given, marked
unresolved, and the SDK says so once (the CLI refuses such ids outright)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepstone.store import open_lab


def test_links_the_lab_does_not_hold_are_warned_about_once_and_recorded(
        lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import stepstone
    from stepstone.sdk.run import wait_for_capture

    run = stepstone.init(project="t", lab=lab, question="nope", baseline="ghost@2020-01-01")
    run.finish()
    wait_for_capture()
    err = capsys.readouterr().err
    assert err.count("unresolved link: question 'nope'") == 1
    assert err.count("unresolved link: baseline 'ghost@2020-01-01'") == 1
    with open_lab(lab) as opened:
        record = opened.runs.get(run.id)
    assert record.question_id == "nope" and record.baseline == "ghost@2020-01-01"
    assert any("unresolved link: question 'nope'" in n for n in record.capture_notes or [])
