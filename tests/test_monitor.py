"""Health monitors that act, on real runs: the MQAR reference task with a learning rate that
diverges (and one that does not), a loss that turns NaN, a process that stalls, a throughput
that drops. Each firing is an alert on the run, a notebook page and a line in `status`; it
runs the --on-alert command or webhook, and with --stop-on-alert stops the run (killed, the
alert as reason)."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from _cli import cli
from stepstone.analysis.health import HealthRules, HealthState
from stepstone.store import open_lab

MQAR = [sys.executable, "-m", "stepstone.tasks.mqar", "--d-model", "16", "--batch-size", "16",
        "--warmup-steps", "2", "--grad-clip", "1e9", "--weight-decay", "0", "--log-every", "2",
        "--eval-examples", "8", "--eval-every", "100000"]
FAST = ("--monitor-every", "0.3")


def _run(lab: Path, *args: str) -> dict:
    _, out, err = cli(lab, "run", "--json", *args)
    assert out, err
    return json.loads(out)


def _alerts(lab: Path, run_id: str) -> list[dict]:
    with open_lab(lab) as opened:
        return [a.to_dict() for a in opened.alerts.of_runs([run_id])]


def test_a_diverging_learning_rate_is_caught_and_the_run_stopped(lab, tmp_path):
    record = _run(lab, "--monitor", "--stop-on-alert", *FAST,
                  "--on-alert", f"{{ cat; echo; }} >> {tmp_path / 'alerts.jsonl'}",
                  "--", *MQAR, "--steps", "400", "--lr", "3")
    assert record["status"] == "killed"
    assert record["reason"].startswith("stopped by the health monitor: train/loss diverged")
    assert record["last_step"] < 400  # stopped early, the machine freed
    [first] = _alerts(lab, record["id"])  # the stop ends its alerts
    assert first["detector"] == "divergence" and first["metric"] == "train/loss"
    assert first["action"] == "--on-alert exited 0; run stopped"
    [line] = (tmp_path / "alerts.jsonl").read_text().splitlines()
    sent = json.loads(line)
    assert sent["run_id"] == record["id"] and sent["detector"] == "divergence"
    with open_lab(lab) as opened:
        pages = [p for p in opened.notebook.pages(run_id=record["id"]) if p.kind == "note"]
    assert pages and pages[0].title.startswith("Alert on run ")
    assert "diverged" in pages[0].body
    _, out, _ = cli(lab, "status")
    assert f"alert on run {record['id']} (divergence): train/loss diverged" in out
    _, out, _ = cli(lab, "show", record["id"])
    assert "ALERT divergence: train/loss diverged" in out
    _, out, _ = cli(lab, "digest", record["id"], "--json")
    assert json.loads(out)["alerts"][0]["detector"] == "divergence"


def test_a_sound_learning_rate_raises_no_loss_alert(lab):
    record = _run(lab, "--monitor", "--stop-on-alert", *FAST,
                  "--", *MQAR, "--steps", "30", "--lr", "0.003")
    assert record["status"] == "finished", record["reason"]
    detectors = {a["detector"] for a in _alerts(lab, record["id"])}
    assert not detectors & {"nonfinite", "divergence", "stall"}, detectors


def test_a_loss_that_turns_nan_is_caught(lab):
    record = _run(lab, "--monitor", *FAST, "--", *MQAR, "--steps", "20", "--lr", "1e4")
    nonfinite = [a for a in _alerts(lab, record["id"]) if a["detector"] == "nonfinite"]
    assert nonfinite and nonfinite[0]["metric"] == "train/loss"
    assert "train/loss is nan" in nonfinite[0]["message"]


SAME_STEP = """\
import time, stepstone
run = stepstone.init()
for step in range(3):
    run.log({"train/loss": 1.0 / (step + 1)}, step=step)
run.flush()
time.sleep(1.5)  # the monitor has read step 2 of train/loss
run.log({"eval/loss": float("nan")}, step=2)  # the evaluation of step 2, logged after it
run.flush()
time.sleep(1.5)
run.finish()
"""


def test_an_evaluation_logged_after_its_steps_training_point_is_watched(lab, tmp_path):
    (tmp_path / "same_step.py").write_text(SAME_STEP)
    record = _run(lab, "--monitor", *FAST, "--", sys.executable, str(tmp_path / "same_step.py"))
    nonfinite = [a for a in _alerts(lab, record["id"]) if a["detector"] == "nonfinite"]
    assert [a["metric"] for a in nonfinite] == ["eval/loss"], _alerts(lab, record["id"])
    assert "eval/loss is nan at step 2" in nonfinite[0]["message"]


STALL = """\
import sys, time, stepstone
run = stepstone.init()
for step in range(int(sys.argv[1])):
    run.log({"loss": 1.0 / (step + 1)}, step=step)
    time.sleep(0.1)
time.sleep(float(sys.argv[2]))  # hung: the process lives, nothing is logged
run.finish()
"""


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        length = int(self.headers["content-length"])
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook():
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Hook.received
    server.shutdown()


def test_a_stalled_process_is_stopped_and_the_webhook_told(lab, tmp_path, webhook):
    url, received = webhook
    (tmp_path / "stall.py").write_text(STALL)
    record = _run(lab, "--stall", "1s", "--stop-on-alert", "--on-alert", url, "--monitor-every",
                  "0.2", "--", sys.executable, str(tmp_path / "stall.py"), "5", "120")
    assert record["status"] == "killed"
    assert record["reason"].startswith("stopped by the health monitor: no point logged for")
    assert record["duration"] is None or record["duration"] < 60
    [alert] = _alerts(lab, record["id"])
    assert alert["detector"] == "stall"
    assert alert["action"] == "webhook answered 204; run stopped"
    assert received and received[0]["detector"] == "stall"


def test_a_run_that_keeps_logging_never_stalls(lab, tmp_path):
    """It logs for 8 s, past the 5 s allowance (which also covers the start-up before the
    first point on a busy machine)."""
    (tmp_path / "stall.py").write_text(STALL)
    record = _run(lab, "--stall", "5s", "--stop-on-alert", "--monitor-every", "0.2",
                  "--", sys.executable, str(tmp_path / "stall.py"), "80", "0")
    assert record["status"] == "finished"
    assert _alerts(lab, record["id"]) == []


def test_the_monitor_follows_a_ladder_to_its_rungs(lab, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(lab, "ladder", "--rungs", "hang=0; hang=1", "--stall", "5s",
                         "--stop-on-alert", "--monitor-every", "0.2", "--json", "--",
                         sys.executable, "-c",
                         "import stepstone, time; r = stepstone.init(); "
                         "r.log({'loss': 1.0}); time.sleep(60 * r.config['hang'])")
    assert code == 1, err
    states = {s["label"]: s for s in json.loads(out)["runs"]}
    assert [s["status"] for s in states.values()] == ["finished", "killed"]
    stalled = next(s for s in states.values() if s["status"] == "killed")
    assert [a["detector"] for a in _alerts(lab, stalled["run_id"])] == ["stall"]


@pytest.mark.parametrize("args, message", [
    (("--diverge", "0.5"), "divergence is a factor above 1"),
    (("--throughput-drop", "2"), "a throughput drop is a fraction in (0, 1)"),
    (("--stall", "soon"), "--stall is a number with a unit"),
    (("--monitor-every", "0"), "--monitor-every is a positive number of seconds"),
])
def test_bad_monitor_settings_are_one_error_and_run_nothing(lab, args, message):
    code, _, err = cli(lab, "run", *args, "--", sys.executable, "-c", "pass")
    assert code == 2 and message in err and "Traceback" not in err
    with open_lab(lab) as opened:
        assert opened.runs.list() == []


def test_throughput_drops_fire_only_when_they_last():
    state = HealthState(HealthRules(), last_point_at=0.0)
    steady = [100.0, 98, 103, 101, 99, 40, 100, 102, 41, 42]  # two lone slow steps: no drop
    assert state.feed("throughput/tokens_per_s", list(range(10)), steady, 1.0) == []
    found = state.feed("throughput/tokens_per_s", [10, 11, 12], [30.0, 31, 29], 2.0)
    assert [f.detector for f in found] == ["throughput"]
    assert "below its median" in found[0].message
    assert state.feed("throughput/tokens_per_s", [13], [1.0], 3.0) == []  # once per key


def test_a_start_up_may_take_three_stall_times_before_its_first_point():
    state = HealthState(HealthRules(stall_seconds=600.0), last_point_at=0.0)
    assert state.feed("system/cpu_percent", [0], [90.0], 700.0) == []  # loading, not logging
    assert state.idle(1799.0) == []
    [stall] = state.idle(1800.0)
    assert "before a first point, stall after 1800 s: 3 x 600 s" in stall.message
    started = HealthState(HealthRules(stall_seconds=600.0), last_point_at=0.0)
    started.feed("train/loss", [0], [2.0], 10.0)
    assert [f.detector for f in started.idle(610.0)] == ["stall"]  # once it logs: 600 s


def test_the_running_minimum_and_the_system_series():
    state = HealthState(HealthRules(divergence=3.0), last_point_at=0.0)
    assert state.feed("train/loss", [0, 1, 2], [4.0, 2.0, 5.9], 1.0) == []  # 5.9 < 3 x 2
    assert [f.step for f in state.feed("train/loss", [3], [6.1], 2.0)] == [3]
    assert state.feed("system/cpu_percent", [0], [50.0], 900.0) == []
    assert [f.detector for f in state.idle(901.0)] == ["stall"]  # system points are no life
    assert state.idle(902.0) == []


OWN = """\
import sys, time, stepstone
run = stepstone.init(lab=sys.argv[1])
print(run.id, flush=True)
for step in range(int(sys.argv[2])):
    run.log({"loss": 1.0 / (step + 1)}, step=step)
    time.sleep(0.1)
time.sleep(float(sys.argv[3]))
run.finish()
"""


def _start(lab: Path, tmp_path: Path, steps: str, hang: str):
    import subprocess

    (tmp_path / "own.py").write_text(OWN)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "own.py"), str(lab), steps, hang],
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def test_watch_stops_a_stalled_run_that_stepstone_did_not_launch(lab, tmp_path):
    proc, run_id = _start(lab, tmp_path, "3", "120")
    try:
        code, out, err = cli(lab, "watch", run_id, "--stall", "1s", "--stop-on-alert",
                             "--monitor-every", "0.2", "--json")
        assert code == 0, err
        assert proc.wait(timeout=30) != 0  # stopped, not finished
    finally:
        proc.kill()
    watched = json.loads(out)
    assert watched["status"] == "killed"
    assert watched["reason"].startswith("stopped by the health monitor: no point logged for")
    assert [a["detector"] for a in watched["alerts"]] == ["stall"]


def test_watch_lets_a_healthy_run_finish(lab, tmp_path):
    proc, run_id = _start(lab, tmp_path, "60", "0")  # logs for 6 s, past the 3 s allowance
    try:
        code, out, err = cli(lab, "watch", run_id, "--stall", "3s", "--stop-on-alert",
                             "--monitor-every", "0.2", "--json")
        assert code == 0, err
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    assert json.loads(out)["status"] == "finished" and json.loads(out)["alerts"] == []
    code, _, err = cli(lab, "watch", run_id)
    assert code == 2 and f"run {run_id} is finished: only a running run can be watched" in err


GRACEFUL = """\
import signal, sys, time, stepstone
run = stepstone.init()
stopping = []
signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))  # a script that saves on SIGTERM
step = 0
while not stopping and step < 600:
    run.log({"loss": 1.0 if step < 5 else 10.0}, step=step)  # diverges at step 5
    step += 1
    time.sleep(0.05)
for late in range(step, step + 10):  # its shutdown: a last evaluation, a checkpoint
    run.log({"val_loss": float("nan"), "throughput/tokens_per_s": 1.0}, step=late)
    time.sleep(0.1)
run.finish()
"""


def test_a_run_the_monitor_stopped_is_not_alerted_on_again(lab, tmp_path):
    """The script's shutdown logs a NaN loss after the monitor stopped it for its divergence:
    the run has its one alert, the --on-alert command ran once."""
    (tmp_path / "graceful.py").write_text(GRACEFUL)
    sent = tmp_path / "sent.jsonl"
    record = _run(lab, "--monitor", "--stop-on-alert", "--monitor-every", "0.2",
                  "--on-alert", f"{{ cat; echo; }} >> {sent}",
                  "--", sys.executable, str(tmp_path / "graceful.py"))
    assert record["status"] == "killed"
    assert record["reason"].startswith("stopped by the health monitor: loss diverged")
    assert [(a["detector"], a["metric"]) for a in _alerts(lab, record["id"])] == [
        ("divergence", "loss")]
    assert len(sent.read_text().splitlines()) == 1
    with open_lab(lab) as opened:
        notes = [p for p in opened.notebook.pages(run_id=record["id"]) if p.kind == "note"]
        assert "val_loss" in opened.metrics.history(record["id"])  # the monitor saw it
    assert len(notes) == 1


def test_a_run_that_finished_while_its_process_lives_on_is_not_stopped(lab, tmp_path):
    """The script finishes its run, then works on without it: that silence is no stall."""
    script = tmp_path / "after.py"
    script.write_text("import time, stepstone\nrun = stepstone.init()\n"
                      "run.log({'loss': 1.0}, step=0)\nrun.finish()\ntime.sleep(3)\n")
    record = _run(lab, "--stall", "1s", "--stop-on-alert", "--monitor-every", "0.2",
                  "--", sys.executable, str(script))
    assert record["status"] == "finished", record["reason"]
    assert _alerts(lab, record["id"]) == []


DIVERGES = """\
import sys, time, stepstone
run = stepstone.init(lab=sys.argv[1])
print(run.id, flush=True)
for step in range(200):
    run.log({"loss": 1.0 if step < 5 else 10.0}, step=step)
    time.sleep(0.05)
run.finish()
"""


def test_a_condition_is_alerted_once_per_run_whichever_watcher_sees_it(lab, tmp_path):
    """A second watcher (`stepstone watch` again, beside the first) reads the run's whole
    history: the divergence the first one alerted is not news."""
    import subprocess
    import time

    from stepstone.launch.monitor import MonitorSpec, Watcher
    from stepstone.store.target import target_of_folder

    (tmp_path / "diverges.py").write_text(DIVERGES)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "diverges.py"), str(lab)],
                            stdout=subprocess.PIPE, text=True)
    try:
        run_id = proc.stdout.readline().strip()
        spec = MonitorSpec(poll_seconds=0.1)
        first = Watcher(target_of_folder(lab), run_id, spec, lambda: None)
        first.start()
        deadline = time.time() + 60
        while not _alerts(lab, run_id) and time.time() < deadline:
            time.sleep(0.1)
        second = Watcher(target_of_folder(lab), run_id, spec, lambda: None)
        second.start()
        time.sleep(0.5)
        second.close()
        first.close()
    finally:
        proc.kill()
        proc.wait()
    assert [(a["detector"], a["metric"]) for a in _alerts(lab, run_id)] == [
        ("divergence", "loss")]


FINISHED_NAN = """\
import os, time, stepstone
from stepstone.store import open_lab

run = stepstone.init(flush_interval=3600)  # its points are written with its end, by finish()
run.log({"loss": 1.0}, step=0)
run.log({"loss": float("nan")}, step=1)
run.finish()
with open_lab(os.environ["STEPSTONE_LAB"]) as lab:  # finished, and slow to exit: until the
    deadline = time.time() + 60                     # monitor has alerted on the NaN
    while not lab.alerts.of_runs([run.id]) and time.time() < deadline:
        time.sleep(0.1)
"""


def test_a_run_that_finished_before_the_monitors_stop_stays_finished(lab, tmp_path):
    """The monitor sees a NaN loss only once the script recorded its end (its process still
    lives): the run keeps its finish, its process is left to exit, the alert is recorded."""
    (tmp_path / "finished_nan.py").write_text(FINISHED_NAN)
    record = _run(lab, "--monitor", "--stop-on-alert", "--monitor-every", "0.2",
                  "--", sys.executable, str(tmp_path / "finished_nan.py"))
    assert (record["status"], record["reason"], record["exit_code"]) == ("finished", None, 0)
    [alert] = _alerts(lab, record["id"])
    assert (alert["detector"], alert["metric"], alert["action"]) == ("nonfinite", "loss", None)
