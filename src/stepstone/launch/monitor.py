"""Health monitors that act: a watcher beside a launched run, never on its training thread.

``stepstone run --monitor`` (and ``ladder``/``sweep``) hand the launcher a :class:`MonitorSpec`
(through the ``STEPSTONE_MONITOR`` variable, so that it reaches a ladder's rung wherever it
runs). While the command lives, a :class:`Watcher` thread reads the run's new points from the
lab every ``poll_seconds`` (what the run's writer flushed: ``log()`` is untouched) and feeds
the detectors of :mod:`stepstone.analysis.health`. Each firing:

- is recorded on the run (``run_alerts``: ``show``, ``digest``, ``status``, the dashboard) and
  as a notebook page about the run;
- runs ``on_alert``: a shell command (with ``STEPSTONE_ALERT``, ``STEPSTONE_ALERT_RUN``,
  ``STEPSTONE_ALERT_DETECTOR`` set and the alert as JSON on stdin), or, for an
  ``http(s)://`` URL, a webhook POST of that JSON;
- with ``stop``, stops the run (SIGTERM to its process) to free its machine: it ends killed,
  the reason saying which alert stopped it. Only a run still running is stopped: one whose
  script recorded its end (``finish()``) before the stop keeps it, with the alert recorded.

A condition (a detector on a key; a stall: per silence) is alerted once per run, whichever
watcher saw it first. A run that ended by itself is still alerted on for the points it logged
(read last), but a stall is only a stall while the run runs (a process may live on after its
run's end); a stopped run (by its monitor, a cancel, a signal) gets no new alert at all.

``stepstone watch RUN`` (:func:`watch_run`) puts the same watcher beside a run that something
else started, such as a script that calls ``stepstone.init()`` itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from stepstone.analysis.health import Finding, HealthRules, HealthState
from stepstone.errors import UsageError
from stepstone.method import notebook
from stepstone.store.lab import Lab, connect
from stepstone.store.metrics import is_system_key
from stepstone.store.runs import RunRecord, this_host
from stepstone.store.target import StoreTarget

ENV = "STEPSTONE_MONITOR"
ACTION_TIMEOUT = 30.0
"""Seconds an ``on_alert`` command or webhook may take."""
STOPPED = ("killed", "abandoned")
"""Run statuses that end a run's alerts: it was stopped, whatever its process still logs."""


@dataclass(frozen=True)
class MonitorSpec:
    """What to watch for and what to do about it."""

    rules: HealthRules = field(default_factory=HealthRules)
    on_alert: str | None = None
    stop: bool = False
    poll_seconds: float = 5.0

    def to_env(self) -> dict[str, str]:
        return {ENV: json.dumps({**asdict(self), "rules": self.rules.to_dict()})}

    @classmethod
    def from_env(cls, env: dict[str, str]) -> MonitorSpec | None:
        text = env.get(ENV)
        if not text:
            return None
        data = json.loads(text)
        rules = data.pop("rules")
        return cls(rules=HealthRules(**{**rules, "keys": tuple(rules["keys"])}), **data)


def _act(spec: MonitorSpec, alert: dict[str, Any]) -> str | None:
    """Run the ``on_alert`` command or call the webhook; say how it went (None: nothing)."""
    if not spec.on_alert:
        return None
    body = json.dumps(alert).encode()
    try:
        if spec.on_alert.startswith(("http://", "https://")):
            request = urllib.request.Request(spec.on_alert, data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=ACTION_TIMEOUT) as response:
                return f"webhook answered {response.status}"
        env = {**os.environ, "STEPSTONE_ALERT": alert["message"],
               "STEPSTONE_ALERT_RUN": alert["run_id"],
               "STEPSTONE_ALERT_DETECTOR": alert["detector"]}
        done = subprocess.run(spec.on_alert, shell=True, input=body, env=env,
                              capture_output=True, timeout=ACTION_TIMEOUT, check=False)
        return f"--on-alert exited {done.returncode}"
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        return f"--on-alert failed: {exc}"


class Watcher(threading.Thread):
    """Watches one run while its process lives; ``stop_process`` ends the process."""

    def __init__(self, target: StoreTarget, run_id: str, spec: MonitorSpec,
                 stop_process: Callable[[], None]) -> None:
        super().__init__(name=f"stepstone-monitor-{run_id}", daemon=True)
        self.target, self.run_id, self.spec = target, run_id, spec
        self.stop_process = stop_process
        self.state = HealthState(spec.rules, last_point_at=time.time())
        self.stopped_by: str | None = None  # the reason, once an alert stopped the run
        self._done = threading.Event()
        self._after: dict[str, int] = {}  # each key's last step seen
        self._last_logged = 0.0  # wall time of the run's latest training point seen

    def close(self) -> None:
        """The process ended: read what it flushed last, then stop watching."""
        self._done.set()
        self.join(timeout=ACTION_TIMEOUT + 10)

    def run(self) -> None:
        with Lab(self.target.root, connect(self.target), self.target) as lab:
            while not self._done.wait(self.spec.poll_seconds):
                self._check(lab, alive=True)
            self._check(lab, alive=False)

    def _check(self, lab: Lab, *, alive: bool) -> None:
        now = time.time()
        found: list[Finding] = []
        # each key from its own last step: an evaluation logged after the training point of
        # its step is new, though the run has been at that step before
        history = lab.metrics.history(self.run_id, after_step=self._after)
        for key, series in history.items():
            self._after[key] = max(self._after.get(key, series.steps[0]), *series.steps)
            if is_system_key(key):  # the sampler's: not the training's health
                continue
            found += self.state.feed(key, series.steps, series.values, now)
            self._last_logged = max(self._last_logged, *series.times)
        if alive:
            found += self.state.idle(now)
        for finding in found:
            self._raise(lab, finding, alive)

    def _may_alert(self, lab: Lab, run: RunRecord, finding: Finding) -> bool:
        """Whether ``finding`` is news: the run was not stopped (a stall: it still runs), and
        no watcher alerted this condition on it yet (a stall: in this silence)."""
        if self.stopped_by is not None or run.status in STOPPED:
            return False
        if finding.detector == "stall" and run.status != "running":  # its process lives on
            return False
        return not any(
            alert.detector == finding.detector and alert.metric == finding.metric
            and (finding.detector != "stall" or alert.at >= self._last_logged)
            for alert in lab.alerts.of_runs([run.id]))

    def _raise(self, lab: Lab, finding: Finding, alive: bool) -> None:
        run = lab.runs.get(self.run_id)
        if not self._may_alert(lab, run, finding):
            return
        alert = {"run_id": run.id, "run_name": run.name, "question_id": run.question_id,
                 **asdict(finding)}
        actions = [a for a in (_act(self.spec, alert),) if a]
        stopped_by = f"stopped by the health monitor: {finding.message}"
        # only a run still running is stopped (the UPDATE checks): one whose script recorded
        # its end meanwhile (finished, its process still exiting) keeps it, and its process
        # is left to exit
        if self.spec.stop and alive and lab.runs.update(
                run.id, if_status=("running",), status="killed", reason=stopped_by):
            self.stopped_by = stopped_by
            self.stop_process()
            actions.append("run stopped")
        action = "; ".join(actions) or None
        lab.alerts.add(run.id, finding.detector, finding.message, metric=finding.metric,
                       step=finding.step, action=action)
        notebook.write(lab, "note", f"Alert on run {run.name}: {finding.detector}",
                       f"Run `{run.id}` `{run.name}`: {finding.message}."
                       + (f"\n\nAction: {action}." if action else ""),
                       question_id=run.question_id, run_id=run.id,
                       data={"alert": alert, "action": action})


def watch_run(lab: Lab, ref: str, spec: MonitorSpec) -> RunRecord:
    """Watch a run started elsewhere (``python train.py`` with ``stepstone.init()``, another
    terminal's ``stepstone run``) until it ends; with ``spec.stop`` an alert stops it with
    SIGTERM to its process, which must then run on this machine."""
    run = lab.runs.get(ref)
    if run.status != "running":
        raise UsageError(f"run {run.id} is {run.status}: only a running run can be watched")
    if spec.stop and (run.host != this_host() or not run.pid):
        raise UsageError(f"run {run.id} runs on {run.host or 'an unknown host'}: "
                         "--stop-on-alert stops only a run on this machine")

    def stop() -> None:
        try:
            os.kill(int(run.pid or 0), signal.SIGTERM)
        except ProcessLookupError:  # it ended already
            pass

    watcher = Watcher(lab.target, run.id, spec, stop)
    watcher.start()
    try:
        while lab.runs.get(run.id).status == "running":
            time.sleep(spec.poll_seconds)
            lab.runs.reap_crashed()
    finally:
        watcher.close()
    if watcher.stopped_by is not None:  # the script's own end says less
        lab.runs.update(run.id, status="killed", reason=watcher.stopped_by)
    return lab.runs.get(run.id)
