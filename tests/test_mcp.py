"""`stepstone mcp` driven by the mcp SDK's own client over stdio, through a full stone: an
idea, a question, the plan, a tiny ladder, the digests, the decision and the conclusion; and
the refusals an agent meets (past the compute budget, past the time box, bad input), each the
command line's one-line message."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from _cli import cli
from stepstone.method import baselines
from stepstone.store import open_lab

# a tiny "training": the loss falls with compute, the feature lowers it by 10%, seeds by ~1%
TRAIN = """\
import random, stepstone
run = stepstone.init()
cfg = stepstone.config
n, d = float(cfg["model"]["n_params"]), float(cfg["train"]["tokens"])
scale = (0.9 if cfg["model"]["norm"] else 1.0) * random.Random(cfg["seed"]).uniform(0.99, 1.01)
for step in range(1, 9):
    run.log({"val_loss": scale * 4.0 * (n * d * step / 8) ** -0.1}, step=step)
run.summary.update({"val_loss": scale * 4.0 * (n * d) ** -0.1, "n_params": n, "tokens": d,
                    "flops": 6 * n * d})
run.finish()
"""
RUNGS = "1e5,2e5"  # 6·N·D = C: two rungs, three seeds each: 9e5 FLOPs in all
SEEDS = "3"


@pytest.fixture
def project(tmp_path: Path, lab: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dated baseline `small` with its own two-rung ladder already run (a person's part)."""
    (tmp_path / "train.py").write_text(TRAIN)
    monkeypatch.chdir(tmp_path)
    with open_lab(lab) as opened:
        baselines.create(opened, "small", {"model": {"n_params": 1.0, "norm": False},
                                           "train": {"tokens": 1.0}, "seed": 0},
                         reference_metric="val_loss")
    code, _, err = cli(lab, "ladder", "--baseline", "small", "--budgets", RUNGS, "--seeds",
                       SEEDS, "--json", "--", sys.executable, "train.py")
    assert code == 0, err
    return tmp_path


class Agent:
    """The client side: each call returns (is_error, structured content or text)."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def __call__(self, tool: str, **arguments: Any) -> tuple[bool, Any]:
        result = await self.session.call_tool(tool, arguments)
        if result.is_error:
            return True, result.content[0].text
        assert json.loads(result.content[0].text) == result.structured_content
        return False, result.structured_content


async def _session(lab: Path, project: Path, script, *options: str) -> Any:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "stepstone", "mcp", "--lab", str(lab), *options],
        env={"PYTHONPATH": os.environ.get("PYTHONPATH", "")}, cwd=str(project))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return await script(session, Agent(session))


def test_an_agent_walks_a_full_stone_over_stdio(project: Path, lab: Path) -> None:
    command = [sys.executable, "train.py"]

    async def script(session: ClientSession, call: Agent) -> dict[str, Any]:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert {"idea_add", "question_new", "plan", "launch_ladder", "launch_run",
                "run_digest", "decide", "note", "list_runs"} <= set(tools)
        assert tools["question_new"].input_schema["required"] == ["text", "rule"]
        out: dict[str, Any] = {}

        error, idea = await call("idea_add", title="Normalize the residual stream",
                                 source="bottleneck in depth", cost="1h", signal="high")
        assert not error and idea["id"] == "i1" and idea["similar"] == []
        error, q = await call("question_new", text="Does normalizing lower val_loss?",
                              rule="val_loss <= baseline - 0.01 at every rung", idea="i1",
                              timebox="2h", baseline="small", budget="1e6")
        assert not error, q
        assert q["id"] == "q1" and q["budget_flops"] == 1e6
        assert [s["id"] for s in q["similar"]] == ["i1"]  # its own idea, now picked

        error, plan = await call("plan", baseline="small", overrides=["model.norm=true"],
                                 features=["model.norm"], question="q1")
        assert not error and plan["verify"]["ok"] and plan["delta"] == {"model.norm": True}
        error, bad = await call("plan", baseline="small",
                                overrides=["model.norm=true", "train.tokens=9"],
                                features=["model.norm"])
        assert error and bad.startswith("the config does not verify against small@")

        error, ladder = await call("launch_ladder", command=command, question="q1",
                                   budgets=RUNGS, seeds=SEEDS, overrides=["model.norm=true"],
                                   features=["model.norm"], cwd=str(project))
        assert not error, ladder
        assert ladder["status"] == "done" and len(ladder["runs"]) == 6
        assert ladder["allowance"]["planned_flops"] == pytest.approx(9e5, rel=0.01)
        out["runs"] = [r["run_id"] for r in ladder["runs"]]

        error, refused = await call("launch_ladder", command=command, question="q1",
                                    budgets="2.5e5", overrides=["model.norm=true"],
                                    features=["model.norm"], cwd=str(project))
        assert error and refused.startswith("this launch would spend 2.5")
        assert refused.endswith("FLOPs and question q1 has 9.66e+04 of its 1e+06 budget left: "
                                "plan fewer or smaller runs; nothing was launched")

        error, listed = await call("list_runs", question="q1")
        assert not error and sorted(r["id"] for r in listed["runs"]) == sorted(out["runs"])
        for run_id in out["runs"]:
            error, digest = await call("run_digest", run=run_id)
            assert not error and digest["status"] == "finished"
            assert digest["config_delta"]["model.norm"] is True
            loss = next(m for m in digest["metrics"] if m["key"] == "val_loss")
            assert loss["trend"] == "falling" and loss["points"] == 8
            assert loss["nonfinite"] == 0 and loss["last"] == loss["min"]

        error, proposal = await call("decide", question="q1")
        assert not error and proposal["proposed"] == "yes", proposal
        assert proposal["decision_page"] is None
        error, page = await call("note", text="norm helps at both rungs; try 3 seeds next",
                                 question="q1")
        assert not error and page["kind"] == "note"
        error, final = await call("decide", question="q1",
                                  conclusion="Normalizing lowers val_loss at both rungs")
        assert not error and final["decision_page"]["title"] == "q1 answered yes"

        # the time box: a question whose box ran out takes no launch
        error, _ = await call("question_new", text="Does a longer warmup help?",
                               rule="val_loss <= 1", timebox="1s")
        assert not error
        time.sleep(1.2)
        error, late = await call("launch_run", command=command, question="q2",
                                 cwd=str(project))
        assert error and late.startswith("question q2's time box (0.000278h) ran out")
        assert late.endswith("decide it or abandon it; nothing was launched")

        # bad input: the command line's one-line messages
        error, missing = await call("idea_show", idea="i99")
        assert error and missing == "no idea 'i99': `stepstone idea list` shows them"
        error, closed = await call("launch_run", command=command, question="q1")
        assert error and closed == "question q1 is answered: ask a new question for new runs"

        notebook = await session.read_resource("stepstone://notebook/q1")
        out["notebook"] = notebook.contents[0].text
        report = await session.read_resource("stepstone://reports/q1")
        out["report"] = report.contents[0].text
        return out

    out = asyncio.run(_session(lab, project, script))
    assert "q1 answered yes" in out["notebook"] and "norm helps at both rungs" in out["notebook"]
    assert "Normalizing lowers val_loss at both rungs" in out["report"]
    with open_lab(lab) as opened:
        q = opened.questions.get("q1")
        assert (q.status, q.answer) == ("answered", "yes")
        assert opened.ideas.get("i1").status == "tested"
        assert {r.id for r in opened.runs.list(question_id="q1")} == set(out["runs"])
        assert opened.runs.list(question_id="q2") == []
    code, _, err = cli(lab, "idea", "show", "i99")  # the same message from the CLI
    assert code == 1 and err.strip() == "error: no idea 'i99': `stepstone idea list` shows them"


def test_the_runs_an_agent_launches_are_watched(lab: Path, tmp_path: Path) -> None:
    (tmp_path / "hang.py").write_text("import time, stepstone\nrun = stepstone.init()\n"
                                      "run.log({'loss': 1.0})\ntime.sleep(120)\n")

    async def script(session: ClientSession, call: Agent) -> Any:
        error, _ = await call("question_new", text="Does it hang?", rule="loss <= 1")
        assert not error
        error, run = await call("launch_run", command=[sys.executable, "hang.py"],
                                question="q1", cwd=str(tmp_path))
        assert not error, run
        return run

    run = asyncio.run(_session(lab, tmp_path, script, "--stall", "1s", "--stop-on-alert",
                               "--monitor-every", "0.2"))
    assert run["status"] == "killed"
    assert run["reason"].startswith("stopped by the health monitor: no point logged for")


INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "0"}}}
HEADERS = {"accept": "application/json, text/event-stream"}


def test_http_takes_the_dashboards_token_rules(lab: Path) -> None:
    from starlette.testclient import TestClient

    from stepstone.mcp.server import build_server, http_app

    app = http_app(build_server(str(lab)), token="s3cret", allowed_hosts=None)
    with TestClient(app) as client:
        refused = client.post("/mcp", json=INIT, headers=HEADERS)
        assert refused.status_code == 401 and "needs its token" in refused.json()["error"]
        wrong = client.post("/mcp", json=INIT, headers={**HEADERS, "authorization": "Bearer x"})
        assert wrong.status_code == 401
        ok = client.post("/mcp", json=INIT,
                         headers={**HEADERS, "authorization": "Bearer s3cret"})
        assert ok.status_code == 200, ok.text
        assert "stepstone" in ok.text
    local = http_app(build_server(str(lab)), token=None, allowed_hosts=["127.0.0.1"])
    with TestClient(local, base_url="http://evil.example") as client:
        rebound = client.post("/mcp", json=INIT, headers=HEADERS)
        assert rebound.status_code == 400 and "evil.example" in rebound.json()["error"]


def test_binding_beyond_this_machine_needs_a_token(lab: Path) -> None:
    code, _, err = cli(lab, "mcp", "--http", "--host", "0.0.0.0")
    assert code == 2 and "binding 0.0.0.0 would show this lab to other machines" in err


def test_a_missing_lab_is_one_error_before_serving(tmp_path: Path) -> None:
    code, _, err = cli(tmp_path / "nowhere", "mcp")
    assert code == 1 and err.startswith("error: no lab at") and "Traceback" not in err
