"""Launching a plan: save it, work out what is left, run it on an executor, cancel it.

Launching is idempotent: the plan's id comes from what it runs, and a launch
starts only the planned runs that have no finished or running attempt. A failed,
crashed or killed run is launched again as a new attempt (the old run is kept).
One launcher at a time holds a plan (its pid and host are on the plan row), and
a worker starts a run only while its attempt is the latest one and the plan is
not cancelled, so a run is never made twice.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stepstone.errors import UsageError
from stepstone.launch.plan import Plan
from stepstone.launch.process import LaunchSpec, run_attached
from stepstone.method.runs import CANCELLED, planned_kind
from stepstone.sdk.session import new_run_id
from stepstone.store.lab import Lab, open_lab
from stepstone.store.plans import PlannedRun, PlanRecord
from stepstone.store.runs import this_host

RELAUNCH = ("pending", "queued", "cancelled", "failed", "killed", "crashed")
"""States of a planned run that a launch starts (again)."""

CANCEL_WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class RungJob:
    """What a worker needs to start one attempt: picklable, and nothing else."""

    lab: str
    plan_id: str
    idx: int
    run_id: str
    attempt: int
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class RungState:
    """Where a planned run stands: its latest attempt's run status (or pending/queued)."""

    idx: int
    label: str
    status: str
    run_id: str | None
    attempts: int
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class LaunchResult:
    plan_id: str
    launched: list[int]
    skipped: list[int]
    states: list[RungState]
    status: str
    reason: str | None = None  # what went wrong in the launcher's workers, if anything

    def to_dict(self) -> dict[str, Any]:
        return {"plan_id": self.plan_id, "launched": self.launched, "skipped": self.skipped,
                "status": self.status, "reason": self.reason,
                "runs": [s.to_dict() for s in self.states]}

    def unfinished(self) -> str:
        """Why the plan is not done, in a line or two: each run not finished, the workers'
        errors, and how to go on."""
        lines = [f"{s.label} ({s.run_id or 'no run'}): {s.status}"
                 + (f", {s.reason}" if s.reason else "")
                 for s in self.states if s.status != "finished"]
        if self.reason:
            lines.append(self.reason)
        return "; ".join(lines) + (f". Run the same command again to relaunch what did not "
                                   f"finish, or see `stepstone plans {self.plan_id}`")


def _alive(pid: int | None, host: str | None) -> bool:
    """Whether a process is alive; one on another host is taken to be (we cannot see it)."""
    if pid is None:
        return False
    if host != this_host():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


# -- state ----------------------------------------------------------------------------
def save_plan(lab: Lab, plan: Plan, executor: str | None = None) -> PlanRecord:
    """Store ``plan`` (a no-op when the same plan is stored already) and return its row."""
    lab.plans.save({**plan.to_dict(), "executor": executor}, [r.to_dict() for r in plan.runs])
    return lab.plans.get(plan.id)


def plan_state(lab: Lab, plan_id: str, *, reap: bool = True) -> list[RungState]:
    """Every planned run's state, from its latest attempt's run."""
    if reap:
        lab.runs.reap_crashed()
    rows = lab.plans.runs(plan_id)
    ids = [r.latest_run_id for r in rows if r.latest_run_id]
    records = {rec.id: rec for rec in lab.runs.list(ids=ids, details=False)} if ids else {}
    waiting = "cancelled" if rows and lab.plans.get(plan_id).status == "cancelled" else None
    out = []
    for row in rows:
        run_id = row.latest_run_id
        rec = records.get(run_id) if run_id else None
        status = rec.status if rec else (waiting or ("queued" if run_id else "pending"))
        out.append(RungState(row.idx, row.label, status, run_id, len(row.attempts),
                             rec.reason if rec else None))
    return out


def counts(states: Sequence[RungState]) -> dict[str, int]:
    """``{"done", "running", "failed", "waiting"}`` counts for progress lines."""
    out = {"done": 0, "running": 0, "failed": 0, "waiting": 0}
    for s in states:
        if s.status == "finished":
            out["done"] += 1
        elif s.status == "running":
            out["running"] += 1
        elif s.status in ("failed", "killed", "crashed", "abandoned", "cancelled"):
            out["failed"] += 1
        else:
            out["waiting"] += 1
    return out


# -- the worker side ------------------------------------------------------------------
def execute_rung(job: RungJob) -> str:
    """Run one attempt of a planned run through ``run_attached`` (which writes its result
    page); return its final status.

    Runs wherever the executor puts it (a pool process, a Ray worker, a Slurm job): it
    opens the lab itself, so the lab must be reachable from there (a shared folder or
    the PostgreSQL store). It starts nothing when the plan was cancelled or a newer
    attempt superseded this one.
    """
    with open_lab(job.lab) as lab:
        plan = lab.plans.get(job.plan_id)
        if plan.status == "cancelled":
            return "skipped"
        rung = _rung(lab, job)
        if rung is None or rung.latest_run_id != job.run_id:
            return "skipped"
        name = f"{plan.name}-{job.idx}" + (f".{job.attempt}" if job.attempt > 1 else "")
        spec = LaunchSpec(
            command=list(plan.command), project=plan.project, name=name, config=rung.config,
            tags=(f"plan:{plan.id}", plan.kind), kind=planned_kind(plan),
            question_id=plan.question_id, baseline=plan.baseline,
            config_delta=rung.config_delta, env=job.env, cwd=plan.cwd, run_id=job.run_id)
        try:
            record = run_attached(lab, spec, echo=False, own_group=True)
        except UsageError:
            return "failed"
        status = record.status
        if status != "finished":
            _stamp_cancel(lab, job.plan_id, [job.run_id])
            status = lab.runs.get(job.run_id).status
        return status


def _rung(lab: Lab, job: RungJob) -> PlannedRun | None:
    return next((r for r in lab.plans.runs(job.plan_id) if r.idx == job.idx), None)


def _stamp_cancel(lab: Lab, plan_id: str, run_ids: Sequence[str]) -> list[str]:
    """Give the runs of a cancelled plan that the cancel stopped its reason, and return their
    ids: the one rule of who gets it. A run that was still running when the plan was
    cancelled and did not finish gets it; one that ended before (a rung that failed on its
    own) keeps its own end and reason, and one that finished keeps its end (the UPDATE checks
    the status it replaces: a run's own finish written meanwhile stands). A rung booked but
    never started has no run to stamp."""
    plan = lab.plans.get(plan_id)
    if plan.status != "cancelled":
        return []
    stamped: list[str] = []
    for rec in lab.runs.list(ids=list(run_ids), details=False) if run_ids else []:
        if (plan.cancelled_at is not None and rec.ended_at is not None
                and rec.ended_at < plan.cancelled_at):
            continue  # it ended before the cancel came
        if lab.runs.update(rec.id, if_status=("killed", "failed", "crashed"), status="killed",
                           reason=f"{CANCELLED}{plan.reason}"):
            stamped.append(rec.id)
    return stamped


# -- the launcher side ----------------------------------------------------------------
class Watch:
    """What an executor calls while it waits: cancellation, job ids and live progress."""

    def __init__(self, lab: Lab, plan_id: str, *, show: bool, total: int) -> None:
        self.lab = lab
        self.plan_id = plan_id
        self.errors: list[str] = []
        self._last = 0.0
        self._cancelled = False
        self._progress: Any = None
        if show:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(),
                TextColumn("{task.fields[line]}"), TimeElapsedColumn(),
                console=Console(stderr=True), transient=False)
            self._task = self._progress.add_task(plan_id, total=total, line="")
            self._progress.start()

    def cancelled(self) -> bool:
        if not self._cancelled:
            self._cancelled = self.lab.plans.get(self.plan_id).status == "cancelled"
        return self._cancelled

    def ended(self, run_ids: Sequence[str]) -> set[str]:
        """Those of ``run_ids`` whose run has ended (its status is no longer running), though
        its process may still be exiting: an executor's cancel leaves their jobs alone (a
        job not yet started has no run, and is cancelled)."""
        return {rec.id for rec in self.lab.runs.list(ids=list(run_ids), details=False)
                if rec.status != "running"}

    def record_job(self, run_id: str, job_id: str) -> None:
        self.lab.plans.set_job_id(run_id, job_id)

    def error(self, text: str) -> None:
        self.errors.append(text)

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._progress is None or (not force and now - self._last < 0.5):
            return
        self._last = now
        c = counts(plan_state(self.lab, self.plan_id, reap=False))
        self._progress.update(self._task, completed=c["done"] + c["failed"],
                              line=f"done {c['done']} · running {c['running']} · "
                                   f"failed {c['failed']} · waiting {c['waiting']}")

    def close(self) -> None:
        if self._progress is not None:
            self.tick(force=True)
            self._progress.stop()


ExecutorFn = Callable[[list[RungJob], Watch], None]


def launch_plan(lab: Lab, plan: Plan, executor: ExecutorFn, *, executor_name: str = "local",
                progress: bool = False, env: dict[str, str] | None = None) -> LaunchResult:
    """Save ``plan`` and run what is left of it on ``executor``; wait for the runs to end.

    Ctrl-C cancels the plan: its running runs are stopped and marked killed.
    """
    save_plan(lab, plan, executor_name)
    me = os.getpid(), this_host()
    held = lab.plans.take_ownership(plan.id, me[0], me[1], _alive)
    if held[0] is not None:
        raise UsageError(f"plan {plan.id} is being launched by pid {held[0]} on {held[1]}: "
                         f"wait for it, or stop it with `stepstone cancel {plan.id}`")
    launched: list[int] = []
    skipped: list[int] = []
    try:
        jobs: list[RungJob] = []
        for state in plan_state(lab, plan.id):
            if state.status not in RELAUNCH:
                skipped.append(state.idx)
                continue
            run_id = new_run_id()
            attempt = lab.plans.add_attempt(plan.id, state.idx, run_id, executor_name)
            jobs.append(RungJob(lab.target.location, plan.id, state.idx, run_id, attempt,
                                dict(env or {})))
            launched.append(state.idx)
        watch = Watch(lab, plan.id, show=progress and bool(jobs), total=len(jobs))
        try:
            if jobs:
                executor(jobs, watch)
        except KeyboardInterrupt:
            cancel_plan(lab, plan.id, "interrupted (Ctrl-C)")
            raise
        finally:
            watch.close()
        states = plan_state(lab, plan.id)
        if watch.cancelled():
            _stamp_cancel(lab, plan.id, [s.run_id for s in states if s.run_id])
            states = plan_state(lab, plan.id)
        done = all(s.status == "finished" for s in states)
        reason = "; ".join(watch.errors) or None
        lab.plans.release(plan.id, "done" if done else "incomplete", reason)
    except BaseException:
        lab.plans.release(plan.id, "incomplete", "the launcher stopped")
        raise
    final = lab.plans.get(plan.id)
    return LaunchResult(plan.id, launched, skipped, plan_state(lab, plan.id), final.status,
                        final.reason)


def cancel_plan(lab: Lab, ref: str, reason: str = "cancelled by the user") -> list[str]:
    """Cancel a plan: no more of its runs start, and its running runs are signalled and
    marked killed with ``reason``. Returns the ids of the runs stopped. A run that ended
    since it was read as running keeps its end (the mark checks the status it replaces),
    only a run this cancel marked is signalled, and the reason goes last only on runs that
    stopped without finishing. The plan records when it was cancelled (the runs that ended
    before keep their own end: :func:`_stamp_cancel`)."""
    plan = lab.plans.get(ref)
    since = plan.cancelled_at if plan.status == "cancelled" else None  # cancelled again: kept
    lab.plans.update(plan.id, status="cancelled", reason=reason,
                     cancelled_at=since or time.time())
    jobs = {a.run_id: a.job_id for r in lab.plans.runs(plan.id) for a in r.attempts}
    signalled: list[str] = []
    for state in plan_state(lab, plan.id):
        if state.status != "running" or state.run_id is None:
            continue
        if not lab.runs.update(state.run_id, if_status=("running",), status="killed",
                               reason=f"{CANCELLED}{reason}", ended_at=time.time()):
            continue  # it ended since plan_state read it
        rec = lab.runs.get(state.run_id)
        _signal_run(rec.pid, rec.host, jobs.get(rec.id))
        signalled.append(rec.id)
    deadline = time.monotonic() + CANCEL_WAIT_SECONDS
    while signalled and time.monotonic() < deadline:  # let them stop, then keep the reason
        if not any(_still_running(lab, run_id) for run_id in signalled):
            break
        time.sleep(0.2)
    stopped = _stamp_cancel(lab, plan.id, signalled)
    # a live launcher here releases the plan itself; any other hold is dropped
    if not (plan.owner_host == this_host() and _alive(plan.owner_pid, plan.owner_host)):
        lab.plans.release(plan.id, "cancelled")
    return stopped


def _still_running(lab: Lab, run_id: str) -> bool:
    """A run here whose launcher has not yet recorded its end (it records the exit code)."""
    rec = lab.runs.get(run_id)
    return rec.host == this_host() and rec.exit_code is None and _alive(rec.pid, rec.host)


def _signal_run(pid: int | None, host: str | None, job_id: str | None) -> None:
    """SIGTERM a run's launcher process on this host; scancel a Slurm job elsewhere."""
    if pid is not None and host == this_host():
        if pid == os.getpid():
            return
        try:
            os.kill(int(pid), signal.SIGTERM)
        except ProcessLookupError:
            pass
        return
    if job_id and shutil.which("scancel"):
        subprocess.run(["scancel", str(job_id)], capture_output=True, timeout=30, check=False)
