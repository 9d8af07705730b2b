"""No data is lost: not on SIGKILL, not with many writers, not on a read-only or full disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from stepstone.store import init_lab, open_lab


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "STEPSTONE_LAB": str(root), "PYTHONUNBUFFERED": "1"}


def test_sigkill_keeps_flushed_points_and_shows_crashed(tmp_path):
    root = init_lab(tmp_path)
    script = tmp_path / "slow.py"
    script.write_text(textwrap.dedent("""
        import time, stepstone
        run = stepstone.init(project="kill", id="killme01", flush_interval=0.2)
        for step in range(100000):
            run.log({"x": float(step)})
            print(step, flush=True)
            time.sleep(0.01)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], env=_env(root),
                            stdout=subprocess.PIPE, text=True)
    last = -1
    assert proc.stdout is not None
    for line in proc.stdout:
        last = int(line)
        if last >= 150:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with open_lab(root) as lab:
        assert lab.runs.get("killme01").status == "running"  # until someone looks
        assert lab.runs.reap_crashed() == ["killme01"]
        record = lab.runs.get("killme01")
        series = lab.metrics.history("killme01")["x"]
    assert record.status == "crashed" and "died" in record.reason
    assert series.steps == list(range(len(series.steps)))  # a prefix, nothing missing inside
    # at most one flush interval (0.2 s, ~20 points) plus scheduling slack is lost
    assert series.steps[-1] >= last - 60


def test_eight_processes_logging_at_once_lose_nothing(tmp_path):
    root = init_lab(tmp_path)
    script = tmp_path / "many.py"
    script.write_text(textwrap.dedent("""
        import sys, stepstone
        worker = int(sys.argv[1])
        run = stepstone.init(project="many", id=f"worker{worker:02d}", flush_interval=0.05)
        for step in range(20000):
            run.log({f"k{j}": float(step) for j in range(5)})
        run.finish()
    """))
    procs = [subprocess.Popen([sys.executable, str(script), str(i)], env=_env(root),
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    errors = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, errors
    assert not any("lock" in e.lower() for e in errors), errors
    with open_lab(root) as lab:
        for i in range(8):
            run_id = f"worker{i:02d}"
            assert lab.runs.get(run_id).status == "finished"
            assert lab.metrics.count(run_id) == 20000 * 5
            assert lab.metrics.history(run_id, ["k3"])["k3"].steps == list(range(20000))


def test_full_disk_warns_and_training_goes_on(tmp_path):
    root = init_lab(tmp_path)
    script = tmp_path / "full.py"
    script.write_text(textwrap.dedent("""
        import resource, signal, stepstone
        run = stepstone.init(project="full", id="fulldisk", flush_interval=0.05)
        run.flush()
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        limit = 256 * 1024  # no file may grow past this: the 'disk' is full
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        for step in range(200000):
            run.log({"x": float(step), "y": 1.0})
        run.finish()
        print("training finished")
    """))
    result = subprocess.run([sys.executable, str(script)], env=_env(root), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "training finished" in result.stdout
    assert "full" in result.stderr and "keeps retrying" in result.stderr
    assert "Traceback" not in result.stderr


def _make_read_only(paths: list[Path], undo: bool = False) -> None:
    """chmod for ordinary users; root ignores modes, so root sets the immutable flag."""
    for path in paths:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i" if undo else "+i", str(path)], check=True)
        else:
            os.chmod(path, (0o755 if path.is_dir() else 0o644) if undo else
                     (0o555 if path.is_dir() else 0o444))


def test_read_only_lab_gives_a_clear_error_and_training_goes_on():
    base = Path(tempfile.mkdtemp(prefix="stepstone-ro-"))
    try:
        os.chmod(base, 0o755)
        root = init_lab(base)
        script = base / "ro.py"
        script.write_text(textwrap.dedent("""
            import stepstone
            run = stepstone.init(project="ro")
            for step in range(100):
                run.log({"x": float(step)})
            run.finish()
            print("training finished")
        """))
        locked = [p for p in root.iterdir() if p.is_file()] + [root / "objects", root]
        _make_read_only(locked)
        try:
            result = subprocess.run([sys.executable, str(script)], env=_env(root),
                                    capture_output=True, text=True, timeout=120, cwd=base)
        finally:
            _make_read_only(locked, undo=True)
        assert result.returncode == 0, result.stderr
        assert "training finished" in result.stdout
        assert "read-only" in result.stderr and "NOT being recorded" in result.stderr
        assert "Traceback" not in result.stderr
        with open_lab(root) as lab:
            assert lab.runs.list() == []  # and nothing half-written
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_durable_within_one_flush_interval(tmp_path):
    import stepstone

    root = init_lab(tmp_path)
    run = stepstone.init(project="d", lab=root, flush_interval=0.2)
    run.log({"x": 1.0})
    deadline = time.time() + 5
    count = 0
    while time.time() < deadline:
        with open_lab(root) as lab:
            count = lab.metrics.count(run.id)
        if count:
            break
        time.sleep(0.05)
    run.finish()
    assert count == 1


# -- issue 17, defect 11: terminal escapes in names and notes are shown, not obeyed ------------
_ESCAPES = ("\x1b]52;c;cm0gLXJmIH4K\x07"  # OSC 52: write the clipboard
            "\x1b[2J\x1b[31m"  # clear the screen, red
            "\x1b]8;;https://evil.invalid/\x1b\\link\x1b]8;;\x1b\\"  # OSC 8 hyperlink
            "\rover\u202egnp.exe\x9b0m")  # carriage return, a bidi override, a C1 CSI


def test_terminal_escapes_are_neutralised_in_every_cli_output(lab: Path) -> None:
    import stepstone
    from _cli import cli
    from stepstone.method import notebook as notebook_rules
    from stepstone.store import open_lab

    run = stepstone.init(project="p" + _ESCAPES, name="n" + _ESCAPES, notes=_ESCAPES,
                         config={"k" + _ESCAPES: _ESCAPES}, tags=["t" + _ESCAPES],
                         lab=str(lab), save_code=False)
    run.log({"loss": 1.0})
    run.summary["s" + _ESCAPES] = _ESCAPES
    run.finish(exit_code=1)
    with open_lab(lab) as opened:
        opened.runs.update(run.id, reason="r" + _ESCAPES)
        notebook_rules.note(opened, "title" + _ESCAPES + "\nbody" + _ESCAPES)
    rich_markup = "[link=https://evil.invalid/]click[/link]"
    with open_lab(lab) as opened:
        opened.runs.create({"id": "markup01", "name": rich_markup, "project": "p",
                            "status": "finished", "created_at": 0.0})
    outputs = {}
    for args in (("runs",), ("status",), ("show", run.id), ("notebook",)):
        code, out, err = cli(lab, *args)
        assert code == 0, err
        outputs[args[0]] = out + err
    for name, text in outputs.items():
        assert not any(c in text for c in "\x1b\x07\x9b\r\u202e"), name
    assert "\\x1b]52;c;" in outputs["show"] and "\\u202e" in outputs["notebook"]
    assert rich_markup in outputs["runs"]  # shown as written, not made a link


def test_terminal_escapes_are_neutralised_in_every_read_command(lab: Path) -> None:
    """Names, notes, titles, reasons and config values with escapes in them, through every
    read command: text and error output shows them escaped; ``--json`` carries them exact."""
    import json

    import stepstone
    from _cli import cli
    from stepstone.store import open_lab

    (lab.parent / "base.yaml").write_text(
        'lr: 0.001\nnote: "\\e]52;c;cm0gLXJmIH4K\\a\\e[2J"\n', encoding="utf-8")
    assert cli(lab, "baseline", "create", "small", "--config", str(lab.parent / "base.yaml"),
               "--metric", "val_loss")[0] == 0
    code, out, err = cli(lab, "idea", "add", "i" + _ESCAPES, "--source", _ESCAPES, "--json")
    assert code == 0, err
    idea = json.loads(out)["id"]
    code, out, err = cli(lab, "question", "new", "q" + _ESCAPES, "--metric", "val_loss",
                         "--rule", "val_loss <= baseline - 0.01", "--baseline", "small",
                         "--json")
    assert code == 0, err
    question = json.loads(out)["id"]
    runs = []
    for seed in (0, 1):
        run = stepstone.init(project="p", name=f"n{seed}" + _ESCAPES, notes=_ESCAPES,
                             config={"seed": seed, "act" + _ESCAPES: _ESCAPES},
                             question=question, lab=str(lab), save_code=False)
        run.log({"val_loss": 1.0 + seed})
        run.summary.update({"val_loss": 1.0 + seed, "latency": 2.0})
        run.finish()
        runs.append(run.id)
    with open_lab(lab) as opened:
        opened.runs.update(runs[1], reason="r" + _ESCAPES)
    commands = [
        ("runs",), ("status",), ("show", runs[1]), ("digest", runs[1]), ("notebook",),
        ("compare", *runs), ("compare", runs[0], "nope" + _ESCAPES),
        ("decide", question), ("question", "list"), ("question", "show", question),
        ("idea", "list"), ("idea", "show", idea), ("idea", "show", "x" + _ESCAPES),
        ("baseline", "list"), ("baseline", "show", "small"), ("baseline", "history", "small"),
        ("pareto", "--quality", "val_loss", "--cost", "latency"), ("fit",),
        ("gain", "--baseline", "small"), ("stratify", runs[0]),
        ("report", question, "--out", str(lab.parent / "report")),
        ("runs", "--status", "x" + _ESCAPES), ("show", "x" + _ESCAPES),
    ]
    for args in commands:
        code, out, err = cli(lab, *args)
        assert not any(c in out + err for c in "\x1b\x07\x9b\r\u202e"), (args, out + err)
        assert "unexpected" not in err, (args, err)
    for args in (("show", runs[1]), ("idea", "show", idea), ("question", "show", question),
                 ("baseline", "show", "small")):
        code, out, err = cli(lab, *args, "--json")
        assert code == 0 and "\x1b" not in out, (args, err)
        assert "\x1b]52;c;" in _strings(json.loads(out)), args  # the exact text


def _strings(value: object) -> str:
    """Every string in a JSON value, joined."""
    if isinstance(value, dict):
        return " ".join(_strings(k) + " " + _strings(v) for k, v in value.items())
    if isinstance(value, list):
        return " ".join(_strings(v) for v in value)
    return value if isinstance(value, str) else ""
