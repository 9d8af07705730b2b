"""Shared fixtures: a temporary lab, and the same store on SQLite and on PostgreSQL.

The PostgreSQL cases need a server: set ``STEPSTONE_TEST_PG`` to its URL (``.ci/postgres.sh``
installs and starts one and prints it). Each test gets a fresh schema of its own there.
Without the variable those cases are skipped, saying so.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepstone.sdk.run import wait_for_capture
from stepstone.store import init_lab
from stepstone.store.target import StoreTarget, target_of_folder

PG_ENV = "STEPSTONE_TEST_PG"
NO_SKIPS_ENV = "STEPSTONE_NO_SKIPS"  # set by scripts/test.sh, which starts every service
# where the developer's own labs and stores are: never written to by a test
_USER_ENV = ("STEPSTONE_LAB", "STEPSTONE_STORE", "STEPSTONE_OBJECTS", "STEPSTONE_RUN_ID",
             "STEPSTONE_MODE", "STEPSTONE_PROJECT", "STEPSTONE_SYSTEM_METRICS")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under ``scripts/test.sh`` a skipped test is a failure: it means a service is missing."""
    if not os.environ.get(NO_SKIPS_ENV) or hasattr(session.config, "workerinput"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        names = ", ".join(sorted({report.nodeid for report in skipped})[:10])
        reporter.write_line(f"{NO_SKIPS_ENV} is set and {len(skipped)} test(s) skipped "
                            f"(a service is missing?): {names}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def _capture_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _no_user_lab(monkeypatch: pytest.MonkeyPatch, _capture_cache: Path) -> Iterator[None]:
    for name in _USER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(_capture_cache))  # capture's cache, not the user's
    yield
    wait_for_capture()  # a run's start-up capture ends with its test, not in the next one


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A fresh SQLite lab (its ``.stepstone`` folder) in the test's temporary folder."""
    return init_lab(tmp_path)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL server the tests may use (``STEPSTONE_TEST_PG``), or a skip."""
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set: export {PG_ENV}=postgresql://... "
                    "(.ci/postgres.sh starts a server and prints one) to run the PostgreSQL cases")
    return url


def with_schema(url: str, schema: str) -> str:
    """``url`` whose connections work in ``schema`` (libpq ``options=-csearch_path=...``)."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A store URL on a fresh, empty schema of the test server, dropped afterwards."""
    import psycopg

    schema = f"stepstone_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    yield with_schema(pg_server, schema)
    wait_for_capture()  # a run's last write lands before its schema goes
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '20s'")
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> StoreTarget:
    """A fresh lab on each backend: SQLite, and PostgreSQL with a shared objects folder.

    ``.root`` is the lab folder to pass as ``lab=``/``--lab``/``STEPSTONE_LAB``;
    ``.database`` and ``.objects`` say where the rows and the blobs are.
    """
    if request.param == "sqlite":
        return target_of_folder(init_lab(tmp_path / "lab"))
    url = request.getfixturevalue("pg_url")
    root = init_lab(tmp_path / "lab", store=url, objects=str(tmp_path / "shared-objects"))
    return target_of_folder(root)
