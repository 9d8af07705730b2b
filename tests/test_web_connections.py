"""The dashboard keeps its connections open between requests (stepstone.store.pool), on a
PostgreSQL team store and on SQLite: many pages open one connection, a connection the server
dropped is opened anew, a pool never holds more than its size, and the pages still show
what was written after the connection opened."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

import stepstone
from stepstone.store import init_lab
from stepstone.store.pool import LabPool
from stepstone.store.target import target_of_folder, target_of_url
from stepstone.web.app import create_app


def _log_run(lab: Path, name: str) -> str:
    run = stepstone.init(project="pool", name=name, config={"lr": 0.1}, lab=str(lab))
    for step in range(10):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    run.finish()
    return run.id


@pytest.fixture
def team_store(pg_url: str, tmp_path: Path) -> tuple[str, str]:
    """A team store with a run, and its URL for the dashboard alone: its connections carry
    an application name of their own, to be counted in pg_stat_activity."""
    root = init_lab(tmp_path / "lab", store=pg_url, objects=str(tmp_path / "objects"))
    _log_run(root, "first")
    name = f"stepstone_pool_{uuid.uuid4().hex[:8]}"
    return f"{pg_url}&application_name={name}", name


def _backends(pg_server: str, name: str) -> list[int]:
    import psycopg

    with psycopg.connect(pg_server, autocommit=True) as conn:
        return [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (name,))]


@pytest.mark.postgres
def test_many_pages_open_one_connection(team_store, pg_server):
    url, name = team_store
    app = create_app(url)
    client = TestClient(app)
    for path in ["/runs", "/api/runs", "/questions", "/notebook"] * 15:
        assert client.get(path).status_code == 200, path
    assert app.state.labs.opened == 1
    assert len(_backends(pg_server, name)) == 1


@pytest.mark.postgres
def test_a_connection_the_server_dropped_is_opened_anew(team_store, pg_server):
    import psycopg

    url, name = team_store
    app = create_app(url)
    client = TestClient(app)
    before = client.get("/api/runs").json()
    [pid] = _backends(pg_server, name)
    with psycopg.connect(pg_server, autocommit=True) as conn:  # what a restart does to it
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    after = client.get("/api/runs")
    assert after.status_code == 200 and after.json() == before
    assert app.state.labs.opened == 2
    assert _backends(pg_server, name) not in ([], [pid])


@pytest.mark.postgres
def test_a_pool_holds_at_most_its_size(team_store, pg_server):
    url, name = team_store
    pool = LabPool(target_of_url(url), readonly=True, size=3)
    inside, most, lock = [0], [0], threading.Lock()
    go = threading.Barrier(12)

    def request() -> None:
        go.wait()
        with pool.borrow() as lab:
            with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            assert [r.name for r in lab.runs.list(details=False)] == ["first"]
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=request) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] <= 3 and pool.opened <= 3
    assert len(_backends(pg_server, name)) == pool.opened
    pool.close()
    assert _backends(pg_server, name) == []


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                            marks=pytest.mark.postgres)])
def test_a_kept_connection_sees_what_was_written_since(backend, request, tmp_path):
    if backend == "sqlite":
        root = init_lab(tmp_path / "lab")
    else:
        root = init_lab(tmp_path / "lab", store=request.getfixturevalue("pg_url"),
                        objects=str(tmp_path / "objects"))
    _log_run(root, "first")
    app = create_app(root)
    client = TestClient(app)
    assert "first" in client.get("/runs").text
    later = _log_run(root, "second")
    assert "second" in client.get("/runs").text
    assert client.get(f"/api/runs/{later}").json()["name"] == "second"
    assert app.state.labs.opened == 1


def test_a_closed_pool_closes_what_comes_back(lab):
    pool = LabPool(target_of_folder(lab), readonly=True)
    with pool.borrow() as kept:
        pass
    with pool.borrow() as borrowed:
        assert borrowed is kept
        pool.close()
    with pytest.raises(Exception, match="closed"):
        borrowed.db.scalar("SELECT 1")


@pytest.mark.postgres
def test_the_agents_tools_keep_their_lab_open_between_calls(team_store, pg_server):
    from stepstone.mcp.tools import LabTools

    url, name = team_store
    tools = LabTools(url)
    first, pages = tools.status().structured_content, tools.notebook()
    for _ in range(20):
        assert tools.status().structured_content == first
        assert tools.notebook() == pages
    assert len(_backends(pg_server, name)) == 2  # one lab for the tools, one read-only
