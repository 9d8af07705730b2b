"""Ctrl-C while a launcher waits on its command ends the run `killed` ("interrupted
(Ctrl-C)") and stops the command, wherever in the wait it lands: the heartbeat's write
included; and a command started from a thread that blocks SIGINT (a Ray worker's) can still
be stopped by it."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import pytest

from _launch_helpers import gone
from stepstone.launch import process
from stepstone.launch.process import LaunchSpec, run_attached
from stepstone.store import open_lab

COMMAND = """\
import os, signal, time
signal.signal(signal.SIGINT, signal.default_int_handler)  # whatever it inherited
with open("command.pid", "w") as fh:
    fh.write(str(os.getpid()))
for _ in range(600):
    time.sleep(0.1)
"""


def test_ctrl_c_during_the_heartbeat_ends_the_run_killed(lab: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The interrupt is a real SIGINT to this process, sent as the launcher writes the run's
    heartbeat (the test picks that moment; a short heartbeat brings it soon)."""
    (tmp_path / "command.py").write_text(COMMAND)
    pid_file = tmp_path / "command.pid"
    monkeypatch.setattr(process, "HEARTBEAT_SECONDS", 0.05)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    with open_lab(lab) as opened:
        write = opened.runs.update
        sent: list[int] = []

        def update(run_id, **fields):
            if set(fields) == {"heartbeat_at"} and pid_file.exists() and not sent:
                sent.append(1)
                signal.raise_signal(signal.SIGINT)  # lands here, in the heartbeat's write
            return write(run_id, **fields)

        monkeypatch.setattr(opened.runs, "update", update)
        try:
            record = run_attached(opened, LaunchSpec([sys.executable, "command.py"],
                                                     project="t", cwd=str(tmp_path)),
                                  echo=False)
        except KeyboardInterrupt:
            pytest.fail("the interrupt escaped the launcher, the run's end unrecorded")
        finally:
            signal.signal(signal.SIGINT, previous)
            if pid_file.exists() and not gone(int(pid_file.read_text())):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
        assert sent
        assert (record.status, record.reason) == ("killed", "interrupted (Ctrl-C)")
        assert opened.runs.get(record.id).status == "killed"
    assert gone(int(pid_file.read_text())), "the command outlived the interrupt"


MASK = """\
for line in open("/proc/self/status"):
    if line.startswith("SigBlk:"):
        open("blocked.txt", "w").write(line.split()[1])
"""


def test_a_command_started_where_sigint_is_blocked_can_be_stopped_by_it(
        lab: Path, tmp_path: Path) -> None:
    """The launching thread blocks SIGINT and SIGTERM, as a Ray worker's does: the command
    starts with them deliverable (a cancel's forwarded stop reaches it), and the thread's
    own mask is as it was."""
    (tmp_path / "mask.py").write_text(MASK)
    stops = {signal.SIGINT, signal.SIGTERM}
    seen: dict[str, object] = {}

    def launch() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, stops)
        with open_lab(lab) as opened:
            seen["record"] = run_attached(opened, LaunchSpec(
                [sys.executable, "mask.py"], project="t", cwd=str(tmp_path)), echo=False)
        seen["after"] = signal.pthread_sigmask(signal.SIG_BLOCK, [])

    thread = threading.Thread(target=launch)
    thread.start()
    thread.join(120)
    assert seen["record"].status == "finished"  # type: ignore[attr-defined]
    blocked = int((tmp_path / "blocked.txt").read_text(), 16)
    assert not blocked & (1 << (signal.SIGINT - 1) | 1 << (signal.SIGTERM - 1)), hex(blocked)
    assert stops <= seen["after"]  # type: ignore[operator]
