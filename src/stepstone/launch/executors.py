"""Executors: where a plan's runs go. Each takes the jobs and a :class:`Watch`, and
returns when every job has ended (or the plan was cancelled and its jobs stopped: a job
whose run has ended is left to exit, so its output log and result page are written whole).

- :func:`local_executor`: a pool of worker processes on this machine, one GPU per run
  through ``CUDA_VISIBLE_DEVICES`` when ``nvidia-smi`` shows GPUs (least-busy first).
- :func:`ray_executor`: Ray tasks, with CPUs and GPUs per run; a local cluster is
  started for the job unless an address is given or Ray is already initialised.
- :func:`slurm_executor`: a Slurm job array through submitit (``cluster="local"`` runs
  the same code path with submitit's local executor).

Every job runs :func:`~stepstone.launch.runner.execute_rung`, which records the run
through ``run_attached`` from where it runs: the lab must be reachable there (the
same machine, a shared folder, or the PostgreSQL store).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Any

from stepstone.errors import UsageError
from stepstone.launch.runner import ExecutorFn, RungJob, Watch, execute_rung

POLL_SECONDS = 0.5


def detect_gpus() -> list[str]:
    """The GPUs to hand out: ``CUDA_VISIBLE_DEVICES`` if set, else ``nvidia-smi``'s indices."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "--query-gpu=index", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()]


def _run_worker(job: RungJob) -> str:
    """Run one job in a worker process of its own; return the status it printed."""
    proc = subprocess.run([sys.executable, "-m", "stepstone.launch.worker",
                           json.dumps(dataclasses.asdict(job))],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise RuntimeError(tail)
    return proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "unknown"


def local_executor(workers: int = 1, gpus: list[str] | None = None) -> ExecutorFn:
    """Run jobs here, at most ``workers`` at once, each in a worker process of its own;
    ``gpus`` None means detect them (one GPU per run, the least busy first)."""
    if workers < 1:
        raise UsageError("--workers must be at least 1")

    def run(jobs: list[RungJob], watch: Watch) -> None:
        devices = detect_gpus() if gpus is None else list(gpus)
        load = {g: 0 for g in devices}
        pending = deque(jobs)
        inflight: dict[Future[str], str | None] = {}
        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                while pending or inflight:
                    if watch.cancelled():
                        pending.clear()
                    while pending and len(inflight) < workers:
                        job = pending.popleft()
                        gpu = min(load, key=lambda g: load[g]) if load else None
                        if gpu is not None:
                            load[gpu] += 1
                            job = replace(job, env={**job.env, "CUDA_VISIBLE_DEVICES": gpu})
                        inflight[pool.submit(_run_worker, job)] = gpu
                    done, _ = wait(inflight, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                    for future in done:
                        gpu = inflight.pop(future)
                        if gpu is not None:
                            load[gpu] -= 1
                        exc = future.exception()
                        if exc is not None:
                            watch.error(f"a worker failed: {exc}")
                    watch.tick()
            except KeyboardInterrupt:
                pending.clear()
                for future in inflight:
                    future.cancel()
                raise

    return run


def ray_executor(address: str | None = None, cpus_per_run: float = 1.0,
                 gpus_per_run: float = 0.0, num_cpus: int | None = None) -> ExecutorFn:
    """Run each job as a Ray task needing ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs.

    With Ray already initialised the job uses that cluster; else it connects to
    ``address`` or starts a local cluster (``num_cpus`` CPUs) and stops it at the end.
    """

    def run(jobs: list[RungJob], watch: Watch) -> None:
        try:
            import ray
        except ImportError:
            raise UsageError("--executor ray needs Ray: pip install 'stepstone[ray]'") from None
        started = False
        if not ray.is_initialized():
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
                started = True
        try:
            task = ray.remote(execute_rung).options(
                num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)
            refs: dict[Any, RungJob] = {task.remote(job): job for job in jobs}

            def stop() -> None:  # a task whose run has ended is left to exit
                ended = watch.ended([job.run_id for job in refs.values()])
                for ref, job in refs.items():
                    if job.run_id not in ended:
                        ray.cancel(ref, force=False)

            cancelled = False
            try:
                while refs:
                    ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_SECONDS)
                    for ref in ready:
                        job = refs.pop(ref)
                        try:
                            ray.get(ref)
                        except Exception as exc:  # a task error, or a cancelled task
                            if not cancelled:
                                watch.error(f"run {job.run_id}: {type(exc).__name__}")
                    if not cancelled and watch.cancelled():
                        cancelled = True
                        stop()
                    watch.tick()
            except KeyboardInterrupt:
                stop()
                raise
        finally:
            if started:
                ray.shutdown()

    return run


def parse_time(text: str | None) -> int:
    """``--time`` in Slurm's forms (``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``,
    ``D-H:M:S``) → whole minutes (seconds round up); 60 when not given."""
    if not text:
        return 60
    m = re.fullmatch(r"(?:(\d+)-)?(\d+(?::\d+){0,2})", text.strip())
    if not m:
        raise UsageError(f"--time {text!r}: give minutes, H:M:S or D-H:M:S")
    days = int(m.group(1) or 0)
    parts = [int(p) for p in m.group(2).split(":")]
    if days:
        parts += [0] * (3 - len(parts))
        hours, minutes, seconds = parts
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:
        hours, minutes, seconds = 0, parts[0], parts[1] if len(parts) > 1 else 0
    total = days * 1440 + hours * 60 + minutes + (1 if seconds else 0)
    return max(1, total)


def slurm_executor(folder: str | Path, partition: str | None = None, time_limit: str | None = None,
                   gpus_per_job: int = 0, cpus_per_run: int = 1, parallelism: int | None = None,
                   cluster: str | None = "slurm") -> ExecutorFn:
    """Submit the jobs as one Slurm job array (``executor.map_array``) through submitit.

    ``cluster="local"`` uses submitit's local executor (same code path, this machine).
    Job logs go to ``folder``.
    """

    def run(jobs: list[RungJob], watch: Watch) -> None:
        try:
            import submitit
        except ImportError:
            raise UsageError("--executor slurm needs submitit: "
                             "pip install 'stepstone[slurm]'") from None
        executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
        params: dict[str, Any] = {"timeout_min": parse_time(time_limit), "nodes": 1,
                                  "tasks_per_node": 1, "cpus_per_task": cpus_per_run}
        if gpus_per_job:
            params["gpus_per_node"] = gpus_per_job
        if partition:
            params["slurm_partition"] = partition
        if parallelism:
            params["slurm_array_parallelism"] = parallelism
        executor.update_parameters(**params)
        submitted = executor.map_array(execute_rung, jobs)
        for job, sub in zip(jobs, submitted, strict=True):
            watch.record_job(job.run_id, str(sub.job_id))

        def stop() -> None:  # a job whose run has ended is left to exit
            ended = watch.ended([job.run_id for job in jobs])
            for job, sub in zip(jobs, submitted, strict=True):
                if not sub.done() and job.run_id not in ended:
                    sub.cancel(check=False)

        cancelled = False
        try:
            while not all(sub.done() for sub in submitted):
                if not cancelled and watch.cancelled():
                    cancelled = True
                    stop()
                watch.tick()
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            stop()
            raise
        for job, sub in zip(jobs, submitted, strict=True):
            if sub.state in ("CANCELLED",) or cancelled:
                continue
            try:
                sub.result()
            except Exception as exc:
                watch.error(f"run {job.run_id}: job {sub.job_id} failed "
                            f"({type(exc).__name__})")

    return run
