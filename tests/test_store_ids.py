"""Numbered ids (``q3``, ``i7``, ``small@2026-11-21.2``, a planned run's attempt 2) stay
distinct when many writers, each with its own connection, make them at once, on SQLite
and on PostgreSQL (where writers do not queue for one lock)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from stepstone.store import open_lab
from stepstone.store.lab import Lab
from stepstone.store.suites import SuiteSpec
from stepstone.store.target import StoreTarget

WRITERS = 8
EACH = 6


def _at_once(root: Path, work: Callable[[Lab, int, int], str]) -> list[str]:
    """``WRITERS`` threads, each on a lab of its own, call ``work(lab, writer, i)`` ``EACH``
    times, all starting together; every id made, and no failure."""
    made: list[str] = []
    failed: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def writer(k: int) -> None:
        try:
            with open_lab(root) as lab:
                start.wait()
                for i in range(EACH):
                    made.append(work(lab, k, i))
        except BaseException as exc:  # reported below
            failed.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert failed == []
    assert len(made) == WRITERS * EACH
    return made


def test_concurrent_ideas_and_questions_get_distinct_ids(store_target: StoreTarget) -> None:
    def idea(lab: Lab, k: int, i: int) -> str:
        return lab.ideas.add(title=f"idea {k}.{i}", source=None, cost_hours=None,
                             signal="medium", reason="parked")

    def question(lab: Lab, k: int, i: int) -> str:
        return lab.questions.create(text=f"question {k}.{i}", idea_id=None,
                                    metrics=["val_loss"], rule="val_loss <= 1",
                                    timebox_hours=None, baseline=None)

    ideas = _at_once(store_target.root, idea)
    questions = _at_once(store_target.root, question)
    n = WRITERS * EACH
    assert sorted(ideas) == sorted(f"i{k}" for k in range(1, n + 1))
    assert sorted(questions) == sorted(f"q{k}" for k in range(1, n + 1))
    with open_lab(store_target.root) as lab:
        assert len({r["title"] for r in lab.db.query("SELECT title FROM ideas")}) == n
        assert len({r["text"] for r in lab.db.query("SELECT text FROM questions")}) == n
        assert sorted(r["idea_id"] for r in lab.db.query("SELECT idea_id FROM idea_events")) \
            == sorted(ideas)


def test_concurrent_versions_and_attempts_get_distinct_numbers(
        store_target: StoreTarget) -> None:
    def baseline(lab: Lab, k: int, i: int) -> str:
        return lab.baselines.create(tier="small", day="2026-11-21", parent=None,
                                    config={"writer": k, "i": i}, reference_metric=None)

    def suite(lab: Lab, k: int, i: int) -> str:
        return lab.suites.create(name="core", day="2026-11-21", parent=None, tier=None,
                                 question_id=None,
                                 spec=SuiteSpec(checks=(), description=f"{k} {i}"))

    def attempt(lab: Lab, k: int, i: int) -> str:
        return str(lab.plans.add_attempt("p1", 0, f"run-{k}-{i}", "local"))

    n = WRITERS * EACH
    versions = ["small@2026-11-21"] + [f"small@2026-11-21.{s}" for s in range(2, n + 1)]
    assert sorted(_at_once(store_target.root, baseline)) == sorted(versions)
    assert sorted(_at_once(store_target.root, suite)) == sorted(
        v.replace("small", "core") for v in versions)
    with open_lab(store_target.root) as lab:
        lab.plans.save({"id": "p1", "kind": "sweep", "name": "p", "project": "x",
                        "base_config": {}, "command": ["true"]},
                       [{"idx": 0, "label": "a", "overrides": [], "config": {},
                         "config_delta": {}}])
    assert sorted(map(int, _at_once(store_target.root, attempt))) == list(range(1, n + 1))
