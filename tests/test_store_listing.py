"""The runs listing on SQLite and PostgreSQL: keyset pages give the same rows, in the same
order, as reading the whole ordered listing at once (what offset pages gave), for every sort,
both directions and the filters; counts come from triggers and stay exact as runs change."""

from __future__ import annotations

import random
import time

import pytest

from stepstone.errors import UsageError
from stepstone.store import listing as listing_module
from stepstone.store import open_lab
from stepstone.store.listing import SORT_COLUMNS, Listing
from stepstone.store.target import StoreTarget

STATUSES = ("finished", "finished", "crashed", "running", "failed", "killed")


@pytest.fixture
def lab(store_target: StoreTarget):  # type: ignore[no-untyped-def]
    rng = random.Random(3)
    now = time.time()
    with open_lab(store_target.location) as opened:
        for i in range(57):
            opened.runs.create({
                "id": f"r{i:03d}", "name": f"run-{rng.randrange(8)}", "project": f"p{i % 3}",
                "kind": rng.choice(["adhoc", "rung"]), "status": STATUSES[i % len(STATUSES)],
                "created_at": now - rng.randrange(20),  # ties, broken by id
                "tags": [f"t{i % 2}"], "last_step": None if i % 5 == 0 else rng.randrange(4),
            }, {})
        yield opened


def everything(listing: Listing, **query: object) -> list[str]:
    """The whole listing in one page (the order offset pages cut into slices)."""
    return [r.id for r in listing.page(limit=1000, **query).runs]  # type: ignore[arg-type]


def walk(listing: Listing, per: int, **query: object) -> tuple[list[str], list[list[str]]]:
    """Every page from the first by ``next`` cursors, then back by ``previous`` ones."""
    pages, cursor = [], None
    while True:
        found = listing.page(limit=per, after=cursor, **query)  # type: ignore[arg-type]
        pages.append([r.id for r in found.runs])
        if found.next is None:
            break
        cursor = found.next
    back, cursor = [pages[-1]], listing.page(limit=per, after=cursor, **query).previous  # type: ignore[arg-type]
    while cursor is not None:
        found = listing.page(limit=per, before=cursor, **query)  # type: ignore[arg-type]
        back.append([r.id for r in found.runs])
        cursor = found.previous
    return [i for page in pages for i in page], back[::-1]


@pytest.mark.parametrize("sort", sorted(SORT_COLUMNS))
@pytest.mark.parametrize("descending", [True, False])
def test_keyset_pages_give_the_rows_of_the_whole_listing(lab, sort, descending):
    listing = Listing(lab.db)
    for query in ({}, {"status": "finished"}, {"project": "p1"}, {"name": "run-3"},
                  {"tag": "t1", "project": "p2"}, {"attention_first": False}):
        whole = everything(listing, sort=sort, descending=descending, **query)
        forward, back = walk(listing, 7, sort=sort, descending=descending, **query)
        assert forward == whole, query
        assert [i for page in back for i in page] == whole, query
        assert all(len(page) == 7 for page in back[:-1])
        offsets = [r.id for start in range(0, len(whole), 7) for r in listing.page(
            sort=sort, descending=descending, offset=start, limit=7, **query).runs]
        assert offsets == whole, query


def test_the_order_is_attention_first_then_the_key_then_the_id(lab):
    rank = {"crashed": 0, "failed": 0, "killed": 0, "running": 1}
    rows = Listing(lab.db).page(limit=1000, sort="created").runs
    expected = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
    expected.sort(key=lambda r: rank.get(r.status, 2))  # stable: newest first in each bucket
    assert [r.id for r in rows] == [r.id for r in expected]


def test_counts_follow_inserts_status_changes_and_filters(lab):
    listing = Listing(lab.db)
    assert listing.page().total == 57 and listing.page().exact
    assert listing.page(status="crashed").total == 10
    assert listing.page(project="p0", status="finished").total == sum(
        1 for i in range(57) if i % 3 == 0 and STATUSES[i % 6] == "finished")
    lab.runs.update("r002", status="finished")  # crashed -> finished
    listing = Listing(lab.db)  # a listing is one request's view: it reads the counts once
    assert listing.status_counts()["crashed"] == 9
    assert listing.page(status="finished").total == 21
    assert listing.projects() == ["p0", "p1", "p2"]
    name_hits = len([r for r in listing.page(limit=1000).runs if "run-3" in r.name])
    assert listing.page(name="run-3").total == name_hits


def test_a_name_filter_on_a_large_lab_is_an_estimate_said_so(lab, monkeypatch):
    monkeypatch.setattr(listing_module, "COUNT_SCAN", 20)
    found = Listing(lab.db).page(tag="t1")
    assert not found.exact and found.total > 0
    assert Listing(lab.db).page(status="running").exact


def test_a_damaged_cursor_is_one_clear_error(lab):
    listing = Listing(lab.db)
    cursor = listing.page(limit=5, sort="name").next
    assert cursor is not None
    with pytest.raises(UsageError, match="start again from the first page"):
        listing.page(after="not-a-cursor")
    with pytest.raises(UsageError, match="another sort order"):
        listing.page(after=cursor, sort="created")
    with pytest.raises(UsageError, match="not both"):
        listing.page(after=cursor, before=cursor, sort="name")


def test_sync_leaves_the_counts_to_the_destinations_triggers(lab, tmp_path):
    from stepstone.store import init_lab
    from stepstone.store.team import sync

    with open_lab(init_lab(tmp_path / "local")) as local:
        for i in range(3):
            local.runs.create({"id": f"local{i}", "name": "n", "project": "p0",
                               "status": "finished", "created_at": float(i)}, {})
        sync(local, lab)
    counts = Listing(lab.db).status_counts()
    assert counts["finished"] == 20 + 3 and sum(counts.values()) == 57 + 3
    assert Listing(lab.db).page(project="p0").total == 19 + 3


def test_a_reader_shows_dead_running_runs_as_crashed_by_the_one_liveness_rule(store_target):
    """The reader's SQL condition agrees with ``dead_reason`` run by run: elsewhere a stale
    heartbeat is dead, a fresh one alive; on this host a gone process is dead, a live one
    (this test's own) alive however old its heartbeat."""
    import os
    import socket

    from stepstone.store.runs import dead_reason

    here, now = socket.gethostname(), time.time()
    gone = 2**22 + 12345  # past the kernel's default pid_max: no such process
    running = {
        "stale-elsewhere": ("other-host", 42, now - 600),
        "fresh-elsewhere": ("other-host", 42, now - 5),
        "no-host-stale": (None, None, now - 600),
        "gone-here": (here, gone, now - 5),
        "alive-here": (here, os.getpid(), now - 600),
    }
    made = {r: now if r == "alive-here" else now - 900 for r in running}  # after its process
    with open_lab(store_target.location) as writer:
        for run_id, (host, pid, beat) in running.items():
            writer.runs.create({"id": run_id, "name": run_id, "project": "p", "kind": "adhoc",
                                "status": "running", "created_at": made[run_id], "host": host,
                                "pid": pid, "heartbeat_at": beat}, {})
        writer.runs.create({"id": "done", "name": "done", "project": "p", "kind": "adhoc",
                            "status": "finished", "created_at": now - 900}, {})
    expected_dead = {r for r, (host, pid, beat) in running.items()
                     if dead_reason(host, pid, beat, made[r], now) is not None}
    assert expected_dead == {"stale-elsewhere", "no-host-stale", "gone-here"}
    with open_lab(store_target.location, readonly=True) as reader:
        listing = Listing(reader.db)
        assert set(everything(listing, status="crashed")) == expected_dead
        assert set(everything(listing, status="running")) == set(running) - expected_dead
        assert listing.page(status="crashed").total == 3
        assert listing.page(status="running").total == 2
        assert listing.status_counts() == {"crashed": 3, "running": 2, "finished": 1}
        assert {r.id for r in reader.runs.list(status="crashed")} == expected_dead
        assert {r.id for r in reader.runs.list(status=["running", "finished"])} == {
            "fresh-elsewhere", "alive-here", "done"}
