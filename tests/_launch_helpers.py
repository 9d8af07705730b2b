"""What the launch tests share: wait for a file a hanging rung writes, run a launch in a
thread, tell whether a process has ended, know when an executor has acted on a cancel, and
the end of a training script that lingers after ``finish()`` with the check that a cancel
leaves such a rung alone (on Slurm and Ray)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from _cli import cli
from stepstone.launch.plan import plan_ladder
from stepstone.launch.runner import launch_plan, plan_state
from stepstone.store import open_lab

LINGERING_END = """\
stepstone.summary["final_loss"] = 1.0 / (width * 3)
linger = stepstone.config.get("linger")
stepstone.finish()
if linger and width == linger["width"]:  # finished, slow to exit: signals are noted
    import signal

    def note(signum, frame):
        with open(linger["file"] + ".signals", "a") as fh:
            print(signum, file=fh)

    signal.signal(signal.SIGINT, note)
    signal.signal(signal.SIGTERM, note)
    with open(linger["file"] + ".pid", "w") as fh:
        fh.write(str(os.getpid()))
    while os.path.exists(linger["file"]):
        time.sleep(0.1)
    for signum in signal.sigpending():  # blocked where it runs (a Ray worker blocks SIGINT)
        note(signum, None)
    print("exited in its own time")
"""
"""The end of a training script (``width`` set, ``os``, ``time`` and ``stepstone`` imported):
the rung whose width is the config's ``linger.width`` stays alive after ``finish()`` until
the file ``linger.file`` is gone, noting the signals it gets."""


def wait_for(path: Path, timeout: float = 60.0) -> int:
    """The pid a hanging rung writes to ``path``, once it is there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.1)
    raise AssertionError(f"{path} never appeared")


def in_thread(target, *args):
    """Start ``target(*args)`` in a thread; its result or exception lands in ``out``."""
    out: dict[str, object] = {}

    def work():
        try:
            out["result"] = target(*args)
        except BaseException as exc:  # surfaced by the test
            out["error"] = exc

    thread = threading.Thread(target=work)
    thread.start()
    return thread, out


def gone(pid: int) -> bool:
    """Whether a process has ended (a zombie nobody reaped yet counts as ended)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] == "Z"
    except (ProcessLookupError, FileNotFoundError):
        return True


class CancelPasses:
    """An executor that counts the passes of its wait loop (its :class:`Watch` ticks) made
    after it saw the plan cancelled: once :meth:`wait` sees ``n`` of them (``n`` >= 2), its
    cancel of the jobs went out a whole poll before (a test's order of events, not a timing)."""

    def __init__(self, executor):
        self.executor = executor
        self.count = 0
        self._changed = threading.Condition()

    def __call__(self, jobs, watch):
        tick = watch.tick

        def counted(force=False):
            tick(force)
            if watch.cancelled():
                with self._changed:
                    self.count += 1
                    self._changed.notify_all()

        watch.tick = counted
        self.executor(jobs, watch)

    def wait(self, n: int, timeout: float = 60.0) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.count >= n, timeout):
                raise AssertionError(f"the executor made {self.count} passes after the cancel")


def check_a_cancel_leaves_a_finished_rung_alone(tmp_path: Path, lab: Path, train: str,
                                                 executor) -> None:
    """A rung finished and its command is still exiting (it lingers after
    ``stepstone.finish()``) when the plan is cancelled: its job is not signalled, and once the
    test lets it exit the run is finished with its result, its whole output log and its
    result page; the running rung is stopped. ``train`` ends with :data:`LINGERING_END`."""
    (tmp_path / "train.py").write_text(train)
    hang, linger = tmp_path / "hang", tmp_path / "linger"
    hang.write_text("")
    linger.write_text("")
    plan = plan_ladder({"model": {"width": 1}, "hang": {"file": str(hang), "width": 5},
                        "linger": {"file": str(linger), "width": 2}},
                       [sys.executable, "train.py"],
                       rungs=[["model.width=2"], ["model.width=5"]], cwd=str(tmp_path))
    counted = CancelPasses(executor)
    try:
        with open_lab(lab) as opened:
            thread, out = in_thread(launch_plan, opened, plan, counted)
            pid = wait_for(tmp_path / "hang.pid")
            wait_for(tmp_path / "linger.pid")
            assert plan_state(opened, plan.id)[0].status == "finished"  # only one is left
            code, text, err = cli(lab, "cancel", plan.id, "--reason", "wrong lr", "--json")
            assert code == 0, err
            counted.wait(3)  # the executor's cancel went out while the rung lingered
            linger.unlink()
            thread.join(120)
            assert not thread.is_alive() and "error" not in out, out
            assert out["result"].status == "cancelled"
            other, hung = plan_state(opened, plan.id)
            assert (hung.status, hung.reason) == ("killed", "cancelled: wrong lr")
            assert json.loads(text)["stopped"] == [hung.run_id]
            assert gone(pid), "the training command outlived the cancel"
            assert not (tmp_path / "linger.signals").exists(), "the finished rung was signalled"
            assert (other.status, other.reason) == ("finished", None)
            assert opened.runs.summary(str(other.run_id))["final_loss"] == pytest.approx(1 / 6)
            assert b"exited in its own time" in opened.run_object(str(other.run_id), "log",
                                                                  "output.log")
            (page,) = opened.notebook.pages(kind="result", run_id=str(other.run_id))
            assert "finished" in page.title, page.title
    finally:
        hang.unlink(missing_ok=True)  # a command a broken cancel left behind ends
        linger.unlink(missing_ok=True)
