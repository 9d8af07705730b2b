"""The day's plan and its review: plan-day writes it, the next day's first command asks
for its review (one line on stderr, never in --json output), note --review answers it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from _cli import cli
from stepstone.cli import REVIEW_MARK
from stepstone.method import notebook
from stepstone.store import open_lab

DAY = 86400.0
PROMPT = "has no review: what was done"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """``clock[0]`` days ahead of the real time, for every ``time.time()`` caller."""
    real = time.time
    offset = [0.0]
    monkeypatch.setattr(time, "time", lambda: real() + offset[0] * DAY)
    return offset


def test_pending_review_is_the_latest_unreviewed_plan_of_an_earlier_day(lab: Path) -> None:
    now = time.time()
    with open_lab(lab) as opened:
        assert notebook.pending_review(opened, now + DAY) is None  # no plan at all
        first = notebook.plan_day(opened, "run q1; read the paper")
        assert first.kind == "plan" and first.title.startswith("Plan for ")
        assert notebook.pending_review(opened, now) is None  # today's plan: not yet
        pending = notebook.pending_review(opened, now + DAY)
        assert pending is not None and pending.page == first.number
        assert pending.plan == "run q1; read the paper"
        assert f"note --review {first.number}" in pending.prompt

        second = notebook.plan_day(opened, "decide q1")
        assert notebook.pending_review(opened, now + DAY).page == second.number
        review = notebook.note(opened, "decided q1", review=second.number)
        assert review.review_of == second.number and review.kind == "note"
        assert review.title.startswith(f"Review of the plan on page {second.number}")
        assert notebook.pending_review(opened, now + DAY) is None  # only the latest counts


def test_a_review_must_point_at_a_plan(lab: Path) -> None:
    code, out, _ = cli(lab, "note", "a thought", "--json")
    page = json.loads(out)["number"]
    before = len(json.loads(cli(lab, "notebook", "--json")[1]))
    code, _, err = cli(lab, "note", "done", "--review", str(page))
    assert code != 0 and err.startswith("error: ") and "not a day's plan" in err
    code, _, err = cli(lab, "note", "done", "--review", "99")
    assert code != 0 and "no notebook page 99" in err
    assert len(json.loads(cli(lab, "notebook", "--json")[1])) == before


def test_the_next_days_first_command_asks_for_the_review(lab: Path,
                                                         clock: list[float]) -> None:
    code, out, err = cli(lab, "plan-day", "run q3's ladder; decide q2", "--json")
    assert code == 0 and PROMPT not in err
    plan = json.loads(out)["number"]
    assert PROMPT not in cli(lab, "idea", "list")[2]  # the same day: nothing to review

    clock[0] = 1
    code, out, err = cli(lab, "idea", "list", "--json")  # --json output is never touched
    assert code == 0 and json.loads(out) == [] and err == ""
    code, out, err = cli(lab, "idea", "list", "--help")  # help neither opens the lab nor asks
    assert code == 0 and err == ""
    code, out, err = cli(lab, "idea", "list")  # the day's first command
    assert code == 0 and PROMPT not in out
    lines = err.splitlines()
    assert len(lines) == 1 and PROMPT in lines[0] and f"--review {plan}" in lines[0]
    assert (lab / REVIEW_MARK).read_text().strip() == time.strftime(
        "%Y-%m-%d", time.localtime(time.time()))
    assert PROMPT not in cli(lab, "question", "list")[2]  # once a day
    code, out, _ = cli(lab, "status", "--json")  # status keeps showing it until answered
    assert json.loads(out)["method"]["pending_review"]["page"] == plan

    clock[0] = 2  # not answered yet: the next day asks again
    assert PROMPT in cli(lab, "question", "list")[2]
    code, out, err = cli(lab, "note", "the ladder ran; q2 waits for seeds", "--review",
                         str(plan), "--json")
    assert code == 0 and json.loads(out)["review_of"] == plan and err == ""
    code, out, _ = cli(lab, "status", "--json")
    assert json.loads(out)["method"]["pending_review"] is None

    clock[0] = 3
    assert cli(lab, "question", "list")[2] == ""


def test_no_lab_no_question(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from stepstone.cli import ask_for_review

    ask_for_review(["idea", "list"])  # no lab here: silent, and nothing written
    assert list(tmp_path.iterdir()) == []


def test_on_a_shared_lab_each_person_reviews_their_own_plan(lab: Path) -> None:
    now = time.time()
    with open_lab(lab) as opened:
        mine = notebook.plan_day(opened, "run q1")
        assert mine.data["author"] == notebook.author()
        opened.notebook.append(kind="plan", title="Plan for today", body="their plan",
                               data={"author": f"not-{notebook.author()}"})
        pending = notebook.pending_review(opened, now + DAY)
        assert pending is not None and pending.page == mine.number  # not theirs
        notebook.note(opened, "ran q1", review=mine.number)
        assert notebook.pending_review(opened, now + DAY) is None
