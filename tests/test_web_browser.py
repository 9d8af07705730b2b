"""The dashboard in a real browser: Debian chromium driven by Playwright, real uvicorn server."""

from __future__ import annotations

import base64
import contextlib
import json
import re
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
expect = pytest.importorskip("playwright.sync_api").expect
XSS = "<script>alert(1)</script>"
PIXEL = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhg"
                         "GAWjR9awAAAABJRU5ErkJggg==")  # a 1×1 PNG
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
LAB_ROOT: dict[str, Path] = {}
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    pytest.importorskip("playwright")
    import stepstone
    from stepstone.store import init_lab
    from stepstone.store.lab import open_lab

    root = init_lab(tmp_path_factory.mktemp("weblab"))
    image = root.parent / "pixel.png"
    image.write_bytes(PIXEL)
    for i in range(3):
        run = stepstone.init(project="browser", name=XSS if i == 0 else f"run-{i}",
                             config={"lr": 0.01 * (i + 1), "model": {"width": 64 * (i + 1)}},
                             notes=f"note {XSS}", tags=["demo"], lab=str(root),
                             save_code=False)  # the snapshot below is the run's only one
        for step in range(300):
            run.log({"loss": 2.0 / (step + 1) + 0.1 * i, "acc": step / 300}, step=step)
        run.log({"sample": stepstone.Image(image, caption=f"caption {XSS}")}, step=299)
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
    with _serve(root) as base:
        LAB_ROOT[base] = root
        yield base, ids


@contextlib.contextmanager
def _serve(root: Path) -> Iterator[str]:
    """The dashboard over ``root`` on a free local port, in a thread, until the block ends."""
    import uvicorn

    from stepstone.web.app import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(root), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
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


def _until(check, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while not check():
        assert time.time() < deadline, "the page did not update in time"
        time.sleep(0.2)


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
        expect(page.locator("body")).to_contain_text(text)
        if path == f"/runs/{ids[0]}":  # its scripts drew the charts (errors would show below)
            page.wait_for_selector("#charts .chart .main-svg")
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
        expect(page.locator("body")).to_contain_text(XSS)
        if path.startswith("/runs/"):  # the chart titles are drawn by script from user text
            page.wait_for_selector("#charts .chart .main-svg")
            figure = page.locator("#media figure.media")  # a caption under its image
            expect(figure.locator("figcaption .caption")).to_have_text(f"caption {XSS}")
            expect(figure.locator("img")).to_have_attribute("alt", f"caption {XSS}")
            assert figure.locator("img").evaluate("img => img.naturalWidth") == 1
        assert page.locator("main script:not([type])").count() == 0
    code = page.goto(f"{base}/runs/{ids[0]}/code?path=train.py")
    assert code is not None and page.locator("pre.source b").count() == 0
    assert page.dialogs == []
    assert page.errors == []


def test_click_through_runs_to_a_comparison(server, page) -> None:
    base, _ids = server
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


def _start_live(lab_root: Path, run_id: str) -> None:
    """A running run (heartbeat now) with loss at steps 0-2."""
    from stepstone.store.lab import open_lab

    now = time.time()
    with open_lab(lab_root) as lab:
        lab.runs.create({"id": run_id, "name": f"live {run_id}", "project": "browser",
                         "status": "running", "created_at": now, "heartbeat_at": now})
    _log_more(lab_root, run_id, [0, 1, 2], [3.0, 2.0, 1.5])


def _log_more(lab_root: Path, run_id: str, steps: list[int], values: list[float],
              key: str = "loss") -> None:
    """What the run's writer does: more points, and the run's last step."""
    from stepstone.store.lab import open_lab
    from stepstone.store.metrics import Chunk

    with open_lab(lab_root) as lab, lab.db.transaction():
        lab.metrics.write_chunks(run_id, [Chunk(key, steps, values, [time.time()] * len(steps))])
        lab.runs.write_fields(run_id, {"last_step": steps[-1]})


def _finish(lab_root: Path, run_id: str) -> None:
    from stepstone.store.lab import open_lab

    with open_lab(lab_root) as lab:
        lab.runs.update(run_id, status="finished", ended_at=time.time())


def test_a_running_run_updates_without_a_reload(server, page) -> None:
    base, _ids = server
    lab_root = LAB_ROOT[base]
    _start_live(lab_root, "live0001")
    page.goto(f"{base}/runs/live0001")
    page.wait_for_selector("#charts .chart[data-key='loss'] .main-svg")
    count = "document.querySelector(\"[data-key='loss']\").data[0].x.length"
    assert page.evaluate(count) == 3
    _log_more(lab_root, "live0001", [3, 4], [1.2, 1.0])
    # (the page's CSP forbids string eval, so poll from here rather than wait_for_function)
    _until(lambda: page.evaluate(count) == 5)
    assert page.inner_text("#last-step") == "4"
    # the evaluation of step 4, written after the page has seen step 4: drawn, nothing twice
    _log_more(lab_root, "live0001", [4], [1.1], key="eval/loss")
    evals = "document.querySelector(\"[data-key='eval/loss']\")?.data?.[0]?.x?.length ?? 0"
    _until(lambda: page.evaluate(evals) == 1)
    assert page.evaluate(count) == 5
    _finish(lab_root, "live0001")
    _until(lambda: page.inner_text("#run-status") == "finished")
    assert page.get_attribute("#run-status", "class") == "badge ok"
    assert page.errors == []


def test_a_failed_fetch_does_not_stop_the_run_page(server, page) -> None:
    base, _ids = server
    lab_root = LAB_ROOT[base]
    _start_live(lab_root, "live0002")
    aborted: list[str] = []

    def drop_the_first(route: object) -> None:
        if not aborted:
            aborted.append(route.request.url)  # type: ignore[attr-defined]
            route.abort()  # type: ignore[attr-defined]
        else:
            route.continue_()  # type: ignore[attr-defined]

    page.route(re.compile(r"/api/runs/live0002/series\?since="), drop_the_first)
    with page.expect_event("requestfailed") as failed:  # the first poll fails ...
        page.goto(f"{base}/runs/live0002")
    assert failed.value.url == f"{base}/api/runs/live0002/series?since=1"  # from step 2 on
    _log_more(lab_root, "live0002", [3, 4, 5], [1.2, 1.0, 0.9])
    count = "document.querySelector(\"[data-key='loss']\").data[0].x.length"
    _until(lambda: page.evaluate(count) == 6)  # ... and the next ones still came
    _finish(lab_root, "live0002")
    _until(lambda: page.inner_text("#run-status") == "finished")
    assert len(aborted) == 1
    assert [e for e in page.errors if "ERR_FAILED" not in e] == []


def test_the_runs_table_follows_a_running_run(server, page) -> None:
    base, _ids = server
    lab_root = LAB_ROOT[base]
    _start_live(lab_root, "live0003")
    page.goto(f"{base}/runs")
    row = page.locator("tr[data-run='live0003']")
    expect(row.locator("td.status .badge")).to_have_text("running")
    expect(row.locator("td.step")).to_have_text("2")
    page.evaluate("window.stepstoneNotReloaded = true")
    _log_more(lab_root, "live0003", [3, 4, 5, 6], [1.2, 1.0, 0.9, 0.8])
    _until(lambda: row.locator("td.step").inner_text() == "6")
    _finish(lab_root, "live0003")
    _until(lambda: row.locator("td.status .badge").inner_text() == "finished")
    assert row.locator("td.status .badge").get_attribute("class") == "badge ok"
    assert row.get_attribute("class") == "status-finished"
    assert page.evaluate("window.stepstoneNotReloaded") is True  # the same page, no reload
    assert page.errors == []


def test_compare_extends_the_curve_of_a_running_run(server, page) -> None:
    base, ids = server
    lab_root = LAB_ROOT[base]
    _start_live(lab_root, "live0004")
    page.goto(f"{base}/compare?run=live0004&run={ids[1]}&key=loss")
    page.wait_for_selector("#compare-chart[data-drawn='2']")
    lengths = "document.getElementById('compare-chart').data.map(t => t.x.length)"
    assert page.evaluate(lengths) == [3, 300]
    _log_more(lab_root, "live0004", [3, 4], [1.2, 1.0])
    _until(lambda: page.evaluate(lengths) == [5, 300])
    assert page.evaluate("document.getElementById('compare-chart').data[0].x") == [0, 1, 2, 3, 4]
    _finish(lab_root, "live0004")
    badge = page.locator("#compare-runs td.status[data-run='live0004'] .badge")
    _until(lambda: badge.inner_text() == "finished")
    assert page.errors == []


# -- analysis pages: a lab with a baseline ladder on a known law, feature rungs, evals ---------
def _law(compute: float) -> float:
    return float(1.5 + 30.0 * compute ** -0.1)


@pytest.fixture(scope="module")
def analysis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """5 baseline runs on L(C) = 1.5 + 30·C^-0.1, 3 feature rungs at a 1.5x gain and one
    below the law's floor (undefined), serving runs, eval records with buckets on two runs."""
    pytest.importorskip("playwright")
    import random

    from stepstone.store import init_lab
    from stepstone.store.evals import normalize_record
    from stepstone.store.lab import open_lab

    root = init_lab(tmp_path_factory.mktemp("analysislab"))
    rng = random.Random(3)
    now = time.time()
    with open_lab(root) as lab:
        version = lab.baselines.create(tier="small", day="2026-11-20", parent=None,
                                       config={"lr": 0.1}, reference_metric="val_loss")
        qid = lab.questions.create(text="does the window help", idea_id=None,
                                   metrics=["val_loss"], rule="gain >= 1.2 at every rung",
                                   timebox_hours=None, baseline="small")
        assert qid == "q1"
        for i, c in enumerate((1e18, 3e18, 1e19, 3e19, 1e20)):
            lab.runs.create({"id": f"base{i:04d}", "name": f"base-{i}", "project": "ladder",
                             "status": "finished", "created_at": now + i, "kind": "baseline",
                             "baseline": version}, {"seed": 0})
            lab.runs.set_summary(f"base{i:04d}", {
                "val_loss": _law(c) * (1 + rng.uniform(-2e-3, 2e-3)), "flops": c})
        for rung, c, loss in ((1, 2e18, _law(3e18)), (2, 2e19, _law(3e19)),
                              (3, 8e19, _law(1.2e20)), (4, 2e20, 1.2)):
            lab.runs.create({"id": f"feat{rung:04d}", "name": f"window-r{rung}",
                             "project": "ladder", "status": "finished",
                             "created_at": now + 10 + rung, "baseline": version,
                             "question_id": qid}, {"rung": rung, "seed": 0})
            lab.runs.set_summary(f"feat{rung:04d}", {"val_loss": loss, "flops": c})
        for k, (acc, latency) in enumerate(((0.70, 20.0), (0.78, 40.0), (0.74, 60.0),
                                            (0.85, 90.0), (0.80, 95.0), (0.90, 150.0),
                                            (0.66, 70.0))):
            lab.runs.create({"id": f"serv{k:04d}", "name": f"serve-{k}", "project": "serve",
                             "status": "finished", "created_at": now + 20 + k}, {})
            lab.runs.set_summary(f"serv{k:04d}", {"eval_accuracy": acc, "latency_ms": latency})
        levels = ("easy", "medium", "hard")
        for rid, shift in (("feat0003", 0.0), ("base0004", -0.04)):
            records = []
            for n in range(240):
                level = levels[n % 3] if n < 232 else "rare"
                mean = {"easy": 0.9, "medium": 0.7, "hard": 0.45, "rare": 0.6}[level] + shift
                records.append({"id": f"ex{n}", "difficulty": level,
                                "score": min(1.0, max(0.0, rng.gauss(mean, 0.1)))})
            with lab.db.transaction():
                lab.evals.write(rid, "eval", None,
                                [normalize_record(r, i) for i, r in enumerate(records)])
    with _serve(root) as base:
        yield base


def test_scaling_page_draws_the_law_band_and_gains(analysis_server, page) -> None:
    base = analysis_server
    page.goto(base + "/questions")
    page.locator("a[href='/scaling?question=q1']").first.click()
    page.wait_for_url("**/scaling?question=q1")
    page.wait_for_selector("#scaling-chart .main-svg")
    page.wait_for_selector("#gain-chart .main-svg")
    assert page.get_attribute("#scaling-chart", "data-drawn") == "5"  # band x2, law, 2 sets
    assert page.get_attribute("#gain-chart", "data-drawn") == "3"  # 3 defined rungs
    assert page.locator("#scaling-chart .fills path").count() >= 1  # the interval band
    assert page.locator("#gain-chart .errorbar").count() >= 3
    verdict = page.inner_text("#trend-verdict")
    assert any(v in verdict for v in ("rising", "stable", "falling", "inconclusive"))
    assert "undefined" in page.inner_text("main")
    _shot(page, "scaling")
    page.goto(base + "/scaling")
    assert "does the window help" in page.inner_text("main")
    assert page.errors == []


def test_pareto_page_greys_disqualified_runs(analysis_server, page) -> None:
    base = analysis_server
    page.goto(base + "/pareto?project=serve&quality=eval_accuracy&cost=latency_ms"
              "&constraint=latency_ms+%3C%3D+100")
    page.wait_for_selector("#pareto-chart .main-svg")
    assert page.get_attribute("#pareto-chart", "data-drawn") == "7"
    assert page.locator("#pareto-chart .scatterlayer .trace").count() == 3
    assert page.locator("table.runs tr.front").count() == 3
    assert "breaks 'latency_ms <= 100'" in page.inner_text("table.runs")
    assert page.input_value("#quality-select") == "eval_accuracy"
    _shot(page, "pareto")
    page.fill("input[name=constraint]", "latency_ms <<= 100")
    page.click("#pareto-form button")
    page.wait_for_selector("#pareto-error")
    assert "Cannot read the constraint" in page.inner_text("#pareto-error")
    assert [e for e in page.errors if "400" not in e] == []


def test_stratified_page_shows_buckets_side_by_side(analysis_server, page) -> None:
    base = analysis_server
    page.goto(base + "/runs/feat0003")
    page.locator("a[href^='/stratified?run=feat0003']").first.click()
    page.wait_for_selector("#stratified-chart .main-svg")
    assert page.get_attribute("#stratified-chart", "data-drawn") == "1"
    assert "weakest" in page.inner_text("main") and "thin" in page.inner_text("main")
    page.select_option("#against-select", "base0004")
    page.click("#stratified-form button")
    page.wait_for_url("**against=base0004**")
    page.wait_for_selector("#stratified-chart .main-svg")
    assert page.get_attribute("#stratified-chart", "data-drawn") == "2"
    assert page.locator("#stratified-chart .barlayer .trace").count() == 2
    _shot(page, "stratified")
    assert page.errors == []


def test_a_link_in_a_run_name_is_text_in_the_compare_legend(server, page) -> None:
    """plotly renders a subset of HTML in legends: a run named with <a href> became a live
    link there (issue 17). The name is escaped for plotly, which shows it as written."""
    import stepstone

    base, ids = server
    link = '<a href="https://example.invalid/">click</a>'
    run = stepstone.init(project="browser", name=link, lab=str(LAB_ROOT[base]), save_code=False)
    run.log({"loss": 1.0}, step=0)
    run.finish()
    page.goto(f"{base}/compare?run={run.id}&run={ids[1]}&key=loss")
    page.wait_for_selector("#compare-chart[data-drawn='2']")
    legend = page.locator("#compare-chart .legend")
    assert legend.locator("a").count() == 0
    assert link in (legend.text_content() or "")
    assert page.errors == []
