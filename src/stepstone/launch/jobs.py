"""Launching, as ``stepstone run``, ``ladder`` and ``sweep`` and the MCP server all do it.

One function per kind of launch, so that every caller gets the same checks in the same
order: the config resolved from its baseline and verified (the diff), the question checked
and linked, its time box and compute budget asked (:func:`stepstone.method.budget.check_launch`,
refused before anything starts), then the launch (each run's result page is written by
:func:`~stepstone.launch.process.run_attached`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stepstone.configs import load_config, resolve
from stepstone.errors import UsageError
from stepstone.launch.plan import (
    Plan,
    chinchilla_allocate,
    frontier_allocate,
    load_override_sets,
    parse_budgets,
    parse_grid,
    parse_rungs,
    parse_seeds,
    plan_ladder,
    plan_sweep,
)
from stepstone.launch.process import LaunchSpec, run_attached
from stepstone.launch.runner import RELAUNCH, ExecutorFn, LaunchResult, launch_plan, plan_state
from stepstone.launch.smoke import run_smoke
from stepstone.method import selection as aio
from stepstone.method.budget import check_launch
from stepstone.method.preflight import (
    Prepared,
    launch_baseline,
    link_plan,
    open_question,
    prepare_launch,
    prepare_plan,
    split_keys,
)
from stepstone.method.questions import start
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord

Maker = Callable[..., Plan]
"""Builds a plan from its base config and command (``plan_ladder`` or ``plan_sweep`` bound
to their rungs)."""


@dataclass(frozen=True)
class RunRequest:
    """One run to launch (the options of ``stepstone run``)."""

    command: Sequence[str]
    name: str | None = None
    project: str | None = None
    config_file: Path | None = None
    overrides: Sequence[str] = ()
    tags: Sequence[str] = ()
    kind: str | None = None
    baseline: str | None = None
    question: str | None = None
    features: Sequence[str] = ()
    allowed: Sequence[str] = ()
    smoke: bool = False
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


def launch_run(lab: Lab, request: RunRequest, *, echo: bool = True,
               approve: Callable[[Prepared], None] | None = None) -> RunRecord:
    """Launch one run and wait for it; ``approve`` sees the verified diff before anything
    starts (and may refuse by raising)."""
    cwd = Path(request.cwd or Path.cwd())
    baseline = launch_baseline(lab, baseline=request.baseline, question=request.question,
                               config_given=request.config_file is not None)
    delta = version = None
    if baseline is not None:
        prepared = prepare_launch(
            lab, baseline=baseline, overrides=request.overrides,
            feature_keys=split_keys(request.features), allowed=split_keys(request.allowed),
            question=request.question, strict=True)
        config, delta, version = prepared.config, prepared.delta, prepared.baseline_version
        if approve is not None:
            approve(prepared)
    else:
        open_question(lab, request.question)
        config = resolve(load_config(request.config_file) if request.config_file else {},
                         list(request.overrides))
    check_launch(lab, request.question, [config])
    kind = request.kind or ("feature" if request.question else "adhoc")
    spec = LaunchSpec(command=list(request.command), project=request.project or cwd.name,
                      name=request.name, config=config, tags=request.tags, kind=kind,
                      question_id=request.question, baseline=version, config_delta=delta,
                      env=request.env, cwd=str(cwd))
    if request.smoke:
        run_smoke(lab, spec, echo=echo)
    if request.question is not None:
        start(lab, request.question)
    return run_attached(lab, spec, echo=echo)


@dataclass(frozen=True)
class PlanRequest:
    """A ladder or sweep to plan: what every run starts from and what it answers."""

    command: Sequence[str]
    baseline: str | None = None
    config_file: Path | None = None
    overrides: Sequence[str] = ()
    features: Sequence[str] = ()
    question: str | None = None
    name: str | None = None
    project: str | None = None
    cwd: str | None = None
    smoke: bool = False  # the first planned run's smoke form first; its failure stops the launch


@dataclass(frozen=True)
class LadderSpec:
    """How a ladder's rungs are made (the options of ``stepstone ladder``)."""

    rungs: str | None = None  # "k=v,k=v; k=v" or a YAML/JSON/text file
    budgets: str | None = None  # "1e12,3e12"
    fit: str | None = None  # a stored Chinchilla fit for the budgets' N and D
    tokens_per_param: float = 20.0
    n_key: str = "model.n_params"
    d_key: str = "train.tokens"
    seeds: str | None = None  # "3", "3-5", "7,9"
    only: str | None = None  # "r3,r4"


def ladder_maker(lab: Lab, spec: LadderSpec) -> Maker:
    """The ladder ``spec`` asks for, as a :data:`Maker` (bad options: one UsageError)."""
    if spec.rungs is None and spec.budgets is None:
        raise UsageError("a ladder needs --rungs or --budgets")
    planned: list[list[str]] = []
    if spec.rungs is not None:
        is_file = (spec.rungs.endswith((".yaml", ".yml", ".json", ".txt"))
                   and Path(spec.rungs).is_file())
        planned = load_override_sets(spec.rungs) if is_file else parse_rungs(spec.rungs)
    budgets = parse_budgets(spec.budgets) if spec.budgets else None
    allocate = None
    if budgets and spec.fit is not None:
        allocate = frontier_allocate(_frontier(lab, spec.fit), spec.n_key, spec.d_key)
    elif budgets:
        allocate = chinchilla_allocate(spec.n_key, spec.d_key, spec.tokens_per_param)
    elif spec.fit is not None:
        raise UsageError("--fit goes with --budgets: it splits each budget into N and D")
    seeds = parse_seeds(spec.seeds) if spec.seeds is not None else None
    only = [r.strip() for r in spec.only.split(",") if r.strip()] if spec.only else None
    if spec.only is not None and not only:
        raise UsageError("--only is empty: name the rungs to launch, e.g. --only r3,r4")

    def make(base: dict[str, Any], command: list[str], **kw: Any) -> Plan:
        return plan_ladder(base, command, rungs=planned, budgets=budgets, allocate=allocate,
                           seeds=seeds, only=only, **kw)

    return make


def sweep_maker(grid: Sequence[str], list_file: Path | None = None) -> Maker:
    """The sweep over ``grid`` (``KEY=V1,V2``) or the override sets in ``list_file``."""
    if not grid and list_file is None:
        raise UsageError("a sweep needs --grid KEY=V1,V2 or --list FILE")
    sets = load_override_sets(list_file) if list_file else None
    parsed = parse_grid(grid)

    def make(base: dict[str, Any], command: list[str], **kw: Any) -> Plan:
        return plan_sweep(base, command, grid=parsed, override_sets=sets, **kw)

    return make


def _frontier(lab: Lab, fit_ref: str) -> Callable[[float], tuple[float, float]]:
    """``C -> (N, D)`` on the compute-optimal frontier of a stored Chinchilla fit."""
    row = aio.find_fit(lab, fit_ref)
    if row.form != "chinchilla":
        raise UsageError(f"fit {row.id} is a {row.form} law: --fit needs an (N, D) law "
                         "(`stepstone fit --form chinchilla`)")
    fit = aio.fit_from_stored(row)

    def optimal(budget: float) -> tuple[float, float]:
        point = fit.compute_optimal(budget)
        return point.n, point.d

    return optimal


@dataclass(frozen=True)
class Launched:
    """A planned ladder or sweep, and how its launch ended (None: a dry run)."""

    plan: Plan
    result: LaunchResult | None = None
    allowance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        if self.result is None:
            return {**self.plan.to_dict(), "launched": False, "allowance": self.allowance}
        return {**self.result.to_dict(), "allowance": self.allowance}


def plan_and_launch(lab: Lab, request: PlanRequest, make: Maker, *,
                    executor: Callable[[str], ExecutorFn] | None, executor_name: str = "local",
                    progress: bool = False, env: Mapping[str, str] | None = None) -> Launched:
    """Plan the ladder or sweep and launch what is left of it on ``executor(plan_id)``
    (None: a dry run that launches nothing), waiting for its runs to end; ``env`` goes to
    every run's command (and the health monitor's settings to its launcher)."""
    cwd = Path(request.cwd or Path.cwd())
    basis = prepare_plan(
        lab, baseline=request.baseline, overrides=request.overrides,
        config=load_config(request.config_file) if request.config_file else None,
        feature_keys=split_keys(request.features), question=request.question)
    plan = make(basis.base, list(request.command), name=request.name,
                project=request.project or cwd.name, cwd=str(cwd),
                baseline=basis.baseline_version, question_id=basis.question_id,
                verify=basis.verify, options=basis.options, reference=basis.baseline_config)
    allowance, done = None, set()
    if executor is not None:  # a resumed plan spends only on the runs it launches again
        done = {s.idx for s in plan_state(lab, plan.id, reap=False) if s.status not in RELAUNCH}
        allowance = check_launch(lab, basis.question_id,
                                 [r.config for r in plan.runs if r.idx not in done])
    link_plan(lab, basis, [r.config for r in plan.runs], launching=executor is not None)
    shown = allowance.to_dict() if allowance is not None else {}
    if executor is None:
        return Launched(plan, None, shown)
    left = [r for r in plan.runs if r.idx not in done]
    if request.smoke and left:
        first = LaunchSpec(command=list(plan.command), project=plan.project,
                           config=left[0].config, question_id=plan.question_id,
                           baseline=plan.baseline, config_delta=left[0].config_delta,
                           env=dict(env or {}), cwd=plan.cwd)
        run_smoke(lab, first, echo=progress)
    result = launch_plan(lab, plan, executor(plan.id), executor_name=executor_name,
                         progress=progress, env=dict(env or {}))
    return Launched(plan, result, shown)
