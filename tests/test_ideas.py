"""The parking lot: every move of an idea keeps its reason, in order; `idea show` tells the
whole story; moves that do not exist are refused and change nothing."""

from __future__ import annotations

import json
from pathlib import Path

from _cli import cli


def ok(lab: Path, *args: str) -> dict | list:
    code, out, err = cli(lab, *args, "--json")
    assert code == 0, (args, out, err)
    return json.loads(out)


def test_every_move_keeps_its_reason_in_order(lab: Path) -> None:
    idea = ok(lab, "idea", "add", "QK-norm", "--source", "arxiv:2302.05442", "--cost", "90m",
              "--signal", "high")["id"]
    moves = [("pick", "cheap to try this week"), ("park", "the GPU queue is full"),
             ("pick", "queue is free again"), ("drop", "q2 showed no gain at 3 rungs"),
             ("park", "a new paper says it needs warmup")]
    for verb, reason in moves:
        ok(lab, "idea", verb, idea, "--reason", reason)

    shown = ok(lab, "idea", "show", idea)
    assert shown["status"] == "parked" and shown["cost_hours"] == 1.5
    assert shown["score"] == 3.0 / 1.5
    assert [(e["from_status"], e["to_status"], e["reason"]) for e in shown["events"]] == [
        (None, "parked", "parked when added"),
        ("parked", "picked", "cheap to try this week"),
        ("picked", "parked", "the GPU queue is full"),
        ("parked", "picked", "queue is free again"),
        ("picked", "dropped", "q2 showed no gain at 3 rungs"),
        ("dropped", "parked", "a new paper says it needs warmup"),
    ]
    times = [e["at"] for e in shown["events"]]
    assert times == sorted(times)

    code, out, _ = cli(lab, "idea", "show", idea)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith(f"{idea}: QK-norm  (parked, high signal, 1.5h")
    assert len(lines) == 1 + len(moves) + 1
    assert lines[-1].endswith("dropped → parked: a new paper says it needs warmup")


def test_a_move_that_does_not_exist_is_refused_and_changes_nothing(lab: Path) -> None:
    idea = ok(lab, "idea", "add", "Gated DeltaNet")["id"]
    before = ok(lab, "idea", "show", idea)
    code, _, err = cli(lab, "idea", "drop", idea, "--reason", " ")
    assert code != 0 and err.startswith("error: ") and "needs a reason" in err
    code, _, err = cli(lab, "idea", "park", idea, "--reason", "again")
    assert code != 0 and "it can move to picked, dropped, not parked" in err
    assert ok(lab, "idea", "show", idea) == before


def test_show_an_unknown_idea(lab: Path) -> None:
    code, _, err = cli(lab, "idea", "show", "i9")
    assert code != 0 and err.startswith("error: no idea 'i9'")
