"""The dashboard's charts and pages as a researcher reads them (issue 15), in Debian chromium:
single-point evaluations drawn, seed groups as bands, a spike in a million points kept, the
compare table bounded, Markdown in the notebook, logs as lines, smoke runs off the Pareto
ranking, both point sets on the scaling chart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import test_web_browser as shared
from test_web_browser import XSS, _serve, _shot

pytestmark = shared.pytestmark
browser, page = shared.browser, shared.page  # the same chromium and tab fixtures
analysis_server = shared.analysis_server  # the scaling ladder of the analysis pages
SPIKE_AT, SPIKE = 654_321, 1e3
GROUPS = {"lr": (0.1, 0.2), "seed": (0, 1, 2)}
WEIGHTS = bytes(range(256)) * 48  # the checkpoint one run logs and another uses


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("playwright")
    import stepstone
    from stepstone.store import init_lab
    from stepstone.store.lab import open_lab
    from stepstone.store.metrics import Chunk

    root = init_lab(tmp_path_factory.mktemp("dashlab"))
    run = stepstone.init(project="evals", name="with-evals", lab=str(root), save_code=False)
    for step in range(100):
        run.log({"loss": 2.0 / (step + 1)}, step=step)
    run.log({"eval/loss": 0.7, "eval/acc": 0.61}, step=99)  # one evaluation at the end
    run.finish()
    for lr in GROUPS["lr"]:
        for seed in GROUPS["seed"]:
            member = stepstone.init(project="seeds", name=f"lr{lr}-s{seed}", lab=str(root),
                                    config={"lr": lr, "seed": seed, "width": 64},
                                    save_code=False)
            for step in range(50):
                member.log({"loss": lr * 10 / (step + 1) + 0.05 * seed}, step=step)
            member.log({"eval/loss": lr + 0.01 * seed}, step=49)
            member.finish()
    (root.parent / "weights.bin").write_bytes(WEIGHTS)
    producer = stepstone.init(project="artifacts", name="producer", lab=str(root),
                              save_code=False)
    model = stepstone.Artifact("model", type="checkpoint", metadata={"note": XSS, "width": 64})
    model.add_file(root.parent / "weights.bin", name="ckpt/weights.bin")
    with model.new_file("config.json") as config:
        config.write('{"width": 64}')
    producer.log_artifact(model, aliases=["best", XSS])
    producer.finish()
    consumer = stepstone.init(project="artifacts", name="consumer", lab=str(root),
                              save_code=False)
    consumer.use_artifact("model:best", type="checkpoint")
    consumer.finish()
    now = time.time()
    n = 1_000_000
    values = [2.0 - i * 1e-6 for i in range(n)]
    values[SPIKE_AT], values[SPIKE_AT + 1] = SPIKE, -SPIKE  # one bucket: LTTB kept one
    with open_lab(root) as lab:
        lab.runs.create({"id": "big00001", "name": "a million points", "project": "big",
                         "status": "finished", "created_at": now, "last_step": n - 1})
        with lab.db.transaction():
            for start in range(0, n, 100_000):
                steps = list(range(start, start + 100_000))
                lab.metrics.write_chunks("big00001", [Chunk(
                    "loss", steps, values[start:start + 100_000], [now] * 100_000)])
        log = "".join(f"epoch {i}: loss {1 / (i + 1):.4f}\n" for i in range(60))
        log += "a long line " + "x" * 600 + " end of the long line\n"
        lab.attach_object("big00001", "log", "output.log", lab.put_object(log.encode()))
        lab.runs.create({"id": "smoke001", "name": "smoke", "project": "serve", "kind": "smoke",
                         "status": "finished", "created_at": now + 1}, {})
        lab.runs.set_summary("smoke001", {"eval_accuracy": 0.99, "latency_ms": 1.0})
        for k, (acc, latency) in enumerate(((0.70, 20.0), (0.80, 40.0))):
            lab.runs.create({"id": f"serv{k:04d}", "name": f"serve-{k}", "project": "serve",
                             "status": "finished", "created_at": now + 2 + k}, {})
            lab.runs.set_summary(f"serv{k:04d}", {"eval_accuracy": acc, "latency_ms": latency})
        lab.notebook.append(kind="result", title="the sweep", body="first")
        lab.notebook.append(
            kind="result", title="run **finished**",
            body="The run **finished** with *care*.\nEvidence: page 1\n\n"
                 "- <script>alert(1)</script>\n- `x<y`")
    with _serve(root) as base:
        yield base


def _run_id(base: str, name: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{base}/api/runs?name={name}&per=5") as answer:
        import json

        found = [r for r in json.load(answer)["runs"] if r["name"] == name]
    assert len(found) == 1
    return str(found[0]["id"])


def test_a_single_point_evaluation_is_drawn_on_the_run_page(lab_server, page) -> None:
    run_id = _run_id(lab_server, "with-evals")
    page.goto(f"{lab_server}/runs/{run_id}")
    chart = "#charts .chart[data-key='eval/loss']"
    page.wait_for_selector(chart + "[data-points='1']")
    assert page.locator(chart + " .scatterlayer .point").count() == 1  # a marker is drawn
    drawn = page.evaluate(
        "document.querySelector(\"#charts .chart[data-key='eval/loss']\").data[0]")
    assert drawn["x"] == [99] and drawn["y"] == [0.7] and "markers" in drawn["mode"]
    _shot(page, "run-single-point-evals")
    assert page.errors == []


def test_the_run_page_smooths_with_the_raw_curve_behind_and_logs_its_axes(
        lab_server, page) -> None:
    run_id = _run_id(lab_server, "with-evals")
    page.goto(f"{lab_server}/runs/{run_id}")
    chart = "#charts .chart[data-key='loss']"
    page.wait_for_selector(chart + "[data-points='100']")
    page.evaluate("(() => { const s = document.getElementById('smoothing'); s.value = '0.9';"
                  " s.dispatchEvent(new Event('input')); })()")
    page.wait_for_selector(chart + "[data-smoothing='0.9']")
    traces = page.evaluate(f"document.querySelector(\"{chart}\").data.map("
                           "t => ({x: t.x, y: t.y, opacity: t.opacity}))")
    assert len(traces) == 2 and traces[0]["opacity"] < 1  # the raw curve, faint, behind
    assert traces[0]["y"][0] == 2.0 and traces[1]["y"][0] == pytest.approx(2.0)
    assert traces[1]["y"][10] > traces[0]["y"][10]  # the average lags the falling loss
    page.check("#log-y")
    page.wait_for_function(f"document.querySelector(\"{chart}\").layout.yaxis.type"
                           " === 'log'")
    _shot(page, "run-smoothed-log")
    assert page.errors == []


def test_compare_opens_on_a_single_point_metric_with_markers(lab_server, page) -> None:
    ids = [_run_id(lab_server, "with-evals"), _run_id(lab_server, "lr0.1-s0")]
    page.goto(f"{lab_server}/compare?run={ids[0]}&run={ids[1]}&key=eval/loss&group=none")
    page.wait_for_selector("#compare-chart[data-drawn='2']")
    assert page.locator("#compare-chart .scatterlayer .point").count() == 2
    assert page.errors == []


def test_compare_draws_seed_groups_as_mean_and_band(lab_server, page) -> None:
    ids = [_run_id(lab_server, f"lr{lr}-s{seed}")
           for lr in GROUPS["lr"] for seed in GROUPS["seed"]]
    page.goto(f"{lab_server}/compare?" + "&".join(f"run={i}" for i in ids) + "&key=loss")
    page.wait_for_selector("#compare-chart[data-groups='2']")
    traces = page.evaluate("document.getElementById('compare-chart').data.map("
                           "t => ({meta: t.meta, name: t.name, x: t.x, y: t.y, fill: t.fill}))")
    means = [t for t in traces if t["meta"] == "mean"]
    assert [t["name"] for t in means] == ["lr=0.1 (3 runs)", "lr=0.2 (3 runs)"]
    assert [t["meta"] for t in traces].count("band-high") == 2
    assert all(t["fill"] == "tonexty" for t in traces if t["meta"] == "band-high")
    assert not [t for t in traces if t["meta"] == "run"]  # every run is in a group
    # at step 0 the lr=0.1 seeds log 1.0, 1.05 and 1.1: mean 1.05, band 1.0 .. 1.1
    low, high = (next(t for t in traces if t["meta"] == m) for m in ("band-low", "band-high"))
    assert means[0]["x"][0] == 0
    assert means[0]["y"][0] == pytest.approx(1.05)
    assert (low["y"][0], high["y"][0]) == (pytest.approx(1.0), pytest.approx(1.1))
    assert page.locator("#compare-chart .fills path").count() >= 2
    # the summary table has the runs as columns and the keys as rows: it fits the page
    width = page.evaluate("document.getElementById('compare-runs').parentElement"
                          ".getBoundingClientRect().width")
    assert width <= page.evaluate("document.querySelector('main').clientWidth")
    assert page.locator("#compare-runs thead th[data-run]").count() == 6
    assert page.locator("#group-select option[value='seed']").count() == 1
    # the config diff shows only what differs (lr and seed, not width)
    diff = page.inner_text("#config-diff")
    assert "lr" in diff and "seed" in diff and "width" not in diff
    _shot(page, "compare-seed-groups")
    # smoothing draws the raw mean faint behind; log axes follow the boxes
    page.evaluate("(() => { const s = document.getElementById('smoothing'); s.value = '0.6';"
                  " s.dispatchEvent(new Event('input')); })()")
    page.wait_for_selector("#compare-chart[data-smoothing='0.6']")
    metas = page.evaluate("document.getElementById('compare-chart').data.map(t => t.meta)")
    assert metas.count("raw") == 2
    raw = page.evaluate("document.getElementById('compare-chart').data"
                        ".filter(t => t.meta === 'raw')[0].opacity")
    assert raw < 1
    page.check("#log-y")
    page.wait_for_function("document.getElementById('compare-chart').layout.yaxis.type"
                           " === 'log'")
    _shot(page, "compare-smoothed-log")
    page.select_option("#group-select", "none")
    page.click("#compare-chart ~ h2, form.filters button")
    page.wait_for_selector("#compare-chart[data-groups='0'][data-drawn='6']")
    assert page.errors == []


def test_a_consumer_links_to_the_producer_of_its_artifact_and_its_files_download(
        lab_server, page) -> None:
    producer, consumer = _run_id(lab_server, "producer"), _run_id(lab_server, "consumer")
    page.goto(f"{lab_server}/runs/{consumer}")
    used = page.locator("#artifacts table.used tr")
    shared.expect(used).to_have_count(1)
    shared.expect(used.locator(".artifact-name")).to_have_text("model:v0")
    shared.expect(used.locator(".artifact-type")).to_have_text("checkpoint")
    shared.expect(used.locator(".alias")).to_have_text([XSS, "best", "latest"])
    assert page.locator("#artifacts .artifact.logged").count() == 0  # it logged none
    used.locator("a.producer").click()
    page.wait_for_url(f"**/runs/{producer}")
    logged = page.locator("#artifacts .artifact.logged")
    shared.expect(logged).to_have_count(1)
    shared.expect(logged.locator(".artifact-name")).to_have_text("model:v0")
    shared.expect(logged.locator("h4 .hint")).to_have_text("2 files, 12.0 KiB")
    shared.expect(logged.locator(".alias")).to_have_text([XSS, "best", "latest"])
    shared.expect(logged.locator("table.metadata td").first).to_have_text(XSS)
    shared.expect(logged.locator(".files a")).to_have_text(["ckpt/weights.bin", "config.json"])
    assert page.locator("#artifacts table.used").count() == 0  # it used none
    with page.expect_download() as started:
        logged.locator(".files a", has_text="ckpt/weights.bin").click()
    download = started.value
    assert download.suggested_filename == "weights.bin"
    assert Path(download.path()).read_bytes() == WEIGHTS
    _shot(page, "run-artifacts")
    assert page.dialogs == []  # type: ignore[attr-defined]
    assert page.errors == []


def test_a_spike_in_a_million_points_survives_downsampling(lab_server, page) -> None:
    page.goto(f"{lab_server}/runs/big00001")
    page.wait_for_selector("#charts .chart[data-key='loss'][data-points]")
    drawn = page.evaluate("document.querySelector(\"#charts .chart[data-key='loss']\").data[0]")
    assert len(drawn["x"]) <= 2000
    assert max(drawn["y"]) == SPIKE and min(drawn["y"]) == -SPIKE
    assert drawn["x"][drawn["y"].index(SPIKE)] == SPIKE_AT
    _shot(page, "run-million-points-spike")
    assert page.errors == []


def test_logs_are_lines_in_a_scrolling_block(lab_server, page) -> None:
    page.goto(f"{lab_server}/runs/big00001/logs")
    block = page.locator("pre.log")
    block.wait_for()
    box = page.evaluate("(() => { const p = document.querySelector('pre.log');"
                        " const s = getComputedStyle(p); return {h: p.clientHeight,"
                        " sw: p.scrollWidth, cw: p.clientWidth, sh: p.scrollHeight,"
                        " oy: s.overflowY, line: parseFloat(s.lineHeight) ||"
                        " parseFloat(s.fontSize) * 1.2}; })()")
    assert box["h"] > 10 * box["line"]  # many lines shown, not one
    assert box["sw"] <= box["cw"]  # the long line wraps instead of running off the block
    assert box["sh"] > box["h"] and box["oy"] in ("auto", "scroll")  # the rest scrolls
    assert "epoch 59: loss" in block.inner_text()
    _shot(page, "logs")


def test_the_notebook_renders_markdown_safely(lab_server, page) -> None:
    page.goto(f"{lab_server}/notebook")
    body = page.locator("article.page", has_text="Evidence").locator(".body")
    body.wait_for()
    assert body.locator("strong").first.inner_text() == "finished"
    assert "**" not in body.inner_text()
    assert body.locator("a[href='#page-1']").inner_text() == "page 1"
    assert body.locator("script").count() == 0 and "<script>" in body.inner_text()
    assert body.locator("code").inner_text() == "x<y"
    assert page.dialogs == []  # type: ignore[attr-defined]
    _shot(page, "notebook-markdown")


def test_pareto_leaves_smoke_runs_out(lab_server, page) -> None:
    page.goto(f"{lab_server}/pareto?project=serve&quality=eval_accuracy&cost=latency_ms")
    page.wait_for_selector("#pareto-chart .main-svg")
    assert page.get_attribute("#pareto-chart", "data-drawn") == "2"
    assert "smoke" not in page.inner_text("table.runs")
    assert "a smoke run" in page.inner_text("#pareto-left-out")
    page.check("#smoke-box")
    page.click("#pareto-form button")
    page.wait_for_url("**smoke=true**")
    page.wait_for_selector("#pareto-chart .main-svg")
    assert page.get_attribute("#pareto-chart", "data-drawn") == "3"
    assert page.errors == []


def test_scaling_shows_baseline_points_over_the_rungs_and_a_log_gain_axis(
        analysis_server, page) -> None:
    page.goto(analysis_server + "/scaling?question=q1")
    page.wait_for_selector("#scaling-chart .main-svg")
    page.wait_for_selector("#gain-chart .main-svg")
    traces = page.evaluate("document.getElementById('scaling-chart').data.map("
                           "t => ({name: t.name, symbol: t.marker && t.marker.symbol}))")
    names = [t["name"] or "" for t in traces]
    base = next(i for i, n in enumerate(names) if n.startswith("baseline runs"))
    feat = next(i for i, n in enumerate(names) if n.endswith("runs") and i != base)
    assert feat < base  # the baseline's points are drawn last, on top
    assert traces[feat]["symbol"].endswith("-open")  # the diamonds do not cover what is under
    assert page.evaluate("document.getElementById('gain-chart').layout.xaxis.type") == "log"
    _shot(page, "scaling-order")
    assert page.errors == []
