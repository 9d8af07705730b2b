"""The dashboard's API: one error shape, the token, no path traversal, LTTB, paging."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

import stepstone
from stepstone.store.lab import open_lab
from stepstone.store.target import StoreTarget
from stepstone.web.app import create_app
from stepstone.web.downsample import lttb, lttb_indices

XSS = "<script>alert(1)</script>"


@pytest.fixture
def web_lab(lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text("print('hello')\n")
    monkeypatch.chdir(project)
    for i in range(3):
        run = stepstone.init(project="web", name=XSS if i == 0 else f"run-{i}",
                             config={"lr": 0.1 * (i + 1)}, notes=XSS, lab=str(lab))
        for step in range(100):
            run.log({"loss": 1.0 / (step + 1) + i}, step=step)
        run.finish()
    return lab


def _ids(lab: Path) -> list[str]:
    with open_lab(lab, readonly=True) as opened:
        return [r.id for r in opened.runs.list(details=False)]


def _assert_error(response, status: int) -> None:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["status"] == status
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_error_shape_404_and_400(web_lab: Path) -> None:
    client = TestClient(create_app(web_lab))
    _assert_error(client.get("/api/runs/doesnotexist"), 404)
    _assert_error(client.get("/api/no/such/endpoint"), 404)
    _assert_error(client.get("/api/runs?per=0"), 400)
    _assert_error(client.get("/api/runs?sort=drop%20table"), 400)
    _assert_error(client.get("/api/runs?status=bogus"), 400)
    _assert_error(client.get("/api/compare/series?key=loss"), 400)


def test_read_only(web_lab: Path) -> None:
    client = TestClient(create_app(web_lab))
    for method in ("post", "put", "delete", "patch"):
        _assert_error(getattr(client, method)("/api/runs"), 405)


def test_token_required_everywhere(web_lab: Path) -> None:
    client = TestClient(create_app(web_lab, token="s3cret"))
    _assert_error(client.get("/api/runs"), 401)
    _assert_error(client.get("/api/runs", headers={"Authorization": "Bearer wrong"}), 401)
    assert client.get("/static/app.css").status_code == 401
    assert client.get("/api/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/api/runs", headers={"X-Stepstone-Token": "s3cret"}).status_code == 200
    # once in the query, then a cookie (and the page reloads without the token in its URL)
    first = client.get("/runs?token=s3cret&status=finished", follow_redirects=False)
    assert first.status_code == 303
    assert "token" not in first.headers["location"]
    assert "stepstone_token" in first.headers.get("set-cookie", "")
    assert client.get("/api/runs").status_code == 200  # the cookie now carries it


def _give_snapshot(lab: Path, run_id: str) -> None:
    import json

    with open_lab(lab) as opened:
        digest = opened.put_object(b"print('hello')\n")
        manifest = {"root": "/x", "git": False,
                    "files": {"train.py": {"hash": digest, "size": 15}}}
        snap = opened.put_object(json.dumps(manifest).encode())
        opened.runs.update(run_id, code_snapshot=snap)


def test_code_browser_refuses_path_traversal(web_lab: Path) -> None:
    client = TestClient(create_app(web_lab))
    run_id = _ids(web_lab)[0]
    _give_snapshot(web_lab, run_id)
    listed = client.get(f"/runs/{run_id}/code")
    assert listed.status_code == 200
    assert "train.py" in listed.text
    shown = client.get(f"/api/runs/{run_id}/code", params={"path": "train.py"})
    assert shown.status_code == 200 and "hello" in shown.json()["text"]
    for bad in ("../../lab.db", "/etc/passwd", "..%2F..%2Flab.db", "../.stepstone/lab.db"):
        _assert_error(client.get(f"/api/runs/{run_id}/code", params={"path": bad}), 404)
        page = client.get(f"/runs/{run_id}/code", params={"path": bad},
                          headers={"accept": "text/html"})
        assert page.status_code == 404
        assert "SQLite" not in page.text


def test_pages_escape_user_text(web_lab: Path) -> None:
    client = TestClient(create_app(web_lab))
    run_id = next(r for r in _ids(web_lab))
    for path in ("/runs", f"/runs/{run_id}", f"/compare?run={run_id}"):
        text = client.get(path).text
        assert XSS not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/runs").text


def test_every_page_renders(web_lab: Path) -> None:
    client = TestClient(create_app(web_lab))
    ids = _ids(web_lab)
    paths = ["/runs", "/runs?status=finished&sort=name&order=asc&page=1", "/questions",
             "/ideas", "/baselines", "/notebook", f"/compare?run={ids[0]}&run={ids[1]}"]
    for run_id in ids:
        paths += [f"/runs/{run_id}", f"/runs/{run_id}/code", f"/runs/{run_id}/env",
                  f"/runs/{run_id}/logs"]
    for path in paths:
        assert client.get(path).status_code == 200, path
    assert client.get("/static/plotly.min.js").status_code == 200


def test_listing_pages_and_puts_unfinished_first(web_lab: Path) -> None:
    with open_lab(web_lab) as opened:
        victim = _ids(web_lab)[-1]
        opened.runs.update(victim, status="crashed")
    client = TestClient(create_app(web_lab))
    body = client.get("/api/runs", params={"per": 2}).json()
    assert body["total"] == 3 and len(body["runs"]) == 2
    assert body["runs"][0]["id"] == victim
    second = client.get("/api/runs", params={"per": 2, "page": 2}).json()
    assert len(second["runs"]) == 1
    with open_lab(web_lab) as opened:  # a running run whose heartbeat stopped: crashed
        opened.runs.create({"id": "stale001", "name": "stale", "project": "web",
                            "status": "running", "created_at": 1.0, "heartbeat_at": 1.0})
    listed = client.get("/api/runs", params={"per": 10}).json()["runs"]
    assert {r["id"]: r["status"] for r in listed}["stale001"] == "crashed"


def test_series_since_and_compare(web_lab: Path) -> None:
    client = TestClient(create_app(web_lab))
    ids = _ids(web_lab)
    later = client.get(f"/api/runs/{ids[0]}/series", params={"since": 90}).json()
    assert later["series"]["loss"]["x"] == list(range(91, 100))
    both = client.get("/api/compare/series",
                      params={"run": ids[:2], "key": "loss", "points": 10}).json()
    assert [len(s["x"]) for s in both["series"]] == [10, 10]
    assert all(s["n"] == 100 for s in both["series"])


# -- LTTB -------------------------------------------------------------------------------
@pytest.mark.parametrize("use_numpy", [False, True])
def test_lttb_keeps_first_last_and_spikes(use_numpy: bool) -> None:
    n = 10_000
    xs = list(range(n))
    ys = [0.0] * n
    ys[3_333] = 50.0
    ys[7_777] = -40.0
    keep = lttb_indices(xs, ys, 100, use_numpy=use_numpy)
    assert len(keep) == 100
    assert keep[0] == 0 and keep[-1] == n - 1
    assert 3_333 in keep and 7_777 in keep
    assert keep == sorted(keep)


def test_lttb_paths_agree_and_small_series_pass_through() -> None:
    xs = list(range(5_000))
    ys = [math.sin(x / 50.0) + (x % 7) * 0.01 for x in xs]
    assert lttb_indices(xs, ys, 300, use_numpy=False) == lttb_indices(xs, ys, 300,
                                                                      use_numpy=True)
    assert lttb_indices([0, 1, 2], [1, 2, 3], 10) == [0, 1, 2]
    out_x, out_y = lttb([0, 1, 2, 3, 4], [0, 5, 0, 5, 0], 3)
    assert out_x[0] == 0 and out_x[-1] == 4 and out_y[1] == 5
    with pytest.raises(ValueError):
        lttb_indices([0, 1], [0], 3)


def test_lttb_keeps_the_shape_of_a_line() -> None:
    xs = list(range(1_000))
    ys = [2.0 * x + 1 for x in xs]
    keep = lttb_indices(xs, ys, 50)
    assert all(ys[i] == 2.0 * xs[i] + 1 for i in keep)
    assert keep[0] == 0 and keep[-1] == 999


def test_ui_refuses_public_bind_without_token() -> None:
    from click.testing import CliRunner

    from stepstone.cli import cli

    result = CliRunner().invoke(cli, ["ui", "--host", "0.0.0.0"], env={"STEPSTONE_UI_TOKEN": ""})
    assert result.exit_code != 0
    assert "--token" in str(result.exception) + result.output


def test_method_pages_show_lineage_regressions_and_escape(web_lab: Path) -> None:
    import time

    with open_lab(web_lab) as lab:
        idea = lab.ideas.add(title=f"idea {XSS}", source="paper", cost_hours=2.0,
                             signal="high", reason="parked")
        qid = lab.questions.create(text=f"does it help {XSS}", idea_id=idea,
                                   metrics=["val_loss"], rule="val_loss <= baseline - 0.01",
                                   timebox_hours=0.0, baseline=None)
        first = lab.baselines.create(tier="small", day="2026-11-20", parent=None,
                                     config={"lr": 0.1, "width": 64},
                                     reference_metric="val_loss")
        second = lab.baselines.create(tier="small", day="2026-11-21", parent=first,
                                      config={"lr": 0.1, "width": 128},
                                      reference_metric="val_loss")
        for version, loss in ((first, 1.0), (second, 2.0)):  # the newer one is worse
            run_id = f"b{loss:.0f}000000"
            lab.runs.create({"id": run_id, "name": f"base {version}", "project": "web",
                             "status": "finished", "created_at": time.time(),
                             "kind": "baseline", "baseline": version},
                            {"lr": 0.1})
            lab.runs.set_summary(run_id, {"val_loss": loss})
        lab.runs.create({"id": "feat0001", "name": "feature", "project": "web",
                         "status": "finished", "created_at": time.time(), "baseline": first},
                        {"lr": 0.1, "width": 64, "window": 16})
        page_no = lab.notebook.append(kind="result", title=f"result {XSS}", body="numbers",
                                      run_id="feat0001")
        lab.notebook.append(kind="correction", title="fix", body="less", corrects=page_no)
    client = TestClient(create_app(web_lab))
    baselines = client.get("/baselines").text
    assert first in baselines and second in baselines and "regressed" in baselines
    questions = client.get("/questions").text
    assert qid in questions and "over by" in questions and XSS not in questions
    ideas = client.get("/ideas").text
    assert "idea &lt;script&gt;" in ideas and XSS not in ideas
    notebook = client.get("/notebook").text
    assert f'href="#page-{page_no}"' in notebook and XSS not in notebook
    run_page = client.get("/runs/feat0001").text
    assert "window" in run_page and first in run_page and f"#page-{page_no}" in run_page


# -- analysis pages: scaling, Pareto, stratified ----------------------------------------------
def law(compute: float) -> float:
    """The known baseline law of the analysis lab: L(C) = 1.5 + 30·C^-0.1."""
    return float(1.5 + 30.0 * compute ** -0.1)


def build_analysis_lab(lab: Path) -> dict[str, str]:
    """A baseline ladder of 5 runs on ``law``, a question whose 3 rungs reach the loss the
    baseline needs 1.5× the compute for (and a 4th below the law's floor: undefined), eval
    records with buckets on two runs, and serving runs with accuracy and latency."""
    import random
    import time

    from stepstone.store.evals import normalize_record

    rng = random.Random(7)
    now = time.time()
    with open_lab(lab) as opened:
        version = opened.baselines.create(tier="small", day="2026-11-20", parent=None,
                                          config={"lr": 0.1}, reference_metric="val_loss")
        qid = opened.questions.create(text="does the window help", idea_id=None,
                                      metrics=["val_loss"], rule="gain >= 1.2 at every rung",
                                      timebox_hours=None, baseline="small")
        for i, c in enumerate((1e18, 3e18, 1e19, 3e19, 1e20)):
            rid = f"base{i:04d}"
            opened.runs.create({"id": rid, "name": f"base-{i}", "project": "ladder",
                                "status": "finished", "created_at": now + i,
                                "kind": "baseline", "baseline": version}, {"seed": 0})
            opened.runs.set_summary(rid, {"val_loss": law(c) * (1 + rng.uniform(-2e-3, 2e-3)),
                                          "flops": c})
        rungs = [(1, 2e18, law(1.5 * 2e18)), (2, 2e19, law(1.5 * 2e19)),
                 (3, 8e19, law(1.5 * 8e19)), (4, 2e20, 1.2)]
        for rung, c, loss in rungs:
            rid = f"feat{rung:04d}"
            opened.runs.create({"id": rid, "name": f"window-r{rung}", "project": "ladder",
                                "status": "finished", "created_at": now + 10 + rung,
                                "baseline": version, "question_id": qid},
                               {"rung": rung, "seed": 0})
            opened.runs.set_summary(rid, {"val_loss": loss, "flops": c})
        for k, (acc, latency) in enumerate(((0.70, 20.0), (0.78, 40.0), (0.74, 60.0),
                                            (0.85, 90.0), (0.80, 95.0), (0.90, 150.0))):
            rid = f"serv{k:04d}"
            opened.runs.create({"id": rid, "name": f"serve-{k}", "project": "serve",
                                "status": "finished", "created_at": now + 20 + k}, {})
            opened.runs.set_summary(rid, {"eval_accuracy": acc, "latency_ms": latency,
                                          "memory_gb": 10.0 + k})
        levels = ("easy", "medium", "hard", "rare")
        for rid, shift in (("feat0003", 0.0), ("base0004", -0.05)):
            records = []
            for n in range(200):
                level = levels[n % 3] if n < 195 else "rare"
                mean = {"easy": 0.9, "medium": 0.7, "hard": 0.45, "rare": 0.6}[level] + shift
                records.append({"id": f"ex{n}", "score": min(1.0, max(0.0, rng.gauss(mean, 0.1))),
                                "difficulty": level, "length": 10 + 3 * n})
            with opened.db.transaction():
                opened.evals.write(rid, "eval", None,
                                   [normalize_record(r, i) for i, r in enumerate(records)])
    return {"version": version, "question": qid}


@pytest.fixture
def analysis_lab(lab: Path) -> tuple[Path, dict[str, str]]:
    return lab, build_analysis_lab(lab)


def test_scaling_page_and_api_with_a_ladder(analysis_lab: tuple[Path, dict[str, str]]) -> None:
    lab, made = analysis_lab
    client = TestClient(create_app(lab))
    body = client.get("/api/scaling", params={"question": made["question"]}).json()
    assert body["version"] == made["version"] and body["metric"] == "val_loss"
    assert len(body["baseline_points"]) == 5 and len(body["feature_points"]) == 4
    curve = body["fit"]["curve"]
    assert len(curve["compute"]) == len(curve["low"]) == len(curve["high"])
    assert all(lo <= y <= hi for lo, y, hi in zip(curve["low"], curve["loss"], curve["high"],
                                                    strict=True))
    rungs = {r["label"]: r for r in body["gain"]["rungs"]}
    for label in ("1", "2", "3"):  # the known 1.5x gain, inside its interval
        assert rungs[label]["defined"]
        assert rungs[label]["gain"] == pytest.approx(1.5, rel=0.15)
    assert not rungs["4"]["defined"] and rungs["4"]["gain"] is None
    assert "irreducible" in rungs["4"]["note"]
    assert body["gain"]["trend"]["verdict"] in ("rising", "stable", "falling", "inconclusive")
    page = client.get("/scaling", params={"question": made["question"]})
    assert page.status_code == 200
    assert 'id="scaling-chart"' in page.text and 'id="gain-chart"' in page.text
    assert "undefined" in page.text and body["gain"]["trend"]["verdict"] in page.text
    # the same gains decide reads
    from stepstone.method.decide import gather

    with open_lab(lab, readonly=True) as opened:
        proposal = gather(opened, made["question"])
    assert proposal.gains["1"][0] == pytest.approx(rungs["1"]["gain"])
    picker = client.get("/scaling").text
    assert f"/scaling?question={made['question']}" in picker and made["version"] in picker
    baseline_only = client.get("/scaling", params={"baseline": "small"})
    assert baseline_only.status_code == 200 and "choose a question" in baseline_only.text
    assert f'href="/scaling?question={made["question"]}"' in client.get("/questions").text


def test_scaling_page_says_why_when_the_fit_is_impossible(lab: Path) -> None:
    import time

    with open_lab(lab) as opened:
        version = opened.baselines.create(tier="tiny", day="2026-11-20", parent=None,
                                          config={}, reference_metric="val_loss")
        qid = opened.questions.create(text="too early", idea_id=None, metrics=["val_loss"],
                                      rule="gain >= 1.2 at every rung", timebox_hours=None,
                                      baseline="tiny")
        for i, c in enumerate((1e18, 1e19)):
            opened.runs.create({"id": f"b{i}", "name": f"b{i}", "project": "p",
                                "status": "finished", "created_at": time.time(),
                                "kind": "baseline", "baseline": version})
            opened.runs.set_summary(f"b{i}", {"val_loss": law(c), "flops": c})
        opened.runs.create({"id": "f1", "name": "f1", "project": "p", "status": "finished",
                            "created_at": time.time(), "baseline": version, "question_id": qid})
        opened.runs.set_summary("f1", {"val_loss": 2.0, "flops": 1e18})
    client = TestClient(create_app(lab))
    page = client.get("/scaling", params={"question": qid})
    assert page.status_code == 200
    assert 'id="fit-reason"' in page.text and "cannot be fitted" in page.text
    assert 'id="gain-reason"' in page.text
    body = client.get("/api/scaling", params={"question": qid}).json()
    assert body["fit"] is None and body["gain"] is None and body["fit_reason"]
    assert client.get("/scaling").status_code == 200
    _assert_error(client.get("/api/scaling", params={"question": "q99"}), 404)
    _assert_error(client.get("/api/scaling"), 400)


def test_scaling_and_analysis_pages_with_an_empty_lab(lab: Path) -> None:
    client = TestClient(create_app(lab))
    for path in ("/scaling", "/pareto", "/stratified"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'class="empty"' in page.text or 'class="notice"' in page.text, path
    assert client.get("/api/pareto").json()["reason"] == "no finished runs to rank"


def test_pareto_page_and_api(analysis_lab: tuple[Path, dict[str, str]]) -> None:
    lab, _made = analysis_lab
    client = TestClient(create_app(lab))
    params = {"quality": "eval_accuracy", "cost": "latency_ms", "project": "serve",
              "constraint": "latency_ms <= 100"}
    body = client.get("/api/pareto", params=params).json()
    assert body["front"] == ["serv0000", "serv0001", "serv0003"]
    assert [d["run"] for d in body["disqualified"]] == ["serv0005"]
    assert "breaks 'latency_ms <= 100'" in body["disqualified"][0]["reasons"][0]
    assert {"eval_accuracy", "latency_ms", "memory_gb"} <= set(body["keys"])
    page = client.get("/pareto", params=params)
    assert page.status_code == 200 and 'id="pareto-chart"' in page.text
    assert "disqualified" in page.text and "latency_ms &lt;= 100" in page.text
    guessed = client.get("/api/pareto", params={"project": "serve"}).json()
    assert guessed["quality"] == "eval_accuracy" and guessed["cost"] == ["latency_ms"]


def test_pareto_bad_constraint(analysis_lab: tuple[Path, dict[str, str]]) -> None:
    lab, _made = analysis_lab
    client = TestClient(create_app(lab))
    bad = {"quality": "eval_accuracy", "cost": "latency_ms", "constraint": "latency_ms <<= x"}
    _assert_error(client.get("/api/pareto", params=bad), 400)
    assert "Cannot read the constraint" in client.get("/api/pareto", params=bad).json()[
        "error"]["message"]
    page = client.get("/pareto", params=bad, headers={"accept": "text/html"})
    assert page.status_code == 400
    assert 'id="pareto-error"' in page.text and "Cannot read the constraint" in page.text
    assert 'id="pareto-form"' in page.text  # the form stays, to fix the constraint
    _assert_error(client.get("/api/pareto", params={"project": "nosuch"}), 404)


def test_stratified_page_and_api(analysis_lab: tuple[Path, dict[str, str]]) -> None:
    lab, _made = analysis_lab
    client = TestClient(create_app(lab))
    body = client.get("/api/stratified", params={"run": "feat0003"}).json()
    assert body["fields"] == ["difficulty", "length"] and body["by"] == "difficulty"
    buckets = {b["bucket"]: b for b in body["runs"][0]["buckets"]}
    assert buckets["hard"]["weakest"] and buckets["rare"]["thin"]
    assert buckets["easy"]["worst"] < buckets["easy"]["mean"]
    assert buckets["easy"]["low"] < buckets["easy"]["mean"] < buckets["easy"]["high"]
    both = client.get("/api/stratified", params={"run": "feat0003", "against": "base0004",
                                                 "by": "length"}).json()
    assert len(both["runs"]) == 2
    assert [b["bucket"] for b in both["runs"][0]["buckets"]] == [
        b["bucket"] for b in both["runs"][1]["buckets"]]
    assert both["comparison"]["rows"][-1]["bucket"] == "all"
    page = client.get("/stratified", params={"run": "feat0003", "against": "base0004"})
    assert page.status_code == 200 and 'id="stratified-chart"' in page.text
    assert "weakest" in page.text and "thin" in page.text
    assert 'href="/stratified?run=feat0003' in client.get("/runs/feat0003").text
    assert "feat0003" in client.get("/stratified").text  # the picker lists it


def test_stratified_errors(analysis_lab: tuple[Path, dict[str, str]]) -> None:
    lab, _made = analysis_lab
    client = TestClient(create_app(lab))
    _assert_error(client.get("/api/stratified", params={"run": "nosuchrun"}), 404)
    _assert_error(client.get("/api/stratified"), 400)
    _assert_error(client.get("/api/stratified", params={"run": "serv0000"}), 404)  # no evals
    _assert_error(client.get("/api/stratified", params={"run": "feat0003", "by": "colour"}),
                  400)
    page = client.get("/stratified", params={"run": "serv0000"},
                      headers={"accept": "text/html"})
    assert page.status_code == 404 and "no evaluation records" in page.text


# -- live updates and notebook mentions on the run page ----------------------------------------
def test_status_endpoint_reports_what_the_runs_table_refreshes(web_lab: Path) -> None:
    import time

    now = time.time()
    done = _ids(web_lab)[-1]
    with open_lab(web_lab) as opened:
        opened.runs.create({"id": "live0001", "name": "live", "project": "web",
                            "status": "running", "created_at": now - 125, "heartbeat_at": now})
        opened.runs.write_fields("live0001", {"last_step": 41})
        opened.runs.create({"id": "gone0001", "name": "gone", "project": "web",
                            "status": "running", "created_at": 1.0, "heartbeat_at": 1.0})
    client = TestClient(create_app(web_lab))
    body = client.get("/api/status", params={"run": ["live0001", "gone0001", done]}).json()
    rows = {r["id"]: r for r in body["runs"]}
    assert list(rows) == ["live0001", "gone0001", done]
    assert rows["live0001"]["status"] == "running" and rows["live0001"]["last_step"] == 41
    assert rows["live0001"]["duration_text"] == "2 min"  # display.duration, as the CLI
    assert [rows[k]["status"] for k in rows] == ["running", "crashed", "finished"]
    assert "no heartbeat for" in rows["gone0001"]["reason"]
    assert rows[done]["status"] == "finished" and rows[done]["last_step"] == 99
    _assert_error(client.get("/api/status"), 400)
    _assert_error(client.get("/api/status", params={"run": "nosuchrun"}), 404)
    _assert_error(client.get("/api/status", params={"run": ["live0001"] * 501}), 400)
    page = client.get("/runs").text  # the rows carry what runs.js needs
    assert 'data-run="live0001" data-status="running"' in page
    assert '<td class="num step">41</td>' in page
    assert '"running": "live"' in page  # the badge classes, handed to the scripts


def test_run_page_lists_pages_that_mention_the_run(web_lab: Path) -> None:
    run_id, other = _ids(web_lab)[:2]
    with open_lab(web_lab) as opened:
        # finishing wrote a result page for each run; every other page here is about another
        auto = [p.number for p in opened.notebook.pages(run_id=run_id)]
        auto_other = [p.number for p in opened.notebook.pages(run_id=other)]
        assert len(auto) == len(auto_other) == 1
        own = opened.notebook.append(kind="result", title="Run finished", body="loss 0.1",
                                     run_id=run_id)
        cited = opened.notebook.append(kind="decision", title="q1 answered yes",
                                       body=f"Evidence: runs `{run_id}` and `{other}`")
        in_data = opened.notebook.append(kind="result", title="Evidence for q1", body="see data",
                                         data={"runs": [run_id]})
        elsewhere = opened.notebook.append(kind="note", title="about the other run",
                                           body=f"{other} diverged")
        longer = opened.notebook.append(kind="note", title="a longer token",
                                        body=f"x{run_id}9 is not the run")
    client = TestClient(create_app(web_lab))
    page = client.get(f"/runs/{run_id}").text
    listed = [int(n) for n in re.findall(r'href="/notebook#page-(\d+)"', page)]
    assert listed == [*auto, own, cited, in_data]
    assert page.count("cites this run") == 2  # the run's own page is not a citation
    assert elsewhere not in listed and longer not in listed
    other_page = client.get(f"/runs/{other}").text
    assert [int(n) for n in re.findall(r'href="/notebook#page-(\d+)"', other_page)] == [
        *auto_other, cited, elsewhere]


# -- issue 17, defect 12: one liveness rule, no 500s, HEAD, a blank token --------------------
def test_a_sigkilled_run_is_crashed_on_the_dashboard_at_once(lab: Path, tmp_path: Path) -> None:
    """``/api/status`` said running 84 s after a SIGKILL that the CLI reported at once."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "train.py"
    script.write_text("import time, stepstone\n"
                      f"run = stepstone.init(project='p', name='victim', lab={str(lab)!r},"
                      " save_code=False)\nrun.log({'loss': 1.0})\nprint(run.id, flush=True)\n"
                      "time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    client = TestClient(create_app(lab))
    assert client.get("/api/status", params={"run": run_id}).json()["runs"][0]["status"] == \
        "running"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    started = time.monotonic()
    row = client.get("/api/status", params={"run": run_id}).json()["runs"][0]
    assert row["status"] == "crashed" and "is gone" in row["reason"]
    assert time.monotonic() - started < 30
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "crashed"
    with open_lab(lab, readonly=True) as opened:  # the dashboard records nothing
        assert opened.db.scalar("SELECT status FROM runs WHERE id = ?", (run_id,)) == "running"


@pytest.mark.parametrize("url", [
    "/api/runs/{id}/series?since=-1e24", "/api/runs/{id}/series?since=100000000000000000000",
    "/api/runs?page=1e20", "/api/runs?page=100000000000000000000", "/runs?page=1e20",
], ids=["since-float", "since-huge", "page-float", "page-huge", "runs-page-huge"])
def test_numbers_out_of_range_are_a_400_not_a_500(web_lab: Path, url: str) -> None:
    client = TestClient(create_app(web_lab))
    response = client.get(url.format(id=_ids(web_lab)[0]), headers={"accept": "application/json"})
    _assert_error(response, 400)


@pytest.mark.parametrize("path", ["/runs", "/api/runs", "/api/health", "/notebook",
                                  "/static/app.js"])
def test_head_answers_like_get_without_a_body(web_lab: Path, path: str) -> None:
    client = TestClient(create_app(web_lab))
    got = client.get(path)
    head = client.head(path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]


@pytest.mark.parametrize("token", ["", " ", "\t"], ids=["empty", "space", "tab"])
def test_a_blank_token_is_refused(lab: Path, token: str) -> None:
    from _cli import cli

    code, _out, err = cli(lab, "ui", "--host", "0.0.0.0", "--token", token)
    assert code == 2 and "--token is blank" in err


def test_the_runs_pages_status_filter_follows_the_liveness_rule(lab: Path) -> None:
    """A dead run never recorded as crashed shows as crashed in its row: the "crashed" filter
    picks it, the "running" filter does not, and the counts agree (issue 17, item 12)."""
    import os
    import socket
    import subprocess
    import sys
    import time

    from stepstone.store.listing import Listing

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    now = time.time()
    with open_lab(lab) as opened:
        for age, (run_id, status, pid) in enumerate((
                ("liverun1", "running", os.getpid()), ("deadrun1", "running", gone.pid),
                ("crashed1", "crashed", None), ("finish01", "finished", None))):
            opened.runs.create({"id": run_id, "name": run_id, "project": "p", "status": status,
                                "created_at": now - age, "heartbeat_at": now,
                                "pid": pid, "host": socket.gethostname()}, {})
    client = TestClient(create_app(lab))

    def listed(status: str) -> set[tuple[str, str]]:
        page = client.get(f"/runs?status={status}").text
        return set(re.findall(r'data-run="(\w+)" data-status="(\w+)"', page))

    assert listed("crashed") == {("deadrun1", "crashed"), ("crashed1", "crashed")}
    assert listed("running") == {("liverun1", "running")}
    api = client.get("/api/runs", params={"status": "crashed"}).json()
    assert {r["id"] for r in api["runs"]} == {"deadrun1", "crashed1"} and api["total"] == 2
    with open_lab(lab, readonly=True) as opened:  # the CLI's reader: the same rule
        assert [r.id for r in opened.runs.list(status="crashed", limit=2)] == \
            ["deadrun1", "crashed1"]
        assert [r.id for r in opened.runs.list(status="running")] == ["liverun1"]
        assert Listing(opened.db).status_counts() == {"running": 1, "crashed": 2, "finished": 1}


def test_compare_groups_runs_and_refuses_an_unknown_group_key(web_lab: Path) -> None:
    client = TestClient(create_app(web_lab))
    ids = _ids(web_lab)
    by_lr = client.get("/api/compare/series",
                       params={"run": ids, "key": "loss", "group": "lr"}).json()
    assert by_lr["groups"] == []  # every run has its own lr: no group of two
    wrong = client.get("/api/compare/series",
                       params={"run": ids, "key": "loss", "group": "nope"})
    assert wrong.status_code == 400
    assert "no run here has the config key 'nope'" in wrong.json()["error"]["message"]


def test_a_nan_summary_is_null_in_the_cli_json_and_the_api(lab: Path) -> None:
    """One JSON-safe conversion (stepstone.display.jsonable): ``stepstone runs --json``,
    ``stepstone show --json`` and ``/api/runs/...`` give NaN and ±inf as null, not text."""
    import json
    import time

    from _cli import cli

    with open_lab(lab) as opened:
        opened.runs.create({"id": "nanrun01", "name": "nanrun", "project": "p",
                            "status": "finished", "created_at": time.time()}, {})
        opened.runs.set_summary("nanrun01", {"loss": float("nan"), "best": float("inf"),
                                             "worst": float("-inf"), "acc": 0.5})
    want = {"loss": None, "best": None, "worst": None, "acc": 0.5}
    code, out, _ = cli(lab, "runs", "--json")
    assert code == 0 and json.loads(out)[0]["summary"] == want
    code, out, _ = cli(lab, "show", "nanrun01", "--json")
    assert code == 0 and json.loads(out)["summary"] == want
    api = TestClient(create_app(lab)).get("/api/runs/nanrun01")
    assert api.status_code == 200 and api.json()["summary"] == want


def test_a_runs_artifacts_are_listed_and_their_files_served_with_ranges(
        store_target: StoreTarget, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``/api/runs/ID/artifacts`` lists what a run logged and used (through the store's
    version rule); ``.../artifacts/NAME:vN/file?path=P`` serves a logged file by its stored
    name, whole or one byte range; a run with no artifacts costs the page one query."""
    from stepstone.store.artifacts import INPUT_ROLE, MANIFEST_ROLE
    from stepstone.store.db import Database

    lab = store_target.root

    weights = bytes(range(256)) * 64
    (tmp_path / "weights.bin").write_bytes(weights)
    producer = stepstone.init(project="art", name="producer", lab=str(lab), save_code=False)
    model = stepstone.Artifact("model", type=f"ckpt {XSS}", description="first",
                               metadata={"acc": 0.5, XSS: {"depth": 2}})
    model.add_file(tmp_path / "weights.bin", name="ckpt/weights.bin")
    with model.new_file("notes.txt") as notes:
        notes.write("hello")
    producer.log_artifact(model, aliases=["best"])
    producer.finish()
    consumer = stepstone.init(project="art", name="consumer", lab=str(lab), save_code=False)
    consumer.use_artifact("model:best")
    consumer.finish()
    plain = stepstone.init(project="art", name="plain", lab=str(lab), save_code=False)
    plain.finish()
    client = TestClient(create_app(lab))

    listed = client.get(f"/api/runs/{producer.id}/artifacts").json()
    assert listed == {"run": producer.id, "used": [], "logged": [{
        "name": "model", "version": "v0", "type": f"ckpt {XSS}", "aliases": ["best", "latest"],
        "run_id": producer.id, "description": "first",
        "metadata": {"acc": 0.5, XSS: {"depth": 2}}, "references": {},
        "files": [{"path": "ckpt/weights.bin", "size": len(weights)},
                  {"path": "notes.txt", "size": 5}],
        "size": len(weights) + 5}]}
    used = client.get(f"/api/runs/{consumer.id}/artifacts").json()
    assert used == {"run": consumer.id, "logged": [], "used": [{
        "name": "model", "version": "v0", "type": f"ckpt {XSS}", "aliases": ["best", "latest"],
        "run_id": producer.id}]}

    url = f"/api/runs/{producer.id}/artifacts/model:v0/file"
    got = client.get(url, params={"path": "ckpt/weights.bin"})
    assert got.status_code == 200 and got.content == weights
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"] == 'attachment; filename="weights.bin"'
    size = len(weights)
    for asked, (start, end) in [("bytes=2-5", (2, 5)), ("bytes=-3", (size - 3, size - 1)),
                                ("bytes=100-", (100, size - 1))]:
        part = client.get(url, params={"path": "ckpt/weights.bin"}, headers={"Range": asked})
        assert part.status_code == 206 and part.content == weights[start:end + 1]
        assert part.headers["content-range"] == f"bytes {start}-{end}/{size}"
    beyond = client.get(url, params={"path": "ckpt/weights.bin"},
                        headers={"Range": f"bytes={size}-"})
    assert beyond.status_code == 416
    assert client.get(url, params={"path": "notes.txt"}).content == b"hello"
    for ref, path, status in [
            (producer.id, "../../lab.db", 404), (producer.id, "weights.bin", 404),
            (consumer.id, "ckpt/weights.bin", 404),  # the logging run serves a version's files
            ("nosuchrun", "notes.txt", 404)]:
        _assert_error(client.get(f"/api/runs/{ref}/artifacts/model:v0/file",
                                 params={"path": path}), status)
    _assert_error(client.get(f"/api/runs/{producer.id}/artifacts/model:best/file",
                             params={"path": "notes.txt"}), 400)  # a version, not an alias
    _assert_error(client.get(url), 400)  # no path
    with open_lab(lab) as opened:  # a lost object is a 404, not a 500
        opened.objects.path(hashlib.sha256(b"hello").hexdigest()).unlink()
    _assert_error(client.get(url, params={"path": "notes.txt"}), 404)

    asked: list[tuple[str, tuple[object, ...]]] = []
    query = Database.query

    def counted(self: Database, statement: str, params: Sequence[object] = ()) -> list[object]:
        asked.append((statement, tuple(params)))
        return query(self, statement, params)

    monkeypatch.setattr(Database, "query", counted)
    page = client.get(f"/runs/{plain.id}")
    assert page.status_code == 200 and 'id="artifacts"' not in page.text
    reads = [q for q in asked if MANIFEST_ROLE in q[1] or INPUT_ROLE in q[1]]
    assert len(reads) == 1, reads
    asked.clear()
    page = client.get(f"/runs/{producer.id}")
    assert 'id="artifacts"' in page.text and XSS not in page.text  # type, metadata escaped
