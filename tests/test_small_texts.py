"""Small texts a researcher reads in the first hour: durations in a unit a person reads, table
cells and JSON the same on every surface, no spread for a single run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from _cli import cli
from stepstone.display import cell, duration, jsonable, nbytes, span
from stepstone.method import baselines as baseline_rules
from stepstone.store import open_lab


@pytest.mark.parametrize(("hours", "text"), [
    (1 / 3600, "1 s"), (0.5, "30 min"), (3, "3 h"), (36, "36 h"), (60, "2.5 d")])
def test_a_span_is_in_a_readable_unit(hours: float, text: str) -> None:
    assert span(hours) == text


@pytest.mark.parametrize(("seconds", "text"), [(None, ""), (1, "1 s"), (125, "2 min"),
                                               (3 * 3600, "3 h")])
def test_a_runs_duration_reads_as_a_span(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text  # the CLI's runs table and the dashboard alike


@pytest.mark.parametrize(("count", "text"), [
    (0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (12_301, "12.0 KiB"),
    (3 * 1024**3, "3.0 GiB"), (5 * 1024**5, "5120.0 TiB")])
def test_a_size_is_in_a_readable_unit(count: int, text: str) -> None:
    assert nbytes(count) == text  # an artifact's files on the run page


@pytest.mark.parametrize(("value", "text"), [
    (None, ""), (0.123456, "0.1235"), (3, "3"), (["a", "b"], "a, b"),
    ({"b": 1, "a": 2}, '{"a": 2, "b": 1}')])
def test_a_table_cell_is_the_same_on_every_surface(value: object, text: str) -> None:
    assert cell(value) == text


def test_json_has_null_for_nan_and_infinities() -> None:
    assert jsonable({"x": float("nan"), "y": (float("inf"), float("-inf"), 1.0)}) == \
        {"x": None, "y": [None, None, 1.0]}


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
