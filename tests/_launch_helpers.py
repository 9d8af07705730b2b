"""What the launch tests share: wait for a file a hanging rung writes, run a launch in a
thread, and tell whether a process has ended."""

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
