"""What the launch tests share: wait for a file a hanging rung writes, run a launch in a
thread, tell whether a process has ended, and know when an executor has acted on a cancel."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


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
