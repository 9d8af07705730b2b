#!/usr/bin/env python
"""Reliability under real faults: what is lost or written twice, and when.

Every trial runs a training script in its own process against a real lab, then counts the
points in the store:

1. SIGKILL: a script logging about 1,000 points a second (the default 0.5 s flush interval)
   is killed at a random moment; points lost = last step the script logged - last step
   stored, the window = how long before the kill the last stored point was logged, and the
   stored steps must be an exact prefix (nothing missing inside);
2. writers x points: many processes log to one lab at once (SQLite, and PostgreSQL when
   ``--pg`` or ``STEPSTONE_TEST_PG`` names a server); lost and duplicated points;
3. lost COMMIT replies (PostgreSQL): a TCP proxy forwards the writer's COMMIT, then drops the
   connection instead of the server's reply, several times; duplicated points;
4. store outage through ``finish()`` (PostgreSQL): the proxy cuts the store off from the
   middle of the run to its end; points in the store after ``finish()``, then after
   ``stepstone sync`` of the spool (twice: the second adds nothing);
5. disk full through ``finish()``: the lab on a 16 MB tmpfs filled to the brim mid-run; points
   after ``stepstone sync`` of the spool, or, where no tmpfs can be mounted, a file-size limit
   and the loss the run reports.

    .venv/bin/python benchmarks/bench_reliability.py                 # print the table
    .venv/bin/python benchmarks/bench_reliability.py --write docs/benchmarks.md
    .venv/bin/python benchmarks/bench_reliability.py --quick         # fewer, smaller trials
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _report import command_line, machine, today, write_section  # noqa: E402

from _faults import Proxy, tiny_disk  # noqa: E402
from stepstone.cli import main as cli_main  # noqa: E402
from stepstone.store import init_lab, open_lab  # noqa: E402

SECTION = "reliability"

KILL_SCRIPT = """
import sys, time, stepstone
run = stepstone.init(project="kill", id=sys.argv[1], save_code=False)
step = 0
while True:
    run.log({"x": float(step)})
    sys.__stdout__.write(f"{step} {time.time()}\\n")
    sys.__stdout__.flush()
    step += 1
    time.sleep(0.001)
"""

WRITER_SCRIPT = """
import sys, stepstone
run = stepstone.init(project="many", id=sys.argv[1], flush_interval=0.1, save_code=False)
for step in range(int(sys.argv[2])):
    run.log({f"k{j}": float(step) for j in range(5)})
run.finish()
"""

PAUSED_SCRIPT = """
import sys, time, stepstone
calls, pause_at = int(sys.argv[2]), int(sys.argv[3])
run = stepstone.init(project="fault", id=sys.argv[1], flush_interval=0.05, save_code=False)
for step in range(calls):
    run.log({"x": float(step), "y": 1.0})
    if step == pause_at:
        run.flush()
        sys.__stdout__.write("paused\\n")
        sys.__stdout__.flush()
        sys.stdin.readline()  # the fault starts here
    if step % 500 == 0:
        time.sleep(0.02)
run.finish()
sys.__stdout__.write("finished\\n")
"""

DISK_SCRIPT = """
import resource, signal, sys, stepstone
from _faults import fill
calls, mode = int(sys.argv[2]), sys.argv[3]
run = stepstone.init(project="full", id=sys.argv[1], flush_interval=0.05, save_code=False)
half = calls // 2
for step in range(calls):
    run.log({"x": float(step), "y": 1.0})
    if step == half:
        run.flush()
        if mode == "rlimit":
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 18, 1 << 18))
        else:
            fill(mode)
run.finish()
sys.__stdout__.write("finished\\n")
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPSTONE_")}
    path = os.pathsep.join([str(HERE.parent / "src"), str(HERE.parent / "tests"),
                            env.get("PYTHONPATH", "")])
    return {**env, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path, **extra}


def _script(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


@contextlib.contextmanager
def _pg_schema(server: str) -> Iterator[str]:
    """A fresh schema on ``server`` for one experiment, dropped afterwards."""
    import psycopg

    schema = f"stepstone_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{server}{'&' if '?' in server else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _series(root: Path | str, run_id: str, key: str) -> tuple[int, int, list[int]]:
    """(points stored, distinct steps, steps) of one run's ``key``."""
    with open_lab(str(root)) as lab:
        series = lab.metrics.history(run_id, [key]).get(key)
    steps = list(series.steps) if series is not None else []
    return len(steps), len(set(steps)), steps


# -- 1. SIGKILL --------------------------------------------------------------------------------
def sigkill_trials(work: Path, trials: int) -> dict[str, Any]:
    root = init_lab(work / "kill")
    script = _script(work, "kill.py", KILL_SCRIPT)
    lost, windows, prefix = [], [], True
    rng = random.Random(17)
    for trial in range(trials):
        run_id = f"kill{trial:04d}"
        proc = subprocess.Popen([sys.executable, str(script), run_id], stdout=subprocess.PIPE,
                                text=True, env=_env(STEPSTONE_LAB=str(root)))
        assert proc.stdout is not None
        logged: dict[int, float] = {}
        kill_after = rng.uniform(1.0, 3.0)
        start = None
        for line in proc.stdout:
            step, ts = line.split()
            logged[int(step)] = float(ts)
            start = start or time.monotonic()
            if time.monotonic() - start > kill_after:
                break
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.time()
        proc.wait()
        with open_lab(root) as lab:
            lab.runs.reap_crashed()
            assert lab.runs.get(run_id).status == "crashed"
        _, _, steps = _series(root, run_id, "x")
        last = max(logged)
        stored = steps[-1] if steps else -1
        prefix = prefix and steps == list(range(len(steps)))
        lost.append(last - stored)
        windows.append(killed_at - logged.get(stored, min(logged.values())))
    return {"trials": trials, "lost_max": max(lost), "lost_median": statistics.median(lost),
            "window_max": max(windows), "window_median": statistics.median(windows),
            "prefix": prefix}


# -- 2. writers x points -----------------------------------------------------------------------
def many_writers(work: Path, lab: str, backend: str, writers: int, calls: int) -> dict[str, Any]:
    script = _script(work, "many.py", WRITER_SCRIPT)
    ids = [f"w{backend[:2]}{i:03d}" for i in range(writers)]
    start = time.monotonic()
    procs = [subprocess.Popen([sys.executable, str(script), run_id, str(calls)],
                              stderr=subprocess.PIPE, text=True, env=_env(STEPSTONE_LAB=lab))
             for run_id in ids]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    seconds = time.monotonic() - start
    stored = distinct = 0
    with open_lab(lab) as opened:
        for run_id in ids:
            stored += opened.metrics.count(run_id)
            for j in range(5):
                distinct += len(set(opened.metrics.history(run_id, [f"k{j}"])[f"k{j}"].steps))
    return {"fault": f"{writers} writers x {calls * 5:,} points at once", "backend": backend,
            "logged": writers * calls * 5, "stored": stored,
            "lost": writers * calls * 5 - distinct, "duplicated": stored - distinct,
            "note": (f"{seconds:.1f} s; exit codes {sorted({p.returncode for p in procs})}; "
                     f"lock errors: {sum('lock' in e.lower() for e in errors)}")}


# -- 3. lost COMMIT replies --------------------------------------------------------------------
def lost_commit_replies(work: Path, server: str, calls: int, drops: int) -> dict[str, Any]:
    with _pg_schema(server) as url:
        proxy = Proxy(url)
        try:
            root = init_lab(work / "commit", store=proxy.url)
            proc = _paused(work, "commit0001", calls, calls // 4, root)
            proxy.drop_commit_replies(drops)
            out, err = _resume(proc)
        finally:
            proxy.close()
        stored, distinct, _ = _series(url, "commit0001", "x")
    return {"fault": f"{proxy.dropped} COMMIT replies lost (the server committed)",
            "backend": "PostgreSQL", "logged": calls, "stored": stored,
            "lost": calls - distinct, "duplicated": stored - distinct,
            "note": _exit_note(proc, out, err)}


# -- 4. store outage through finish ------------------------------------------------------------
def outage_through_finish(work: Path, server: str, calls: int) -> dict[str, Any]:
    with _pg_schema(server) as url:
        proxy = Proxy(url)
        try:
            root = init_lab(work / "outage", store=proxy.url,
                            objects=str(work / "outage-objects"))
            proc = _paused(work, "outage001", calls, calls // 3, root,
                           XDG_DATA_HOME=str(work / "outage-data"))
            proxy.cut()
            began = time.monotonic()
            out, err = _resume(proc)
            finish_s = time.monotonic() - began
            proxy.heal()
            before, _, _ = _series(url, "outage001", "x")
            for _ in range(2):
                with contextlib.redirect_stdout(None):
                    cli_main(["sync", "--lab", str(root), "--to", str(root)])
        finally:
            proxy.close()
        stored, distinct, _ = _series(url, "outage001", "x")
    spooled = "stepstone sync --lab" in err
    return {"fault": "store cut off from a third of the run through finish()",
            "backend": "PostgreSQL", "logged": calls, "stored": stored,
            "lost": calls - distinct, "duplicated": stored - distinct,
            "note": (f"{before:,} in the store after finish(), {stored:,} after `sync` "
                     f"(run twice); spool named on stderr: {'yes' if spooled else 'NO'}; "
                     f"the rest of the run took {finish_s:.1f} s; {_exit_note(proc, out, err)}")}


# -- 5. disk full through finish ---------------------------------------------------------------
def disk_full_through_finish(work: Path, calls: int) -> dict[str, Any]:
    with tiny_disk(work / "disk", "16m") as disk:
        base = disk or work / "rlimit"
        root = init_lab(base)
        data = work / "disk-data"
        script = _script(work, "full.py", DISK_SCRIPT)
        mode = str(base) if disk is not None else "rlimit"
        result = subprocess.run([sys.executable, str(script), "full0001", str(calls), mode],
                                capture_output=True, text=True, timeout=600,
                                env=_env(STEPSTONE_LAB=str(root), XDG_DATA_HOME=str(data)))
        before, _, _ = _series(root, "full0001", "x") if disk is None else (0, 0, [])
        if disk is not None:
            (base / "filler").unlink()
            before, _, _ = _series(root, "full0001", "x")
            spool = next(data.glob("stepstone/spool/*/.stepstone"), None)
            if spool is not None:
                for _ in range(2):
                    with contextlib.redirect_stdout(None):
                        cli_main(["sync", "--lab", str(spool), "--to", str(root)])
        stored, distinct, _ = _series(root, "full0001", "x")
    reported = re.search(r"(\d+) logged points are lost", result.stderr)
    how = "16 MB tmpfs filled" if disk is not None else "RLIMIT_FSIZE 256 KiB (no tmpfs here)"
    note = (f"{how}; {before:,} in the lab after finish(), {stored:,} after `sync` (run twice)"
            if disk is not None else
            f"{how}; loss reported by the run: {reported.group(1) if reported else 'none'}")
    return {"fault": "disk full from half of the run through finish()", "backend": "SQLite",
            "logged": calls, "stored": stored, "lost": calls - distinct,
            "duplicated": stored - distinct,
            "note": f"{note}; {'says' if 'disk is full' in result.stderr else 'does NOT say'} "
                    f"\"disk is full\"; {_exit_note(result, result.stdout, result.stderr)}"}


def _paused(work: Path, run_id: str, calls: int, pause_at: int, root: Path,
            **extra: str) -> subprocess.Popen[str]:
    script = _script(work, "paused.py", PAUSED_SCRIPT)
    proc = subprocess.Popen([sys.executable, str(script), run_id, str(calls), str(pause_at)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(STEPSTONE_LAB=str(root), **extra))
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "paused":
        raise RuntimeError(f"the script did not start: {proc.communicate()[1]}")
    return proc


def _resume(proc: subprocess.Popen[str]) -> tuple[str, str]:
    assert proc.stdin is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    return proc.communicate(timeout=600)


def _exit_note(proc: Any, out: str, err: str) -> str:
    ok = proc.returncode == 0 and "finished" in out and "Traceback" not in err
    return "exit 0, no traceback" if ok else f"exit {proc.returncode}: {err.strip()[-300:]}"


# -- the report ---------------------------------------------------------------------------------
def render(kill: dict[str, Any], rows: list[dict[str, Any]], pg: bool, load: tuple[float, float],
           seconds: float) -> str:
    lines = [
        "## Reliability under real faults",
        "",
        f"Measured {today()} on {machine()}; load average {load[0]:.1f} before, "
        f"{load[1]:.1f} after (the machine is shared); {seconds:.0f} s in all. Reproduce: "
        f"`{command_line('benchmarks/bench_reliability.py')}`.",
        "",
        f"**SIGKILL** ({kill['trials']} trials, default 0.5 s flush interval, ~1,000 points/s): "
        f"points lost at most {kill['lost_max']} (median {kill['lost_median']:.0f}); the last "
        f"stored point was logged at most {kill['window_max']:.2f} s before the kill (median "
        f"{kill['window_median']:.2f} s); the stored steps are an exact prefix in "
        f"{'every trial' if kill['prefix'] else 'NOT every trial'}, and every killed run shows "
        "as crashed.",
        "",
        "| fault | backend | points logged | stored | lost | duplicated | notes |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['fault']} | {r['backend']} | {r['logged']:,} | {r['stored']:,} | "
                     f"{r['lost']:,} | {r['duplicated']:,} | {r['note']} |")
    if not pg:
        lines += ["", "PostgreSQL rows missing: no server was given (`--pg URL` or "
                  "`STEPSTONE_TEST_PG`)."]
    lines += [
        "",
        "The last three rows count the points of one series (`x`; each call logs `x` and `y`).",
        "",
        "A store outage or a full disk that lasts through `finish()` leaves the rest of the run "
        "in a spool lab (the team lab's offline lab, else one in the user's data folder), which "
        "`stepstone sync --lab SPOOL --to LAB` copies in; each flush carries its writer's "
        "number, claimed in its transaction, so a retried flush adds nothing "
        "(see [tracking.md](tracking.md)).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", metavar="FILE", help="replace the reliability section of FILE")
    parser.add_argument("--pg", default=os.environ.get("STEPSTONE_TEST_PG"),
                        help="a PostgreSQL server URL (default: $STEPSTONE_TEST_PG)")
    parser.add_argument("--quick", action="store_true", help="fewer, smaller trials")
    args = parser.parse_args()
    kills, writers, calls = (3, 4, 2_000) if args.quick else (10, 8, 20_000)
    load_before = os.getloadavg()[0]
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="stepstone-reliability-"))
    try:
        kill = sigkill_trials(work, kills)
        rows = [many_writers(work, str(init_lab(work / "many")), "SQLite", writers, calls)]
        if args.pg:
            with _pg_schema(args.pg) as url:
                pg_root = init_lab(work / "many-pg", store=url,
                                   objects=str(work / "many-pg-objects"))
                rows.append(many_writers(work, str(pg_root), "PostgreSQL", writers, calls))
            rows.append(lost_commit_replies(work, args.pg, calls * 2, 5))
            rows.append(outage_through_finish(work, args.pg, calls * 2))
        rows.append(disk_full_through_finish(work, calls * 2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = render(kill, rows, bool(args.pg), (load_before, os.getloadavg()[0]),
                  time.monotonic() - began)
    print(text)
    if args.write:
        write_section(args.write, SECTION, text)


if __name__ == "__main__":
    main()
