"""Small texts a researcher reads in the first hour: durations in a unit a person reads, no
spread for a single run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from _cli import cli
from stepstone.display import span
from stepstone.method import baselines as baseline_rules
from stepstone.store import open_lab


@pytest.mark.parametrize(("hours", "text"), [
    (1 / 3600, "1 s"), (0.5, "30 min"), (3, "3 h"), (36, "36 h"), (60, "2.5 d")])
def test_a_span_is_in_a_readable_unit(hours: float, text: str) -> None:
    assert span(hours) == text


def test_an_overdue_time_box_reads_in_seconds(lab: Path) -> None:
    assert cli(lab, "question", "new", "Is it fast?", "--metric", "loss",
               "--rule", "loss < 1", "--timebox", "1s")[0] == 0
    time.sleep(1.2)
    code, out, err = cli(lab, "status")
    text = out + err
    assert code == 0 and "(open, 1 s box, " in text and "h box" not in text


def test_baseline_history_shows_no_spread_for_one_run(lab: Path) -> None:
    with open_lab(lab) as opened:
        row = baseline_rules.create(opened, "small", {"a": 1})
        now = time.time()
        opened.runs.create({"id": "b0000001", "name": "b", "project": "t", "kind": "baseline",
                            "status": "finished", "created_at": now, "ended_at": now + 1,
                            "baseline": row.version}, {"a": 1})
        opened.runs.set_summary("b0000001", {"eval/loss": 2.5})
    code, out, _ = cli(lab, "baseline", "history", "small")
    assert code == 0 and "eval/loss = 2.5 (n=1)" in out and "± 0 (n=1)" not in out
