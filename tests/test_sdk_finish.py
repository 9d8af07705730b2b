"""How an SDK run ends: its status and reason on every exit path, its result page in the
notebook (exactly one, also when `stepstone run` launched it), its seed and the summaries
``define_metric`` asks for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import stepstone
from stepstone.store import open_lab
from stepstone.store.notebook import Page

LOOP = textwrap.dedent("""
    import sys, time
    import stepstone
    run = stepstone.init(project="p", name="looping")
    run.log({"loss": 1.0})
    run.flush()
    print("RUN", run.id, flush=True)
    while True:
        time.sleep(0.05)
""")


def result_pages(lab_root: Path, run_id: str) -> list[Page]:
    with open_lab(lab_root) as lab:
        return lab.notebook.pages(run_id=run_id, kind="result")


def script_env(lab_root: Path) -> dict[str, str]:
    env = {**os.environ, "STEPSTONE_LAB": str(lab_root)}
    env.pop("STEPSTONE_RUN_ID", None)
    return env


def run_script(tmp_path: Path, lab_root: Path, code: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=script_env(lab_root),
                          capture_output=True, text=True, timeout=120)


def only_run(lab_root: Path):  # type: ignore[no-untyped-def]
    with open_lab(lab_root) as lab:
        (record,) = lab.runs.list()
    return record


def test_a_finished_run_gets_one_result_page_with_its_numbers(lab):
    run = stepstone.init(project="p", lab=lab, name="clean")
    run.log({"loss": 0.25})
    run.finish()
    run.finish()  # a second finish changes nothing
    (page,) = result_pages(lab, run.id)
    assert page.title == "Run clean finished"
    assert page.data["run_id"] == run.id and page.data["status"] == "finished"
    assert page.data["summary"] == {"loss": 0.25}
    assert f"Run `{run.id}`" in page.body


def test_an_exception_in_a_script_fails_the_run_and_writes_its_page(tmp_path, lab):
    result = run_script(tmp_path, lab, """
        import stepstone
        stepstone.init(project="p")
        stepstone.log({"x": 1.0})
        raise ValueError("bad batch")
    """)
    assert result.returncode == 1
    record = only_run(lab)
    assert record.status == "failed" and record.reason == "ValueError: bad batch"
    (page,) = result_pages(lab, record.id)
    assert page.data["status"] == "failed" and "ValueError: bad batch" in page.body


def test_a_keyboard_interrupt_kills_the_run_with_a_reason_and_a_page(tmp_path, lab):
    script = tmp_path / "loop.py"
    script.write_text(LOOP)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=script_env(lab),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().split()[1]
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    with open_lab(lab) as opened:
        record = opened.runs.get(run_id)
    assert record.status == "killed"
    assert record.reason == "interrupted (SIGINT / KeyboardInterrupt)"
    (page,) = result_pages(lab, run_id)
    assert page.data["status"] == "killed" and "interrupted" in page.body


def test_sigterm_kills_the_run_with_a_reason_and_a_page_then_ends_the_process(tmp_path, lab):
    script = tmp_path / "loop.py"
    script.write_text(LOOP)
    proc = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path, env=script_env(lab),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().split()[1]
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGTERM  # the signal is let through after the finish
    with open_lab(lab) as opened:
        record = opened.runs.get(run_id)
    assert record.status == "killed" and record.reason == "terminated by SIGTERM"
    (page,) = result_pages(lab, run_id)
    assert page.data["status"] == "killed" and "SIGTERM" in page.body

def test_a_second_sigterm_during_the_finish_waits_for_it(tmp_path, lab):
    """A dying launcher's PDEATHSIG can arrive more than once: the run still ends killed,
    with its page, instead of the second signal cutting the first finish short."""
    proc = run_script(tmp_path, lab, """
        import os, signal
        import stepstone

        run = stepstone.init(project="p")
        run.log({"loss": 1.0})
        finish = run.finish

        def finish_while_signalled(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGTERM)  # handled inside this finish
            finish(*args, **kwargs)

        run.finish = finish_while_signalled
        os.kill(os.getpid(), signal.SIGTERM)
    """)
    assert proc.returncode == -signal.SIGTERM, proc.stderr
    record = only_run(lab)
    assert record.status == "killed" and record.reason == "terminated by SIGTERM"
    assert len(result_pages(lab, record.id)) == 1



@pytest.mark.parametrize("exit_code, status", [(0, "finished"), (3, "failed")])
def test_a_run_launched_by_stepstone_run_gets_exactly_one_page(tmp_path, lab, exit_code, status):
    # the script's own finish() says "finished"; the launcher, which writes the page, has the
    # last word once the process has exited (with exit code 3: failed)
    (tmp_path / "train.py").write_text(textwrap.dedent(f"""
        import sys
        import stepstone
        run = stepstone.init(project="p", config={{"steps": 3}})
        for i in range(run.config["steps"]):
            run.log({{"loss": 1.0 / (i + 1)}})
        run.finish()
        sys.exit({exit_code})
    """))
    result = subprocess.run(
        [sys.executable, "-m", "stepstone", "run", "--name", "launched", "--", sys.executable,
         "train.py"], cwd=tmp_path, env=script_env(lab), capture_output=True, text=True,
        timeout=120)
    assert result.returncode == exit_code, result.stderr
    record = only_run(lab)
    assert record.status == status and record.summary["loss"] == pytest.approx(1 / 3)
    with open_lab(lab) as opened:
        pages = opened.notebook.pages(kind="result")
    assert [(p.run_id, p.data["status"]) for p in pages] == [(record.id, status)]


def test_a_failing_page_write_warns_and_keeps_the_run(lab, monkeypatch, capsys):
    from stepstone.method import result_page

    def broken(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(result_page, "record_run_result", broken)
    run = stepstone.init(project="p", lab=lab)
    run.log({"loss": 1.0})
    run.finish()
    assert "could not write its result page in the notebook: OSError: disk full" in (
        capsys.readouterr().err)
    record = only_run(lab)
    assert record.status == "finished" and record.summary["loss"] == 1.0
    assert result_pages(lab, run.id) == []


def test_the_page_is_written_by_the_function_the_sdk_was_handed(lab, monkeypatch):
    from stepstone.method.result_page import record_run_result
    from stepstone.sdk import hooks

    assert hooks.result_page() is record_run_result  # what `import stepstone` hands the SDK
    written = []
    monkeypatch.setattr(hooks, "_result_page", lambda: lambda lab, run_id: written.append(run_id))
    run = stepstone.init(project="p", lab=lab)
    run.finish()
    assert written == [run.id] and result_pages(lab, run.id) == []
    monkeypatch.setattr(hooks, "_result_page", None)  # nothing handed: no page, no error
    quiet = stepstone.init(project="p", lab=lab)
    quiet.finish()
    assert result_pages(lab, quiet.id) == []


def test_the_sdk_alone_imports_nothing_of_the_method() -> None:
    code = textwrap.dedent("""
        import pkgutil, sys
        import stepstone.sdk
        for module in pkgutil.iter_modules(stepstone.sdk.__path__):
            __import__(f"stepstone.sdk.{module.name}")
        print(sorted(m for m in sys.modules if m.startswith("stepstone.method")))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    assert out.stdout.strip() == "[]"


def test_a_seed_set_in_the_config_after_init_is_recorded(lab):
    run = stepstone.init(project="p", lab=lab, config={"lr": 0.1})
    run.config.update({"seed": 17})
    run.finish()
    assert only_run(lab).seed == 17


def test_the_seed_torch_reports_is_recorded_when_the_config_has_none(tmp_path, lab):
    pytest.importorskip("torch")
    result = run_script(tmp_path, lab, """
        import stepstone
        import torch
        run = stepstone.init(project="p", config={"lr": 0.1})
        torch.manual_seed(1234)
        run.log({"x": float(torch.rand(1))})
        run.finish()
    """)
    assert result.returncode == 0, result.stderr
    assert only_run(lab).seed == 1234


def test_the_config_seed_wins_over_torch_and_a_seed_too_large_to_store_is_left_out(
    tmp_path, lab,
):
    pytest.importorskip("torch")
    result = run_script(tmp_path, lab, """
        import stepstone
        import torch
        torch.manual_seed(99)
        stepstone.init(project="p", name="cfg", config={"seed": 5}).finish()
        stepstone.init(project="p", name="huge", config={"seed": 2**64}).finish()
    """)
    assert result.returncode == 0, result.stderr
    with open_lab(lab) as opened:
        seeds = {r.name: r.seed for r in opened.runs.list()}
    # 2**64 does not fit the store, and torch's seed is not the one the config names
    assert seeds == {"cfg": 5, "huge": None}


def test_a_flush_is_answered_by_one_write_of_the_writer(lab):
    """``flush()`` (and so a short run's ``finish()``) waits for the one write that drains
    what came before it, not for a second cycle of the writer."""
    run = stepstone.init(project="p", lab=lab, flush_interval=60, save_code=False,
                         system_metrics=False)
    writer = run._writer
    assert writer is not None
    run.log({"loss": 1.0})
    run.flush()
    before = writer._seq
    for step in range(3):
        run.log({"loss": 0.5}, step=step + 1)
        run.flush()
    assert writer._seq - before == 3  # one numbered write per flush
    with open_lab(lab) as opened:
        assert opened.metrics.history(run.id)["loss"].steps == [0, 1, 2, 3]
    run.finish()
