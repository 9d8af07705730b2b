"""A run linked to a question or baseline the lab does not hold keeps the link as given, marked
unresolved, and the SDK says so once (the CLI refuses such ids outright); a baseline tier is
recorded as the version the run started from."""

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


def test_a_baseline_tier_is_recorded_as_the_version_the_run_started_from(
        lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import stepstone
    from stepstone.sdk.run import wait_for_capture

    with open_lab(lab) as opened:
        for day in ("2026-11-01", "2026-11-21"):
            opened.baselines.create(tier="small", day=day, parent=None, config={"lr": 0.1},
                                    reference_metric=None)
    tier = stepstone.init(project="t", lab=lab, baseline="small")
    tier.finish()
    pinned = stepstone.init(project="t", lab=lab, baseline="small@2026-11-01")
    pinned.finish()
    wait_for_capture()
    with open_lab(lab) as opened:
        opened.baselines.create(tier="small", day="2026-12-01", parent=None, config={"lr": 0.2},
                                reference_metric=None)  # a newer version changes no past run
        assert opened.runs.get(tier.id).baseline == "small@2026-11-21"
        assert opened.runs.get(pinned.id).baseline == "small@2026-11-01"
        assert [r.id for r in opened.runs.list(baseline="small@2026-11-21")] == [tier.id]
        assert not opened.runs.get(tier.id).capture_notes
    assert "unresolved link" not in capsys.readouterr().err
