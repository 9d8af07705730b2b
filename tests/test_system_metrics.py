"""System metrics: the sampler thread with the real psutil, NVML skipped cleanly without a GPU,
the setting (init, environment, wandb settings), and where they show (show, exports, API)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import stepstone
from stepstone.cli import cli
from stepstone.errors import UsageError
from stepstone.sdk import system
from stepstone.store import open_lab
from stepstone.store.metrics import is_system_key

HOST_KEYS = {"system/cpu_percent", "system/proc_cpu_percent", "system/proc_rss_mb",
             "system/memory_percent", "system/memory_available_gb"}


def _sampled_run(lab: Path, interval: float = 0.05, samples: int = 3, **kwargs: object) -> str:
    """A run that logs a few points while the sampler takes at least ``samples`` samples."""
    run = stepstone.init(project="sys", lab=lab, save_code=False, system_metrics=interval,
                         **kwargs)  # type: ignore[arg-type]
    for step in range(4):
        run.log({"loss": 1.0 / (step + 1)})
    deadline = time.monotonic() + 30
    while (run._sampler is None or run._sampler.samples < samples) and \
            time.monotonic() < deadline:
        time.sleep(0.02)
    run.log({"note": "done"})
    run.finish()
    return run.id


def test_the_sampler_records_host_metrics_beside_the_run_without_touching_its_steps(lab):
    run_id = _sampled_run(lab)
    with open_lab(lab) as opened:
        record = opened.runs.get(run_id)
        history = system.read_system(opened, run_id)
        keys = opened.metrics.keys(run_id)
    assert set(history) >= HOST_KEYS
    assert "loss" in keys
    cpu = history["system/cpu_percent"]
    assert len(cpu) >= 3
    assert cpu.steps == list(range(len(cpu)))  # the sample's number, not the training step
    assert cpu.times == sorted(cpu.times) and cpu.times[0] >= record.created_at
    assert all(0 <= v <= 100 for v in history["system/memory_percent"].values)
    assert all(v > 1 for v in history["system/proc_rss_mb"].values)  # this process's memory
    # the run's own step and summary are the training's: the sampler is beside them
    assert record.last_step == 4
    assert not any(is_system_key(k) for k in record.summary)


@pytest.mark.parametrize("setting", [False, 0])
def test_system_metrics_switch_off_at_init(lab, setting):
    run = stepstone.init(project="sys", lab=lab, save_code=False, system_metrics=setting)
    assert run._sampler is None
    run.log({"loss": 1.0})
    run.finish()
    with open_lab(lab) as opened:
        assert opened.metrics.keys(run.id) == ["loss"]


def test_the_environment_sets_the_interval_or_turns_it_off(lab, monkeypatch):
    monkeypatch.setenv(system.ENV, "off")
    run = stepstone.init(project="sys", lab=lab, save_code=False)
    assert run._sampler is None
    run.finish()
    monkeypatch.setenv(system.ENV, "0.05")
    run_id = _sampled_run(lab, interval=None, samples=2)  # type: ignore[arg-type]
    with open_lab(lab) as opened:
        assert set(system.read_system(opened, run_id)) >= HOST_KEYS
    monkeypatch.delenv(system.ENV)
    run = stepstone.init(project="sys", lab=lab, save_code=False)
    assert run._sampler is not None and run._sampler.interval == system.DEFAULT_INTERVAL == 10.0
    run.finish()


def test_wandb_settings_turn_the_sampler_off_or_set_its_interval(lab):
    run = stepstone.init(project="sys", lab=lab, save_code=False,
                         settings={"x_disable_stats": True})
    assert run._sampler is None
    run.finish()
    run = stepstone.init(project="sys", lab=lab, save_code=False,
                         settings={"x_stats_sampling_interval": 2.5})
    assert run._sampler is not None and run._sampler.interval == 2.5
    run.finish()


@pytest.mark.parametrize("setting, env", [(-1, None), ("often", None), (float("inf"), None),
                                          (None, "soon")])
def test_a_bad_interval_is_one_clear_error_and_no_run(lab, monkeypatch, setting, env):
    if env is not None:
        monkeypatch.setenv(system.ENV, env)
    with pytest.raises(UsageError, match="seconds"):
        stepstone.init(project="sys", lab=lab, save_code=False, system_metrics=setting)
    with open_lab(lab) as opened:
        assert opened.runs.list() == []


def test_nvml_is_skipped_cleanly_without_a_gpu_and_read_with_one(capsys):
    """On a machine without an NVIDIA driver the real pynvml raises its NVMLError and the GPU
    probe is None, silently; on a GPU machine every GPU gives its five readings."""
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
    except pynvml.NVMLError:
        count = 0
    probe = system.gpu_probe()
    if count == 0:
        assert probe is None
        assert capsys.readouterr().err == ""
        assert not any(isinstance(p, system.GpuProbe) for p in system.default_probes())
        return
    assert probe is not None
    sample = probe.sample()
    for index in range(count):
        assert {f"system/gpu/{index}/{name}" for name in
                ("utilization_percent", "memory_used_mb", "memory_percent",
                 "temperature_c")} <= set(sample)
        assert 0 <= sample[f"system/gpu/{index}/utilization_percent"] <= 100


class _Broken:
    def sample(self) -> dict[str, float]:
        raise OSError("the sensor went away")


def test_a_failing_probe_is_dropped_with_one_note_and_the_others_go_on(capsys):
    got: list[tuple[int, float, dict[str, float]]] = []
    host = system.host_probe()
    assert host is not None
    sampler = system.Sampler(lambda *s: got.append(s), 60.0, [_Broken(), host])
    sampler.take()
    sampler.take()
    assert [n for n, _, _ in got] == [0, 1]
    assert set(got[1][2]) >= HOST_KEYS
    err = capsys.readouterr().err
    assert err.count("_Broken stopped: OSError: the sensor went away") == 1



class _Slow:
    """A probe whose sample takes until the test lets it go (a GPU driver that hangs, psutil
    still loading)."""

    def __init__(self) -> None:
        import threading

        self.entered, self.release = threading.Event(), threading.Event()

    def sample(self) -> dict[str, float]:
        self.entered.set()
        self.release.wait(30)
        return {"system/slow": 1.0}


def test_stop_does_not_wait_for_a_sample_and_nothing_is_emitted_after_it():
    got: list[tuple[int, float, dict[str, float]]] = []
    probe = _Slow()
    sampler = system.Sampler(lambda *s: got.append(s), 0.001, [probe])
    sampler.start()
    assert probe.entered.wait(30)
    sampler.stop()  # returns while the probe is still reading (the old stop joined for 5 s)
    assert sampler.is_alive()
    probe.release.set()
    sampler.join(30)
    assert not sampler.is_alive()
    assert got == []  # the sample read across stop() is dropped, not handed to a closed run

def test_show_lists_system_metrics_and_counts_text_points(lab):
    run = stepstone.init(project="sys", lab=lab, save_code=False, system_metrics=False)
    for step in range(3):
        run.log({"loss": 1.0, "acc": 0.5, "phase": "warmup" if step < 2 else "main"})
    run.finish()
    sampled = _sampled_run(lab, samples=2)
    runner = CliRunner()
    out = runner.invoke(cli, ["show", run.id, "--lab", str(lab)])
    assert out.exit_code == 0, out.output
    assert "metrics: 3 keys, 9 points (text: 1 key, 3 points)" in out.output
    assert "system metrics" not in out.output
    out = runner.invoke(cli, ["show", sampled, "--lab", str(lab)])
    assert "metrics: 2 keys, 5 points (text: 1 key, 1 point)" in out.output
    assert "system metrics (" in out.output and "system/proc_rss_mb: last" in out.output
    data = json.loads(runner.invoke(cli, ["show", sampled, "--lab", str(lab),
                                           "--json"]).output)
    assert data["metric_keys"] == ["loss"] and data["points"] == 4
    assert data["text_keys"] == {"note": 1} and data["text_points"] == 1
    rows = {row["key"]: row for row in data["system_metrics"]}
    assert set(rows) >= HOST_KEYS
    assert rows["system/proc_rss_mb"]["max"] >= rows["system/proc_rss_mb"]["mean"] > 0


def test_export_history_and_history_frame_hold_text_points(lab):
    run = stepstone.init(project="sys", lab=lab, save_code=False, system_metrics=False)
    run.log({"loss": 2.0, "phase": "warmup"})
    run.log({"loss": 1.0, "phase": "main"})
    run.finish()
    runner = CliRunner()
    out = runner.invoke(cli, ["export", "history", "--format", "jsonl", "--lab", str(lab)])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert [(r["key"], r["step"], r["value"], r["text"]) for r in rows] == [
        ("loss", 0, 2.0, None), ("loss", 1, 1.0, None),
        ("phase", 0, None, "warmup"), ("phase", 1, None, "main")]
    assert all(isinstance(r["time"], float) for r in rows)
    csv_out = runner.invoke(cli, ["export", "history", "--lab", str(lab), "--key", "phase"])
    assert csv_out.output.splitlines()[0] == "run_id,key,step,value,time,text"
    assert csv_out.output.splitlines()[1].endswith(",warmup")
    pytest.importorskip("pandas")
    frame = stepstone.Api(lab=lab).history_frame()
    assert list(frame.columns) == ["run_id", "key", "step", "value", "time", "text"]
    assert frame["text"].tolist()[2:] == ["warmup", "main"]
    assert len(stepstone.Api(lab=lab).history_frame(keys=["phase"])) == 2


def test_the_read_api_gives_system_metrics_as_the_events_stream(lab):
    pytest.importorskip("pandas")
    run_id = _sampled_run(lab)
    run = stepstone.Api(lab=lab).run(run_id)
    history = run.history()
    assert list(history.columns) == ["_step", "_runtime", "_timestamp", "loss", "note"]
    events = run.history(stream="events")
    assert list(events.columns[:2]) == ["_runtime", "_timestamp"]
    assert set(events.columns) >= HOST_KEYS
    assert len(events) >= 3 and events["_runtime"].is_monotonic_increasing
    assert (events["_runtime"] >= 0).all()
    one = run.history(stream="events", keys=["system/proc_rss_mb"], samples=2, pandas=False)
    assert len(one) == 2 and set(one[0]) == {"_runtime", "_timestamp", "system/proc_rss_mb"}
    assert not any(k.startswith("system/") for row in run.scan_history() for k in row)
    with pytest.raises(UsageError, match="stream='metrics'"):
        run.history(stream="metrics")


def test_the_dashboard_run_page_has_a_system_panel_and_curves_without_it(lab):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from stepstone.web.app import create_app

    run_id = _sampled_run(lab)
    client = TestClient(create_app(lab))
    html = client.get(f"/runs/{run_id}").text
    assert '<section id="system"><h2>System</h2>' in html
    assert "<th>system/proc_rss_mb</th>" in html
    assert "<tr><th>points</th><td>5</td></tr>" in html  # 4 losses and the text note
    data = json.loads(html.split('id="run-data">')[1].split("</script>")[0])
    assert data["keys"] == ["loss"]
    assert set(data["system"]) >= HOST_KEYS
    assert all(x >= 0 for x in data["system"]["system/cpu_percent"]["x"])
    series = client.get(f"/api/runs/{run_id}/series").json()["series"]
    assert set(series) == {"loss"}
    named = client.get(f"/api/runs/{run_id}/series",
                       params={"key": "system/cpu_percent"}).json()["series"]
    assert set(named) == {"system/cpu_percent"}


def test_samples_text_points_and_summary_edits_on_both_stores(store_target):
    """The statements behind this file's features, on SQLite and PostgreSQL: system samples
    through the writer, text points read back, a summary key set and one deleted."""
    run_id = _sampled_run(store_target.root, samples=2)
    with open_lab(store_target.root) as opened:
        assert set(system.read_system(opened, run_id)) >= HOST_KEYS
        assert opened.metrics.text_points(run_id)[0][::3] == ("note", "done")
        assert opened.metrics.text_counts(run_id) == {"note": 1}
        assert opened.metrics.text_points(run_id, ["loss"]) == []
        opened.runs.set_summary(run_id, {"checked": 1}, removed=["loss"])
        summary = opened.runs.get(run_id).summary
    assert summary["checked"] == 1 and "loss" not in summary


def _launch(lab: Path, *command: str, interval: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STEPSTONE_LAB": str(lab), system.ENV: interval}
    env.pop("STEPSTONE_RUN_ID", None)
    return subprocess.run([sys.executable, "-m", "stepstone", "run", "--name", "launched", "--",
                           *command], cwd=lab.parent, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_launcher_samples_the_command_it_starts(lab):
    """`stepstone run` samples its command, one that never imports stepstone included: the
    process figures are the command's own (it holds 400 MB; the launcher far less)."""
    code = "import time\nx = bytearray(400 * 2**20)\ntime.sleep(2.0)\n"
    proc = _launch(lab, sys.executable, "-c", code, interval="0.1")
    assert proc.returncode == 0, proc.stderr
    with open_lab(lab) as opened:
        [record] = opened.runs.list()
        history = system.read_system(opened, record.id)
    rss = history["system/proc_rss_mb"]
    assert max(rss.values) > 390
    assert rss.steps == list(range(len(rss))) and len(rss) >= 3
    assert record.last_step is None  # the samples are no training steps


def test_a_script_attached_to_a_launched_run_leaves_the_sampling_to_the_launcher(lab):
    script = lab.parent / "train.py"
    script.write_text(textwrap.dedent("""
        import time
        import stepstone
        run = stepstone.init(project="sys")
        assert run._sampler is None, "the launcher samples this process"
        for step in range(3):
            run.log({"loss": 1.0})
            time.sleep(0.3)
        run.finish()
    """))
    proc = _launch(lab, sys.executable, str(script), interval="0.1")
    assert proc.returncode == 0, proc.stderr
    with open_lab(lab) as opened:
        [record] = opened.runs.list()
        cpu = system.read_system(opened, record.id)["system/cpu_percent"]
    assert cpu.steps == list(range(len(cpu)))  # one sampler: no sample number twice
    assert record.last_step == 2


def test_a_bad_interval_stops_the_launch_before_any_run(lab):
    proc = _launch(lab, sys.executable, "-c", "pass", interval="often")
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].endswith(
        "give a number of seconds between samples (e.g. 10), or off")
    assert "Traceback" not in proc.stderr
    with open_lab(lab) as opened:
        assert opened.runs.list() == []


def test_the_health_monitor_reads_new_training_points_past_the_sample_numbers(lab):
    """System samples are numbered on their own (0, 1, 2 ... every 10 s): a slow run can have
    taken more samples than training steps, and the watcher must still read every new step."""
    from stepstone.launch.monitor import MonitorSpec, Watcher
    from stepstone.store.metrics import Chunk
    from stepstone.store.target import target_of_folder

    run = stepstone.init(project="sys", lab=lab, save_code=False, system_metrics=False)
    run.finish()
    watcher = Watcher(target_of_folder(lab), run.id, MonitorSpec(), lambda: None)

    def write(*chunks: Chunk) -> None:
        with opened.db.transaction():
            opened.metrics.write_chunks(run.id, chunks)

    with open_lab(lab) as opened:
        write(Chunk("train/loss", [0, 1, 2], [2.0, 1.0, 0.5], [1.0, 2.0, 3.0]),
              Chunk("system/cpu_percent", list(range(50)), [10.0] * 50, [1.0] * 50))
        assert watcher._check(opened, alive=True) is None and not opened.alerts.of_runs([run.id])
        write(Chunk("train/loss", [3, 4], [0.6, 40.0], [4.0, 5.0]))
        watcher._check(opened, alive=True)
        [alert] = opened.alerts.of_runs([run.id])
    assert alert.detector == "divergence" and alert.step == 4


def test_system_samples_do_not_hide_a_cut_schedule(lab):
    """The samples' numbers (0, 1, 2 ...) are not training steps: a run cut at step 40 of 100
    that took more samples than that is still flagged."""
    from stepstone.method.schedule import schedule_incomplete

    run = stepstone.init(project="sys", lab=lab, save_code=False, system_metrics=0.005,
                         config={"steps": 100})
    for step in range(0, 50, 10):
        run.log({"loss": 1.0 / (step + 1)}, step=step)
    deadline = time.monotonic() + 60
    while (run._sampler is None or run._sampler.samples < 60) and time.monotonic() < deadline:
        time.sleep(0.02)
    run.finish()
    with open_lab(lab) as opened:
        assert len(system.read_system(opened, run.id)["system/cpu_percent"]) >= 60
        why = schedule_incomplete(opened, opened.runs.get(run.id))
    assert why is not None and "stopped at step 40 of 100" in why


def test_a_run_that_ends_in_its_first_second_never_loads_psutil(tmp_path):
    code = textwrap.dedent(f"""
        import sys, stepstone
        stepstone.init(project="p", dir={str(tmp_path)!r}, system_metrics=10).finish()
        print("psutil" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.strip()
    assert out == "False"
