"""The method pages in a real browser, on a lab with content: questions in every state with
time boxes, ideas moved with reasons, and two baseline tiers whose lineage holds a regression.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

import test_web_browser as shared
from test_web_browser import _serve, _shot

expect = pytest.importorskip("playwright.sync_api").expect
pytestmark = shared.pytestmark
browser, page = shared.browser, shared.page  # the same chromium and tab fixtures

# two seeds per baseline version: (tier, day, val_loss of each seed); small's third regressed
LINEAGE = {
    "small": [("2026-01-05", (2.00, 2.02)), ("2026-02-10", (1.80, 1.81)),
              ("2026-03-15", (2.10, 2.12))],
    "large": [("2026-01-20", (1.50, 1.52)), ("2026-03-01", (1.40, 1.41))],
}


@pytest.fixture(scope="module")
def method_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    pytest.importorskip("playwright")
    from stepstone.method import ideas
    from stepstone.store import init_lab
    from stepstone.store.lab import open_lab

    root = init_lab(tmp_path_factory.mktemp("methodlab"))
    now = time.time()
    names: dict[str, str] = {}
    with open_lab(root) as lab:
        parked = ideas.add(lab, "Rotary embeddings", source="arxiv:2104.09864", cost="4h",
                           signal="medium")
        picked = ideas.add(lab, "QK-norm", source="arxiv:2302.05442", cost="2h", signal="high")
        ideas.move(lab, picked.idea.id, "picked", "cheap and the loss spikes point at it")
        dropped = ideas.add(lab, "Mixture of depths", cost="3d", signal="low")
        ideas.move(lab, dropped.idea.id, "dropped", "too slow at inference for our budget")
        names.update(parked=parked.idea.id, picked=picked.idea.id, dropped=dropped.idea.id)

        def ask(text: str, hours: float | None) -> str:
            return lab.questions.create(text=text, idea_id=None, metrics=["val_loss"],
                                        rule="val_loss <= baseline - 0.01",
                                        timebox_hours=hours, baseline=None)

        answered = ask("Does QK-norm lower the loss?", 4.0)
        lab.questions.update(answered, status="answered", answer="yes", answered_at=now,
                             conclusion="QK-norm lowers val_loss by 0.2 at every seed")
        wider = ask("Does a wider MLP help?", 8.0)
        lab.questions.update(wider, status="answered", answer="yes", answered_at=now,
                             conclusion="wider helps on the small tier")
        still_open = ask("Does the warmup length matter?", 6.0)
        late = ask("Does dropout help at this scale?", 3.0)
        lab.questions.update(late, status="running", started_at=now - 10 * 3600)
        gave_up = ask("Does label smoothing help?", 2.0)
        lab.questions.update(gave_up, status="abandoned", answered_at=now,
                             reason="the data loader was broken")
        names.update(answered=answered, wider=wider, open=still_open, late=late,
                     abandoned=gave_up)

        proofs = {"small": [None, answered, wider], "large": [None, answered]}
        for tier, versions in LINEAGE.items():
            parent = None
            for k, (day, losses) in enumerate(versions):
                proof = proofs[tier][k]
                parent = lab.baselines.create(
                    tier=tier, day=day, parent=parent, config={"width": 64 * (k + 1)},
                    reference_metric="val_loss",
                    features=[(proof, {"width": 64 * (k + 1)})] if proof else ())
                names[f"{tier}{k}"] = parent
                for seed, loss in enumerate(losses):
                    run_id = f"{tier[0]}{k}s{seed}0000"
                    lab.runs.create({"id": run_id, "name": f"{parent} seed {seed}",
                                     "project": "method", "status": "finished",
                                     "created_at": now, "kind": "baseline",
                                     "baseline": parent}, {"seed": seed})
                    lab.runs.set_summary(run_id, {"val_loss": loss})
    with _serve(root) as base:
        yield base, names


def _section(tab: object, heading: str) -> object:
    return tab.locator("section", has=tab.locator("h2", has_text=heading))  # type: ignore[attr-defined]


def test_questions_page_groups_states_and_time_boxes(method_server, page) -> None:
    base, names = method_server
    page.goto(base + "/questions")
    expect(page.locator("h1")).to_have_text("Questions")
    open_rows = _section(page, "Open").locator("tbody tr")
    expect(open_rows).to_have_count(1)
    expect(open_rows.first).to_contain_text("Does the warmup length matter?")
    expect(open_rows.first).to_contain_text(re.compile(r"(6|5\.9\d*) h left"))
    late = _section(page, "Running").locator(f"tr#{names['late']}")
    expect(late).to_have_class("overdue")
    expect(late.locator(".badge.bad")).to_have_text(re.compile(r"^over by 7(\.\d+)? h$"))
    answered = _section(page, "Answered").locator("tbody tr")
    expect(answered).to_have_count(2)
    first = page.locator(f"tr#{names['answered']}")
    expect(first.locator(".badge.ok")).to_have_text("yes")
    expect(first).to_contain_text("QK-norm lowers val_loss by 0.2 at every seed")
    expect(first).not_to_have_class("overdue")  # answered: its time box no longer runs
    gave_up = _section(page, "Abandoned").locator(f"tr#{names['abandoned']}")
    expect(gave_up).to_contain_text("reason: the data loader was broken")
    expect(gave_up).to_contain_text("2 h")
    assert page.locator("tr.overdue").count() == 1
    _shot(page, "questions")
    assert page.errors == []


def test_ideas_page_shows_status_and_every_reason(method_server, page) -> None:
    base, names = method_server
    page.goto(base + "/ideas")
    expect(page.locator("h1")).to_contain_text("Ideas 3")
    parked, picked, dropped = (page.locator(f"tr#{names[k]}")
                               for k in ("parked", "picked", "dropped"))
    expect(parked.locator(".badge")).to_have_text("parked")
    expect(parked).to_contain_text("arxiv:2104.09864")
    expect(parked.locator("ul.events li")).to_have_text(re.compile("→ parked: parked when added"))
    expect(picked.locator(".badge")).to_have_text("picked")
    expect(picked.locator("ul.events li").last).to_contain_text(
        "parked → picked: cheap and the loss spikes point at it")
    expect(dropped.locator(".badge")).to_have_text("dropped")
    expect(dropped.locator("ul.events li").last).to_contain_text(
        "parked → dropped: too slow at inference for our budget")
    # ranked by expected signal per hour, closed ideas last: QK-norm (3/2h) before rotary (2/4h)
    order = page.locator("tbody tr td:first-child").all_inner_texts()
    assert order == [names["picked"], names["parked"], names["dropped"]]
    _shot(page, "ideas")
    assert page.errors == []


def test_baselines_page_draws_each_lineage_and_flags_the_regression(method_server, page) -> None:
    base, names = method_server
    page.goto(base + "/baselines")
    small, large = _section(page, "small"), _section(page, "large")
    small.locator(".lineage-chart[data-drawn='3'] .main-svg").first.wait_for()
    large.locator(".lineage-chart[data-drawn='2'] .main-svg").first.wait_for()
    # the chart holds the mean of each version's seeds, in lineage order
    for tier, section in (("small", small), ("large", large)):
        chart = section.locator(".lineage-chart")
        drawn = chart.evaluate("d => ({x: d.data[0].x, y: d.data[0].y})")
        assert drawn["x"] == [names[f"{tier}{k}"] for k in range(len(LINEAGE[tier]))]
        assert drawn["y"] == pytest.approx([sum(v) / 2 for _, v in LINEAGE[tier]])
        assert names[f"{tier}0"].endswith(LINEAGE[tier][0][0])  # dated versions
    # the promotion of the wider MLP made small worse: its row and its point stand out
    rows = small.locator("tbody tr")
    expect(rows).to_have_count(3)
    regressed = small.locator("tr.regressed")
    expect(regressed).to_have_count(1)
    expect(regressed).to_contain_text(names["small2"])
    expect(regressed).to_contain_text(names["wider"])
    expect(regressed.locator(".badge.bad")).to_have_text("regressed")
    expect(small.locator(".lineage-chart .annotation-text")).to_have_text("regressed")
    marker = small.locator(".lineage-chart").evaluate("d => d.data[0].marker.symbol")
    assert marker == ["circle", "circle", "x"]
    expect(rows.nth(1).locator(".badge.ok")).to_have_text("ok")
    expect(rows.nth(0).locator(".badge")).to_have_text("root")
    # the large tier only improved: nothing flagged
    expect(large.locator("tr.regressed")).to_have_count(0)
    expect(large.locator(".lineage-chart .annotation-text")).to_have_count(0)
    _shot(page, "baselines")
    assert page.errors == []

