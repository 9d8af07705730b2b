"""``stepstone sweep``, ``ladder``, ``cancel`` and ``plans``: plan many runs, launch them
on a local pool, Ray or Slurm, resume them, and stop them."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from stepstone.cli.common import (
    echo,
    json_option,
    lab_option,
    monitor_env,
    monitor_options,
    print_json,
    print_table,
)
from stepstone.display import changes

if TYPE_CHECKING:
    from stepstone.launch.jobs import Maker
    from stepstone.store.lab import Lab

F = TypeVar("F", bound=Callable[..., Any])


def _launch_options(func: F) -> F:
    """Options every planning command shares: base config, method links and executor."""
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="Base config file (YAML, JSON or TOML) every run starts from."),
        click.option("--set", "base_overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override a key of the base config (repeatable)."),
        click.option("--name", help="Plan name (default: the kind and the plan id)."),
        click.option("--project", default=None, help="Project (default: the folder's name)."),
        click.option("--baseline", default=None,
                     help="Baseline the runs start from and are verified against (a tier "
                          "like small, or a version); default: the question's."),
        click.option("--feature", "features", multiple=True, metavar="KEYS",
                     help="Config keys of the feature under test (repeatable; default: the "
                          "question's, else the --set keys)."),
        click.option("--question", "question_id", default=None,
                     help="The question these runs answer (moved to running; the feature's "
                          "change is recorded on it for `baseline promote`)."),
        click.option("--executor", type=click.Choice(["local", "ray", "slurm"]),
                     default="local", show_default=True, help="Where the runs go."),
        click.option("--workers", type=int, default=1, show_default=True,
                     help="local: runs at once (Ray: CPUs of a local cluster; Slurm: array "
                          "parallelism)."),
        click.option("--address", default=None, help="ray: cluster address (default: start a "
                     "local one for the job)."),
        click.option("--cpus-per-run", type=float, default=1.0, show_default=True,
                     help="ray/slurm: CPUs each run needs."),
        click.option("--gpus-per-run", type=float, default=0.0, show_default=True,
                     help="ray: GPUs each run needs."),
        click.option("--partition", default=None, help="slurm: partition."),
        click.option("--time", "time_limit", default=None,
                     help="slurm: time limit per job (minutes or H:M:S; default 60 min)."),
        click.option("--gpus-per-job", type=int, default=0, show_default=True,
                     help="slurm: GPUs per job."),
        click.option("--cluster", type=click.Choice(["slurm", "local"]), default="slurm",
                     show_default=True,
                     help="slurm: 'local' runs the job array with submitit's local executor."),
        click.option("--dry-run", is_flag=True, help="Show the plan; launch nothing."),
        click.option("--smoke", is_flag=True, help="Run a tiny smoke run of the first planned "
                     "run first; launch nothing if it fails."),
        lab_option,
        json_option,
        click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED),
    ]
    for option in reversed(options):
        func = option(func)
    return monitor_options(func)


def _executor(opts: dict[str, Any], lab_root: Path | None, plan_id: str) -> Any:
    from stepstone.launch import executors

    kind = opts["executor"]
    if kind == "local":
        return executors.local_executor(workers=opts["workers"])
    if kind == "ray":
        return executors.ray_executor(address=opts["address"], cpus_per_run=opts["cpus_per_run"],
                                      gpus_per_run=opts["gpus_per_run"],
                                      num_cpus=opts["workers"] if opts["workers"] > 1 else None)
    folder = (lab_root or Path.cwd()) / "submitit" / plan_id
    return executors.slurm_executor(
        folder, partition=opts["partition"], time_limit=opts["time_limit"],
        gpus_per_job=opts["gpus_per_job"], cpus_per_run=max(1, int(opts["cpus_per_run"])),
        parallelism=opts["workers"] if opts["workers"] > 1 else None, cluster=opts["cluster"])


def _plan_and_launch(kind: str, opts: dict[str, Any], make: Callable[[Lab], Maker]) -> None:
    from stepstone.launch.jobs import PlanRequest, plan_and_launch
    from stepstone.store.lab import open_lab

    as_json = opts["as_json"]
    env = monitor_env(opts)
    request = PlanRequest(command=opts["command"], baseline=opts["baseline"],
                          config_file=opts["config_file"], overrides=opts["base_overrides"],
                          features=opts["features"], question=opts["question_id"],
                          name=opts["name"], project=opts["project"], smoke=opts["smoke"])
    with open_lab(opts["lab"]) as lab:
        executor = None if opts["dry_run"] else (
            lambda plan_id: _executor(opts, lab.root, plan_id))
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            launched = plan_and_launch(lab, request, make(lab), executor=executor,
                                       executor_name=opts["executor"], progress=not as_json,
                                       env=env)
        finally:
            signal.signal(signal.SIGTERM, previous)
    plan, result = launched.plan, launched.result
    if result is None:
        if as_json:
            print_json(plan.to_dict())
        else:
            print_table([{"#": r.idx, "run": r.label, "changes": changes(r.config_delta)}
                         for r in plan.runs], ["#", "run", "changes"],
                        title=f"{kind} {plan.id} ({len(plan.runs)} runs, not launched)")
        return
    if as_json:
        print_json(result.to_dict())
    else:
        print_table([s.to_dict() for s in result.states],
                    ["idx", "label", "status", "run_id", "attempts", "reason"],
                    title=f"{kind} {plan.id}: {result.status}")
        echo(f"launched {len(result.launched)}, skipped {len(result.skipped)} "
             f"(finished or still running)"
             + (f"; plan {plan.id} is {result.status}" if result.status == "done" else ""),
             err=True)
    if result.status != "done":
        echo(f"plan {plan.id} is {result.status}: {result.unfinished()}", err=True)
        raise SystemExit(1)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@click.command("sweep", context_settings={"ignore_unknown_options": True})
@click.option("--grid", "grid", multiple=True, metavar="KEY=V1,V2",
              help="A swept key and its values (repeatable; every combination runs).")
@click.option("--list", "list_file", type=click.Path(dir_okay=False, path_type=Path),
              help="File of override sets: YAML/JSON list of mappings, or one run per line.")
@_launch_options
def sweep_cmd(grid: tuple[str, ...], list_file: Path | None, **opts: Any) -> None:
    """Plan a sweep over a base config and launch it (again: only what is not finished).

    The plan's id is a hash of the base config, the runs and the command, so running
    the same command again resumes it: finished runs are skipped, failed, crashed or
    killed ones run again as new attempts (the old run is kept).

    \b
    Example:
      stepstone sweep --config base.yaml --grid optim.lr=1e-3,3e-3 --grid seed=0,1 -- python t.py
      stepstone sweep --list runs.yaml --executor local --workers 2 -- python train.py
    """
    from stepstone.launch.jobs import sweep_maker

    maker = sweep_maker(grid, list_file)
    _plan_and_launch("sweep", opts, lambda lab: maker)


@click.command("ladder", context_settings={"ignore_unknown_options": True})
@click.option("--rungs", default=None, metavar="SPEC|FILE",
              help="Rungs as 'k=v,k=v; k=v,...' or a YAML file listing one mapping per rung.")
@click.option("--budgets", default=None, metavar="C1,C2,...",
              help="Compute budgets in FLOPs; N and D from --fit's compute-optimal frontier, "
                   "else from 6*N*D = C and --tokens-per-param.")
@click.option("--fit", "fit_ref", default=None, metavar="FIT",
              help="A stored Chinchilla fit (id or label, from `stepstone fit --form "
                   "chinchilla`) whose compute-optimal N and D each budget gets.")
@click.option("--tokens-per-param", type=float, default=20.0, show_default=True,
              help="Tokens per parameter (D = r*N) for --budgets.")
@click.option("--n-key", default="model.n_params", show_default=True,
              help="Config key that receives N (parameters) for --budgets.")
@click.option("--d-key", default="train.tokens", show_default=True,
              help="Config key that receives D (tokens) for --budgets.")
@click.option("--seeds", "seeds_text", default=None, metavar="N|A-B|A,B",
              help="Run each rung once per seed (its `seed` key): 3 runs seeds 0, 1, 2; "
                   "3-5 runs 3, 4, 5; 7,9 runs 7 and 9 (fresh seeds for a second round).")
@click.option("--only", "only_text", default=None, metavar="RUNGS",
              help="Launch only these rungs (comma-separated: the value of each rung's "
                   "`rung` key, else its label as the dry run shows it).")
@_launch_options
def ladder_cmd(rungs: str | None, budgets: str | None, fit_ref: str | None,
               tokens_per_param: float, n_key: str, d_key: str, seeds_text: str | None,
               only_text: str | None, **opts: Any) -> None:
    """Plan a scaling ladder and launch it (again: only the rungs not finished).

    Rungs are given by size and tokens (--rungs), or by compute budgets (--budgets),
    split into N params and D tokens along a fitted law's compute-optimal frontier (--fit),
    or with 6*N*D = C at a fixed tokens-per-param ratio.
    Ctrl-C (or `stepstone cancel PLAN`) stops the ladder's runs and marks them killed.

    \b
    Example:
      stepstone ladder --config b.yaml --rungs "d_model=32,steps=100; d_model=64,steps=200" \
        -- python t.py
      stepstone ladder --config base.yaml --budgets 1e12,3e12,1e13 --executor ray -- python t.py
      stepstone ladder --baseline small --budgets 1e15,1e16 --fit chin-1 -- python t.py
      stepstone ladder --question q3 --rungs rungs.yaml --only r3,r4 --seeds 1-4 -- python t.py
    """
    from stepstone.launch.jobs import LadderSpec, ladder_maker

    spec = LadderSpec(rungs=rungs, budgets=budgets, fit=fit_ref,
                      tokens_per_param=tokens_per_param, n_key=n_key, d_key=d_key,
                      seeds=seeds_text, only=only_text)
    _plan_and_launch("ladder", opts, lambda lab: ladder_maker(lab, spec))


@click.command("cancel")
@click.argument("plan")
@click.option("--reason", default="cancelled by the user", show_default=True,
              help="Why: recorded on the plan and on every run it stops.")
@lab_option
@json_option
def cancel_cmd(plan: str, reason: str, lab: str | None, as_json: bool) -> None:
    """Cancel a sweep or ladder: stop its running runs and mark them killed with the reason.

    No more of its runs start; launching the plan again resumes it.

    \b
    Example:
      stepstone cancel 3f2a9c1b7d4e --reason "wrong learning rate"
    """
    from stepstone.launch.runner import cancel_plan
    from stepstone.store.lab import open_lab

    with open_lab(lab) as opened:
        plan_id = opened.plans.resolve_id(plan)
        stopped = cancel_plan(opened, plan_id, reason)
    if as_json:
        print_json({"plan_id": plan_id, "stopped": stopped, "reason": reason})
    else:
        echo(f"plan {plan_id} cancelled; stopped {len(stopped)} running run(s)"
                   + (f": {', '.join(stopped)}" if stopped else ""))


@click.command("plans")
@click.argument("plan", required=False)
@click.option("--limit", type=int, default=20, show_default=True, help="Plans to list.")
@lab_option
@json_option
def plans_cmd(plan: str | None, limit: int, lab: str | None, as_json: bool) -> None:
    """List sweeps and ladders, or show one plan's runs and where each stands.

    \b
    Example:
      stepstone plans
      stepstone plans 3f2a9c1b7d4e --json
    """
    from stepstone.launch.runner import counts, plan_state
    from stepstone.store.lab import open_lab

    with open_lab(lab) as opened:
        if plan is None:
            rows = []
            for p in opened.plans.recent(limit=limit):
                c = counts(plan_state(opened, p.id, reap=False))
                rows.append({**p.to_dict(), "runs": sum(c.values()), **c})
            if as_json:
                print_json(rows)
            else:
                print_table(rows, ["id", "kind", "name", "status", "runs", "done", "running",
                                   "failed", "waiting", "reason"], title="plans")
            return
        row = opened.plans.get(plan)
        states = plan_state(opened, row.id)
    if as_json:
        print_json({**row.to_dict(), "runs": [s.to_dict() for s in states]})
    else:
        print_table([s.to_dict() for s in states],
                    ["idx", "label", "status", "run_id", "attempts", "reason"],
                    title=f"{row.kind} {row.id} ({row.name}): {row.status}"
                          + (f", {row.reason}" if row.reason else ""))
