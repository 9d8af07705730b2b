"""The dashboard in a real browser: Debian chromium driven by Playwright, real uvicorn server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="needs Debian chromium at /usr/bin/chromium (apt install chromium)"),
]
XSS = "<script>alert(1)</script>"
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    pytest.importorskip("playwright")
    import uvicorn

    import stepstone
    from stepstone.store import init_lab
    from stepstone.store.lab import open_lab
    from stepstone.web.app import create_app

    root = init_lab(tmp_path_factory.mktemp("weblab"))
    for i in range(3):
        run = stepstone.init(project="browser", name=XSS if i == 0 else f"run-{i}",
                             config={"lr": 0.01 * (i + 1), "model": {"width": 64 * (i + 1)}},
                             notes=f"note {XSS}", tags=["demo"], lab=str(root))
        for step in range(300):
            run.log({"loss": 2.0 / (step + 1) + 0.1 * i, "acc": step / 300}, step=step)
        run.finish()
    with open_lab(root) as lab:
        ids = [r.id for r in lab.runs.list(details=False)]
        digest = lab.put_object(b"def train():\n    return '<b>not bold</b>'\n")
        snap = lab.put_object(json.dumps({"root": "/x", "git": False, "files": {
            "train.py": {"hash": digest, "size": 40}}}).encode())
        lab.runs.update(ids[0], code_snapshot=snap)
        lab.notebook.append(kind="result", title=f"result {XSS}", body="loss went down",
                            run_id=ids[0])
        lab.notebook.append(kind="correction", title="fix", body="it went down less",
                            corrects=1)
    port = _free_port()
    config = uvicorn.Config(create_app(root), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", ids
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as play:
        chromium = play.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})  # type: ignore[attr-defined]
    tab = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tab.errors = errors  # type: ignore[attr-defined]
    tab.dialogs = dialogs  # type: ignore[attr-defined]
    yield tab
    context.close()


def _shot(tab: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_every_page_opens_without_console_errors(server, page) -> None:
    base, ids = server
    checks = {
        "/runs": "run-1", f"/runs/{ids[0]}": "Curves", f"/runs/{ids[0]}/code": "train.py",
        f"/runs/{ids[0]}/code?path=train.py": "not bold", f"/runs/{ids[0]}/env": "Environment",
        f"/runs/{ids[0]}/logs": "Logs", "/questions": "Questions", "/ideas": "Ideas",
        "/baselines": "Baselines", "/notebook": "Corrects",
    }
    for path, text in checks.items():
        response = page.goto(base + path)
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
        assert text in page.inner_text("body"), path
    page.goto(f"{base}/runs/{ids[1]}")
    page.wait_for_selector("#charts .chart .main-svg")
    assert page.locator("#charts .chart").count() == 2
    _shot(page, "run")
    page.goto(base + "/notebook")
    _shot(page, "notebook")
    page.goto(base + "/runs")
    _shot(page, "runs")
    assert page.errors == []
    assert page.dialogs == []


def test_user_text_renders_as_text(server, page) -> None:
    base, ids = server
    for path in ("/runs", f"/runs/{ids[0]}", "/notebook"):
        page.goto(base + path)
        page.wait_for_load_state("networkidle")
        assert XSS in page.inner_text("body"), path
        assert page.locator("main script:not([type])").count() == 0
    code = page.goto(f"{base}/runs/{ids[0]}/code?path=train.py")
    assert code is not None and page.locator("pre.source b").count() == 0
    assert page.dialogs == []
    assert page.errors == []


def test_click_through_runs_to_a_comparison(server, page) -> None:
    base, ids = server
    page.goto(base + "/runs")
    button = page.locator("#compare-button")
    assert button.is_disabled()
    boxes = page.locator("input[name=run]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    assert button.is_enabled()
    button.click()
    page.wait_for_url("**/compare?**")
    page.wait_for_selector("#compare-chart[data-drawn='2']")
    assert page.locator("#compare-chart .scatterlayer .trace").count() == 2
    assert "loss" in page.input_value("#key-select")
    _shot(page, "compare")
    page.locator("table.runs a").first.click()
    page.wait_for_url("**/runs/*")
    assert "Curves" in page.inner_text("body")
    assert page.errors == []


def test_path_traversal_in_the_browser_is_a_404(server, page) -> None:
    base, ids = server
    response = page.goto(f"{base}/runs/{ids[0]}/code?path=../../lab.db")
    assert response.status == 404
    assert "not in code snapshot" in page.inner_text("body")
