"""The dashboard's API: one error shape, the token, no path traversal, LTTB, paging."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

import stepstone
from stepstone.store.lab import open_lab
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
