"""Run any command as a recorded run.

The launcher makes the run, captures code, git and environment, starts the
command with ``STEPSTONE_RUN_ID`` and ``STEPSTONE_LAB`` set (so a script that
calls ``stepstone.init()`` attaches to this run instead of making another),
copies its output to the terminal and to the run's log, keeps the heartbeat
going, samples the command's system metrics (``stepstone.sdk.system``), and records exit
code, duration and the reason it stopped, then writes the run's result page in the
notebook: every run a launcher finishes gets it here, once (``stepstone run``, the smoke
run, and every planned run on the local pool, Ray or Slurm; the script's own
``stepstone.init()`` attaches to the run and leaves the page to its launcher).

The command cannot outlive its launcher: on Linux it asks the kernel for SIGTERM when
the launcher dies (``PR_SET_PDEATHSIG``), so a launcher killed with SIGKILL (the OOM
killer, a lost job) takes its command with it, and a script that called
``stepstone.init()`` marks the run killed. A run no terminal drives (a planned run)
also gets a process group of its own and no stdin, and signals reach the whole group.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from stepstone.errors import UsageError
from stepstone.method.result_page import record_run_result
from stepstone.sdk.capture import capture_all, module_dir
from stepstone.sdk.run import config_seed
from stepstone.sdk.session import new_run_id, new_run_name
from stepstone.sdk.system import LAUNCHER_ENV, sample_process, sampling_interval
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord, this_host

HEARTBEAT_SECONDS = 5.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass
class LaunchSpec:
    """What to run and how to record it."""

    command: Sequence[str]
    project: str = "default"
    name: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    tags: Sequence[str] = ()
    kind: str = "adhoc"
    question_id: str | None = None
    baseline: str | None = None
    config_delta: Mapping[str, Any] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    run_id: str | None = None


def create_run(lab: Lab, spec: LaunchSpec) -> str:
    """Make the run row for ``spec`` (status running, owned by this process)."""
    if not spec.command:
        raise UsageError("nothing to run: give the command after --, e.g. "
                         "`stepstone run -- python train.py`")
    run_id = spec.run_id or new_run_id()
    now = time.time()
    lab.runs.create({
        "id": run_id, "name": spec.name or new_run_name(run_id), "project": spec.project,
        "kind": spec.kind, "tags": list(spec.tags), "status": "running", "created_at": now,
        "heartbeat_at": now, "pid": os.getpid(), "host": this_host(),
        "command": list(spec.command), "cwd": spec.cwd or os.getcwd(),
        "question_id": spec.question_id, "baseline": spec.baseline,
        "config_delta": dict(spec.config_delta) if spec.config_delta is not None else None,
        "seed": config_seed(spec.config),
    }, spec.config)
    return run_id


def _code_folder(spec: LaunchSpec) -> Path:
    """Where the launched code lives: the script's folder for `python x.py`, the module's for
    `python -m pkg.mod` (as the script itself records it), else the cwd."""
    cwd = Path(spec.cwd or os.getcwd())
    for i, arg in enumerate(spec.command[1:3], start=1):
        if arg.endswith(".py") and (cwd / arg).is_file():
            return (cwd / arg).resolve().parent
        if arg == "-m" and i + 1 < len(spec.command):
            return module_dir(spec.command[i + 1], cwd) or cwd
    return cwd


def _pump(source: IO[bytes], sink: Any, chunks: list[bytes], lock: threading.Lock) -> None:
    for line in iter(source.readline, b""):
        with lock:
            chunks.append(line)
        if sink is not None:
            sink.buffer.write(line)
            sink.flush()
    source.close()


def _prctl() -> Any:
    """libc's ``prctl`` on Linux (None elsewhere), looked up before any fork."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _death_signal() -> Callable[[], None] | None:
    """What the command's process does between fork and exec: ask for SIGTERM when the
    launcher dies. Only from a launcher with one thread: code after fork is unsafe beside
    other threads, and the kernel sends the signal when the forking *thread* ends (in a Ray
    worker, with its many threads, the command is stopped by the executor instead)."""
    prctl = _prctl()
    if prctl is None or threading.active_count() > 1:
        return None
    parent = os.getpid()

    def setup() -> None:
        prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the launcher died before the request took hold
            os._exit(128 + int(signal.SIGTERM))

    return setup


@contextmanager
def _stops_unblocked() -> Iterator[None]:
    """Start the command with SIGINT and SIGTERM deliverable. A child inherits its forking
    thread's signal mask, and some hosts block them in the thread that launches (a Ray
    worker blocks SIGINT): the command would then never see the stop a cancel forwards."""
    stops = {signal.SIGINT, signal.SIGTERM} & signal.pthread_sigmask(signal.SIG_BLOCK, [])
    if stops:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stops)
    try:
        yield
    finally:
        if stops:
            signal.pthread_sigmask(signal.SIG_BLOCK, stops)


def run_attached(lab: Lab, spec: LaunchSpec, *, echo: bool = True,
                 own_group: bool = False) -> RunRecord:
    """Launch ``spec.command`` as a run, wait for it, write its result page in the notebook,
    and return the finished record. A command that cannot start raises UsageError (its run
    is recorded failed, with no page).

    ``own_group`` starts the command in a process group of its own with no stdin (for
    runs no terminal drives): a forwarded SIGTERM or SIGINT then reaches everything it
    started. Without it the command shares the terminal (Ctrl-C, a debugger's prompt).
    """
    interval = sampling_interval(environ={**os.environ, **spec.env})  # a bad one: before the run
    run_id = create_run(lab, spec)
    cap = capture_all(lab.objects, folder=_code_folder(spec), cwd=Path(spec.cwd or os.getcwd()))

    def record_capture() -> None:
        lab.object_index.add(run_id, cap.objects)
        lab.runs.write_fields(run_id, cap.fields)

    lab.db.atomic(record_capture)  # again after a deadlock with a run storing the same blobs
    env = {**os.environ, **spec.env, "STEPSTONE_RUN_ID": run_id,
           "STEPSTONE_LAB": lab.target.location, LAUNCHER_ENV: "1"}
    started = time.time()
    try:
        with _stops_unblocked():
            proc = subprocess.Popen(list(spec.command), cwd=spec.cwd, env=env,
                                    stdin=subprocess.DEVNULL if own_group else None,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=own_group, preexec_fn=_death_signal())
    except OSError as exc:
        lab.runs.update(run_id, status="failed", reason=f"could not start: {exc.strerror}",
                        ended_at=time.time(), exit_code=127)
        raise UsageError(f"cannot run {spec.command[0]!r}: {exc.strerror}") from exc
    chunks: list[bytes] = []
    lock = threading.Lock()
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, sys.stdout if echo else None, chunks,
                                             lock), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, sys.stderr if echo else None, chunks,
                                             lock), daemon=True),
    ]
    for pump in pumps:
        pump.start()
    stop_sampling = sample_process(lab.target.database, run_id, proc.pid, interval)
    interrupted: str | None = None
    send = _sender(proc, own_group)
    watcher = _watch(lab, run_id, spec, send)
    previous = _forward_sigterm(send)
    try:
        while True:
            try:  # an interrupt anywhere in the wait, the heartbeat's write included
                try:
                    code = proc.wait(timeout=HEARTBEAT_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    lab.runs.update(run_id, heartbeat_at=time.time())
            except KeyboardInterrupt:
                interrupted = "interrupted (Ctrl-C)"
                send(signal.SIGINT)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        stop_sampling()
    for pump in pumps:
        pump.join(timeout=10)
    if watcher is not None:
        watcher.close()
    _record_end(lab, run_id, code, started, b"".join(chunks), interrupted)
    if watcher is not None and watcher.stopped_by is not None:  # the script's own end says less
        lab.runs.update(run_id, status="killed", reason=watcher.stopped_by)
    record_run_result(lab, run_id)
    return lab.runs.get(run_id)


def _watch(lab: Lab, run_id: str, spec: LaunchSpec, send: Callable[[int], None]) -> Any:
    """The health monitor's watcher of the run, when ``spec.env`` asks for one (None else)."""
    if not spec.env.get("STEPSTONE_MONITOR"):
        return None
    from stepstone.launch.monitor import MonitorSpec, Watcher  # the detectors load numpy

    monitor = MonitorSpec.from_env(dict(spec.env))
    if monitor is None:
        return None
    watcher = Watcher(lab.target, run_id, monitor, lambda: send(signal.SIGTERM))
    watcher.start()
    return watcher


def _sender(proc: subprocess.Popen[bytes], own_group: bool) -> Callable[[int], None]:
    """Send a signal to the command: to its whole process group when it leads one."""

    def send(signum: int) -> None:
        try:
            if own_group:
                os.killpg(proc.pid, signum)
            else:
                proc.send_signal(signum)
        except ProcessLookupError:  # it ended already
            pass

    return send


def _forward_sigterm(send: Callable[[int], None]) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None

    def forward(signum: int, frame: Any) -> None:
        send(signal.SIGTERM)

    return signal.signal(signal.SIGTERM, forward)


def _record_end(lab: Lab, run_id: str, code: int, started: float, output: bytes,
                interrupted: str | None) -> None:
    if output:
        digest = lab.put_object(output)
        lab.attach_object(run_id, "log", "output.log", digest)
    current = lab.runs.get(run_id)
    fields: dict[str, Any] = {"exit_code": code, "ended_at": time.time()}
    if current.status == "finished" and (code <= 0 or interrupted is not None):
        # its own finish() stands: a stop that reached the command after it (a cancel
        # racing its exit) ends nothing, the run had finished with its result
        fields.update(status="finished", reason=None)
    elif current.status == "killed" and current.reason:  # stopped on purpose (a cancel)
        fields.update(status="killed", reason=current.reason)
    elif code == 0 and interrupted is None:
        fields.update(status="finished", reason=None)
    elif code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else code
        fields.update(status="killed", reason=interrupted or f"killed by signal {name}")
    elif interrupted is not None:
        fields.update(status="killed", reason=interrupted)
    else:
        keep = current.status == "failed" and current.reason
        fields.update(status=current.status if keep else "failed",
                      reason=current.reason if keep else f"exit code {code}")
    if "duration_s" not in current.summary:
        lab.runs.set_summary(run_id, {"duration_s": fields["ended_at"] - started})
    lab.runs.update(run_id, **fields)
