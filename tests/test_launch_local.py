"""A real ladder on the local pool: every rung recorded; a killed rung relaunched once;
a killed worker takes its command with it; Ctrl-C-style cancel stops runs and says why;
the CLI resumes instead of duplicating, and plans sweeps and baseline ladders end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _cli import cli
from _launch_helpers import gone, in_thread, wait_for
from stepstone.launch.executors import local_executor
from stepstone.launch.plan import plan_ladder
from stepstone.launch.runner import launch_plan, plan_state
from stepstone.method import baselines, questions
from stepstone.method.evidence import baseline_runs
from stepstone.method.runs import abandon
from stepstone.store import open_lab

TRAIN = """\
import os, time
import stepstone

stepstone.init()
width = stepstone.config["model"]["width"]
for step in range(3):
    stepstone.log({"loss": 1.0 / (width * (step + 1)), "acc": width / 10.0}, step=step)
hang = stepstone.config.get("hang") or {}
if hang and width == hang["width"] and os.path.exists(hang["file"]):
    with open(hang["file"] + ".pid", "w") as fh:
        fh.write(str(os.getpid()))
    time.sleep(120)
stepstone.summary["final_loss"] = 1.0 / (width * 3)
stepstone.finish()
"""


@pytest.fixture
def project(tmp_path: Path, lab: Path) -> Path:
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def _base(project: Path, hang_width: int | None = None) -> dict:
    return {"model": {"width": 1}, "hang": {"file": str(project / "hang"),
                                            "width": hang_width or -1}}


@pytest.fixture
def linked(project: Path, lab: Path) -> tuple[str, str]:
    """A dated baseline ``small`` (the ladders' base config) and a question asked against it:
    ``(version, question id)``."""
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", _base(project)).version
        qid = questions.create(opened, "does width help?", rule="final_loss <= 1",
                               baseline="small").question.id
    return version, qid


def _ladder(project: Path, linked: tuple[str, str], widths: list[int],
            hang_width: int | None = None):
    base = _base(project, hang_width)
    return plan_ladder(base, [sys.executable, "train.py"],
                       rungs=[[f"model.width={w}"] for w in widths], cwd=str(project),
                       baseline=linked[0], question_id=linked[1])


def _check_recorded(opened, run_id: str, width: int, linked: tuple[str, str]) -> None:
    rec = opened.runs.get(run_id)
    assert rec.status == "finished", (rec.status, rec.reason)
    assert rec.config["model"]["width"] == width
    assert rec.config_delta == {"model.width": width}
    assert (rec.baseline, rec.question_id, rec.kind) == (*linked, "rung")
    assert rec.code_snapshot and "train.py" in opened.snapshot_manifest(rec.code_snapshot)["files"]
    history = opened.metrics.history(run_id)
    assert history["loss"].values == pytest.approx([1 / width, 1 / (2 * width), 1 / (3 * width)])
    pages = opened.notebook.pages(kind="result", run_id=run_id)
    assert len(pages) == 1, f"{len(pages)} result pages for {run_id}: one is written, once"
    assert history["acc"].last == pytest.approx(width / 10)
    assert rec.summary["final_loss"] == pytest.approx(1 / (3 * width))


def test_local_ladder_records_rungs_and_relaunch_finishes_a_killed_one(project, lab, linked):
    (project / "hang").write_text("")
    plan = _ladder(project, linked, [2, 4, 8], hang_width=4)
    with open_lab(lab) as opened:
        thread, out = in_thread(launch_plan, opened, plan, local_executor(workers=2))
        pid = wait_for(project / "hang.pid")
        os.kill(pid, signal.SIGKILL)  # the rung dies mid-run
        thread.join(60)
        assert "error" not in out, out
        first = out["result"]
        assert first.status == "incomplete" and first.launched == [0, 1, 2]
        states = plan_state(opened, plan.id)
        assert [s.status for s in states] == ["finished", "killed", "finished"]
        killed_id = states[1].run_id
        assert "SIGKILL" in (opened.runs.get(killed_id).reason or "")

        (project / "hang").unlink()
        again = launch_plan(opened, plan, local_executor(workers=2))
        assert again.status == "done" and again.launched == [1] and again.skipped == [0, 2]
        states = plan_state(opened, plan.id)
        assert [s.attempts for s in states] == [1, 2, 1]
        for state, width in zip(states, [2, 4, 8], strict=True):
            _check_recorded(opened, str(state.run_id), width, linked)
        runs = opened.runs.list(tag=f"plan:{plan.id}")
        assert len(runs) == 4  # three rungs, plus the killed attempt kept as it was
        assert opened.runs.get(killed_id).status == "killed"
        # its worker lived and wrote its one page, with the status it recorded
        (page,) = opened.notebook.pages(kind="result", run_id=killed_id)
        assert "killed" in page.title, page.title
        # a third launch finds nothing to do
        third = launch_plan(opened, plan, local_executor(workers=2))
        assert third.launched == [] and third.status == "done"
        assert len(opened.runs.list(tag=f"plan:{plan.id}")) == 4


def test_cancel_stops_running_runs_marks_them_killed_and_resumes(project, lab, linked):
    (project / "hang").write_text("")
    plan = _ladder(project, linked, [3, 5], hang_width=5)
    env = {**os.environ, "STEPSTONE_LAB": str(lab)}
    with open_lab(lab) as opened:
        thread, out = in_thread(launch_plan, opened, plan, local_executor(workers=2))
        pid = wait_for(project / "hang.pid")
        deadline = time.monotonic() + 60
        while plan_state(opened, plan.id)[0].status != "finished":  # only rung 1 is left
            assert time.monotonic() < deadline
            time.sleep(0.1)
        done = subprocess.run(
            [sys.executable, "-m", "stepstone", "cancel", plan.id, "--reason", "wrong lr",
             "--json"], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        stopped = json.loads(done.stdout)["stopped"]
        thread.join(60)
        assert not thread.is_alive() and "error" not in out, out
        assert out["result"].status == "cancelled"
        states = plan_state(opened, plan.id)
        assert states[1].status == "killed" and stopped == [states[1].run_id]
        assert states[1].reason == "cancelled: wrong lr"
        assert opened.plans.get(plan.id).reason == "wrong lr"
        with pytest.raises(ProcessLookupError):  # nothing left running unseen
            for _ in range(50):
                os.kill(pid, 0)
                time.sleep(0.1)

        (project / "hang").unlink()
        again = launch_plan(opened, plan, local_executor(workers=2))
        assert again.status == "done" and again.launched == [1]
        _check_recorded(opened, str(plan_state(opened, plan.id)[1].run_id), 5, linked)


def test_cancel_with_rungs_still_waiting_for_a_worker(project, lab, linked):
    """One worker, three rungs: the cancel stops the running one and the others never start."""
    (project / "hang").write_text("")
    plan = _ladder(project, linked, [3, 5, 7], hang_width=3)
    try:
        with open_lab(lab) as opened:
            thread, out = in_thread(launch_plan, opened, plan, local_executor(workers=1))
            pid = wait_for(project / "hang.pid")
            code, _, err = cli(lab, "cancel", plan.id, "--reason", "wrong lr")
            assert code == 0, err
            thread.join(60)
            assert "error" not in out and out["result"].status == "cancelled", out
            states = plan_state(opened, plan.id)
            assert states[0].status == "killed" and states[0].reason == "cancelled: wrong lr"
            assert all(s.status != "running" and s.status != "finished" for s in states[1:])
            assert [r.config["model"]["width"] for r in opened.runs.list()] == [3]
        deadline = time.monotonic() + 60
        while not gone(pid):
            assert time.monotonic() < deadline, "the cancelled command is still running"
            time.sleep(0.1)
    finally:
        (project / "hang").unlink(missing_ok=True)


FINISHING = """\
import os, signal, time
import stepstone

stepstone.init()
asked = []
signal.signal(signal.SIGTERM, lambda *_: asked.append(True))
with open("finishing.pid", "w") as fh:
    fh.write(str(os.getpid()))
while not asked:  # it was about to finish: the cancel's SIGTERM lets it
    time.sleep(0.1)
stepstone.summary["final_loss"] = 0.5
stepstone.finish()
"""


def test_a_run_that_finishes_as_the_cancel_comes_stays_finished(project, lab):
    """The cancel marks the running run killed and signals it; the run's own finish lands
    after that mark: the cancel's last word (its reason on the runs it stopped) keeps it."""
    (project / "finishing.py").write_text(FINISHING)
    plan = plan_ladder({"model": {"width": 1}}, [sys.executable, "finishing.py"],
                       rungs=[["model.width=2"]], cwd=str(project))
    with open_lab(lab) as opened:
        thread, out = in_thread(launch_plan, opened, plan, local_executor(workers=1))
        pid = wait_for(project / "finishing.pid")
        code, text, err = cli(lab, "cancel", plan.id, "--reason", "wrong lr", "--json")
        assert code == 0, err
        thread.join(60)
        assert not thread.is_alive() and "error" not in out, out
        assert out["result"].status == "cancelled" and json.loads(text)["stopped"] == []
        (state,) = plan_state(opened, plan.id)
        assert (state.status, state.reason) == ("finished", None)
        assert opened.runs.get(str(state.run_id)).summary["final_loss"] == 0.5
        assert gone(pid)


def test_a_command_that_exits_0_on_the_cancel_is_killed_by_it(project, lab):
    """A command without the SDK that stops cleanly on the cancel's SIGTERM: exit code 0,
    but the cancel stopped it (it had marked the run killed first)."""
    (project / "stops.py").write_text(
        "import os, signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
        "with open('stops.pid', 'w') as fh:\n"
        "    fh.write(str(os.getpid()))\n"
        "while True:\n"
        "    time.sleep(0.1)\n")
    plan = plan_ladder({"model": {"width": 1}}, [sys.executable, "stops.py"],
                       rungs=[["model.width=2"]], cwd=str(project))
    with open_lab(lab) as opened:
        thread, out = in_thread(launch_plan, opened, plan, local_executor(workers=1))
        wait_for(project / "stops.pid")
        code, text, err = cli(lab, "cancel", plan.id, "--reason", "wrong lr", "--json")
        assert code == 0, err
        thread.join(60)
        assert not thread.is_alive() and "error" not in out, out
        (state,) = plan_state(opened, plan.id)
        assert json.loads(text)["stopped"] == [state.run_id]
        rec = opened.runs.get(str(state.run_id))
        assert (rec.status, rec.reason, rec.exit_code) == ("killed", "cancelled: wrong lr", 0)


FAILS_OR_HANGS = """\
import os, sys, time
import stepstone

stepstone.init()
if stepstone.config["model"]["width"] == 2:
    sys.exit(3)  # fails on its own
with open("hangs.pid", "w") as fh:
    fh.write(str(os.getpid()))
time.sleep(120)
"""


def test_a_rung_that_failed_before_the_cancel_keeps_its_own_reason(project, lab):
    """One rung failed on its own (exit code 3) before the plan was cancelled, the other was
    running when the cancel came: only that one gets the cancel's reason."""
    (project / "fails_or_hangs.py").write_text(FAILS_OR_HANGS)
    plan = plan_ladder({"model": {"width": 1}}, [sys.executable, "fails_or_hangs.py"],
                       rungs=[["model.width=2"], ["model.width=5"]], cwd=str(project))
    with open_lab(lab) as opened:
        thread, out = in_thread(launch_plan, opened, plan, local_executor(workers=2))
        wait_for(project / "hangs.pid")
        deadline = time.monotonic() + 60
        while plan_state(opened, plan.id)[0].status != "failed":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        code, text, err = cli(lab, "cancel", plan.id, "--reason", "wrong lr", "--json")
        assert code == 0, err
        thread.join(60)
        assert not thread.is_alive() and "error" not in out, out
        assert out["result"].status == "cancelled"
        failed, hung = plan_state(opened, plan.id)
        assert (failed.status, failed.reason) == ("failed", "exit code 3")
        assert (hung.status, hung.reason) == ("killed", "cancelled: wrong lr")
        assert json.loads(text)["stopped"] == [hung.run_id]


def test_cli_ladder_runs_then_resumes_without_duplicates(project, lab):
    (project / "base.yaml").write_text("model:\n  width: 1\n")
    env = {**os.environ, "STEPSTONE_LAB": str(lab)}
    args = [sys.executable, "-m", "stepstone", "ladder", "--config", "base.yaml",
            "--rungs", "model.width=2; model.width=6", "--workers", "2", "--json", "--",
            sys.executable, "train.py"]
    first = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True,
                           timeout=120)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["status"] == "done" and result["launched"] == [0, 1]
    second = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True,
                            timeout=120)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["launched"] == []
    listing = subprocess.run([sys.executable, "-m", "stepstone", "plans", "--json"],
                             cwd=project, env=env, capture_output=True, text=True, timeout=60)
    plans = json.loads(listing.stdout)
    assert [(p["id"], p["status"], p["done"]) for p in plans] == [(result["plan_id"], "done", 2)]
    with open_lab(lab) as opened:
        runs = opened.runs.list(tag=f"plan:{result['plan_id']}")
        assert sorted(r.config["model"]["width"] for r in runs) == [2, 6]
        assert all(r.summary["final_loss"] == pytest.approx(1 / (3 * r.config["model"]["width"]))
                   for r in runs)


def test_ctrl_c_on_the_cli_cancels_the_ladder(project, lab):
    (project / "hang").write_text("")
    (project / "base.yaml").write_text(
        f"model:\n  width: 1\nhang:\n  file: {project / 'hang'}\n  width: 7\n")
    env = {**os.environ, "STEPSTONE_LAB": str(lab)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "stepstone", "ladder", "--config", "base.yaml", "--rungs",
         "model.width=7", "--json", "--", sys.executable, "train.py"],
        cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True)
    try:
        pid = wait_for(project / "hang.pid")
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
        proc.wait(60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, proc.stderr.read()  # the shell's code for Ctrl-C
    assert b"Interrupted." in proc.stderr.read()
    with open_lab(lab) as opened:
        (plan,) = opened.plans.recent()
        assert plan.status == "cancelled" and plan.owner_pid is None
        (state,) = plan_state(opened, plan.id)
        assert state.status == "killed" and "interrupted" in (state.reason or "")
    with pytest.raises(ProcessLookupError):
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.1)


def test_a_killed_worker_takes_its_command_with_it_and_a_relaunch_finishes(project, lab,
                                                                              linked):
    (project / "hang").write_text("")
    plan = _ladder(project, linked, [3], hang_width=3)
    with open_lab(lab) as opened:
        thread, out = in_thread(launch_plan, opened, plan, local_executor(workers=1))
        child = wait_for(project / "hang.pid")
        (state,) = plan_state(opened, plan.id, reap=False)
        worker = opened.runs.get(str(state.run_id)).pid
        assert worker not in (None, child, os.getpid())
        os.kill(worker, signal.SIGKILL)  # the worker itself dies (OOM killer, lost node)
        thread.join(60)
        assert "error" not in out and out["result"].status == "incomplete", out
        deadline = time.monotonic() + 60
        while not gone(child):  # the training command must not outlive its worker
            assert time.monotonic() < deadline, "the command outlived its killed worker"
            time.sleep(0.1)
        (state,) = plan_state(opened, plan.id)
        # the command got SIGTERM and the SDK marked the run killed, saying so
        assert (state.status, state.reason) == ("killed", "terminated by SIGTERM")
        killed_id = state.run_id

        (project / "hang").unlink()
        again = launch_plan(opened, plan, local_executor(workers=1))
        assert again.status == "done" and again.launched == [0]
        (state,) = plan_state(opened, plan.id)
        assert state.attempts == 2 and state.run_id != killed_id
        _check_recorded(opened, str(state.run_id), 3, linked)
        assert opened.runs.get(str(killed_id)).status == "killed"
        # its launcher died: the killed attempt has no page until it is abandoned
        assert not opened.notebook.pages(kind="result", run_id=str(killed_id))
        abandon(opened, str(killed_id), "the worker was killed")
        assert len(opened.notebook.pages(kind="result", run_id=str(killed_id))) == 1


def _launched(lab: Path, *args: str) -> dict:
    code, out, err = cli(lab, *args, "--json", "--", sys.executable, "train.py")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "done", result
    return result


def test_cli_sweeps_by_grid_and_by_list_record_every_run_with_its_config(
        project, lab, monkeypatch):
    monkeypatch.chdir(project)
    (project / "base.yaml").write_text("model:\n  width: 1\nseed: 0\n")
    grid = _launched(lab, "sweep", "--config", "base.yaml", "--grid",
                     "model.width=2,3", "--grid", "seed=0,1", "--workers", "2")
    (project / "runs.yaml").write_text("- {model: {width: 4}}\n- {model.width: 5, seed: 7}\n")
    listed = _launched(lab, "sweep", "--config", "base.yaml", "--list", "runs.yaml")
    assert grid["launched"] == [0, 1, 2, 3] and listed["launched"] == [0, 1]
    with open_lab(lab) as opened:
        for result, expected in ((grid, [(2, 0), (2, 1), (3, 0), (3, 1)]),
                                 (listed, [(4, 0), (5, 7)])):
            runs = [opened.runs.get(s["run_id"]) for s in result["runs"]]
            assert [(r.config["model"]["width"], r.config["seed"]) for r in runs] == expected
            for run, (width, seed) in zip(runs, expected, strict=True):
                assert run.status == "finished" and run.kind == "adhoc"
                assert run.config_delta == ({"model.width": width}
                                            | ({"seed": seed} if seed else {}))
                assert run.summary["final_loss"] == pytest.approx(1 / (3 * width))
                assert run.tags[0] == f"plan:{result['plan_id']}"


METHOD_TRAIN = """\
import stepstone

stepstone.init()
model = stepstone.config["model"]
loss = 1.0 / (model["width"] * 3) * (0.5 if model["norm"] else 1.0)
stepstone.log({"final_loss": loss}, step=0)
stepstone.summary["final_loss"] = loss
stepstone.summary["rung"] = model["width"]
stepstone.finish()
"""


def test_cli_says_which_runs_did_not_finish_and_why_even_with_json(project, lab, monkeypatch):
    monkeypatch.chdir(project)
    (project / "base.yaml").write_text("model:\n  width: 1\n")
    (project / "fails.py").write_text(
        "import sys, stepstone\n"
        "stepstone.init()\n"
        "sys.exit(3 if stepstone.config['model']['width'] == 3 else 0)\n")
    code, out, err = cli(lab, "sweep", "--config", "base.yaml", "--grid", "model.width=2,3",
                         "--json", "--", sys.executable, "fails.py")
    result = json.loads(out)
    assert code == 1 and result["status"] == "incomplete"
    failed = next(s for s in result["runs"] if s["status"] != "finished")
    assert failed["reason"] == "exit code 3"
    assert f"plan {result['plan_id']} is incomplete" in err
    assert f"({failed['run_id']}): failed, exit code 3" in err
    assert "Run the same command again" in err
    assert err.count("): ") == 1  # the run that finished is not named


def test_cli_baseline_ladders_record_the_dated_version_and_answer_a_question(
        project, lab, monkeypatch):
    """The baseline's own ladder and a feature ladder linked to its question, from the CLI:
    runs carry the dated version (so the baseline's runs are found), the question moves to
    running and records the feature's change, and a `yes` promotes it into a new version."""
    monkeypatch.chdir(project)
    (project / "train.py").write_text(METHOD_TRAIN)
    with open_lab(lab) as opened:
        version = baselines.create(opened, "small", {"model": {"width": 1, "norm": False}},
                                   reference_metric="final_loss").version
        qid = questions.create(opened, "does norm lower the loss?",
                               rule="final_loss <= baseline - 0.01 at every rung",
                               baseline="small").question.id
        # one seed per rung: the spread a comparison borrows is the baseline's noise floor
        opened.baselines.record_noise(version, metric="final_loss", sd=0.001, n=3, rung=None,
                                      runs=("a", "b", "c"))
    assert "@" in version
    rungs = ("--rungs", "model.width=2; model.width=4")
    own = _launched(lab, "ladder", "--baseline", "small", *rungs)
    feature = _launched(lab, "ladder", "--baseline", "small", "--question", qid,
                        "--set", "model.norm=true", "--feature", "model.norm", *rungs)
    with open_lab(lab) as opened:
        assert opened.plans.get(own["plan_id"]).baseline == version
        assert [r.id for r in baseline_runs(opened, version)] == [
            s["run_id"] for s in own["runs"]]
        for state, width in zip(feature["runs"], (2, 4), strict=True):
            run = opened.runs.get(state["run_id"])
            assert (run.kind, run.baseline, run.question_id) == ("rung", version, qid)
            assert run.config_delta == {"model.norm": True, "model.width": width}
            assert run.summary["final_loss"] == pytest.approx(0.5 / (3 * width))
        q = opened.questions.get(qid)
        assert q.status == "running" and q.feature_keys == ["model.norm"]
        assert q.feature_delta == {"model.norm": True}
    code, out, err = cli(lab, "decide", qid, "--conclusion", "norm helps", "--json")
    assert code == 0, err
    assert json.loads(out)["proposed"] == "yes", out
    code, out, err = cli(lab, "baseline", "promote", "small", "--from", qid, "--json")
    assert code == 0, err
    promoted = json.loads(out)
    assert promoted["parent"] == version
    assert promoted["config"] == {"model": {"width": 1, "norm": True}}


def test_each_run_gets_one_gpu_of_its_own(tmp_path, lab):
    """No GPU is needed to check the hand-out: each command sees one CUDA_VISIBLE_DEVICES,
    and two runs at once never share one."""
    (tmp_path / "gpu.py").write_text(
        "import os, time, stepstone\n"
        "run = stepstone.init()\n"
        "run.summary['gpu'] = os.environ['CUDA_VISIBLE_DEVICES']\n"
        "time.sleep(0.5)\n"
        "run.finish()\n")
    plan = plan_ladder({"model": {"width": 1}}, [sys.executable, "gpu.py"],
                       rungs=[[f"model.width={w}"] for w in (1, 2, 3, 4)], cwd=str(tmp_path))
    with open_lab(lab) as opened:
        result = launch_plan(opened, plan, local_executor(workers=2, gpus=["3", "5"]))
        assert result.status == "done"
        records = [opened.runs.get(str(s.run_id)) for s in plan_state(opened, plan.id)]
    assert sorted(r.summary["gpu"] for r in records) == ["3", "3", "5", "5"]
    for a in records:  # two runs on one GPU never overlapped in time
        for b in records:
            if a.id < b.id and a.summary["gpu"] == b.summary["gpu"]:
                assert a.ended_at <= b.created_at or b.ended_at <= a.created_at


def test_gpus_come_from_cuda_visible_devices_or_nvidia_smi(tmp_path, monkeypatch):
    from stepstone.launch.executors import detect_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 7,-1")
    assert detect_gpus() == ["2", "7"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    fake = tmp_path / "bin" / "nvidia-smi"  # what nvidia-smi prints for two GPUs
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nprintf '0\\n1\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    assert detect_gpus() == ["0", "1"]
    fake.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2\nexit 9\n")
    assert detect_gpus() == []


def test_the_live_progress_counts_the_plans_runs(project, lab, capsys):
    plan = plan_ladder(_base(project), [sys.executable, "train.py"],
                       rungs=[["model.width=2"], ["model.width=3"]], cwd=str(project))
    with open_lab(lab) as opened:
        result = launch_plan(opened, plan, local_executor(workers=2), progress=True)
    assert result.status == "done"
    err = capsys.readouterr().err
    assert plan.id in err
    assert "done 2 · running 0 · failed 0 · waiting 0" in err
