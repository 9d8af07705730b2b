"""The setup of a report, gathered from a lab: the question, its baseline, the config
changes, the code and environment, the runs, and the commands that reproduce every run.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from stepstone.configs import diff, flatten, format_value
from stepstone.display import when
from stepstone.errors import NotFoundError, StepstoneError
from stepstone.method import baselines as baseline_rules
from stepstone.method import evidence as ev
from stepstone.method import questions as question_rules
from stepstone.method import selection as aio
from stepstone.report.model import (
    BaselineInfo,
    CodeInfo,
    ConfigChange,
    QuestionInfo,
    ReproRow,
    RunRow,
)
from stepstone.store.baselines import BaselineVersion
from stepstone.store.lab import Lab
from stepstone.store.questions import Question
from stepstone.store.runs import RunRecord

PACKAGES_SHOWN = ("stepstone", "torch", "jax", "numpy", "scipy", "transformers", "triton",
                  "flash-attn", "flash_attn", "deepspeed", "accelerate", "lightning")
"""Packages named in the environment summary when a run recorded them."""


def _baseline_row(lab: Lab, version: str | None) -> BaselineVersion | None:
    if version is None:
        return None
    try:
        return baseline_rules.resolve(lab, version)
    except NotFoundError:
        return None


def _question_info(lab: Lab, q: Question) -> QuestionInfo:
    idea = None
    if q.idea_id:
        try:
            idea = f"{q.idea_id}: {lab.ideas.get(q.idea_id).title}"
        except StepstoneError:
            idea = str(q.idea_id)
    end = question_rules.deadline(q)
    overdue = question_rules.hours_over(q) is not None
    delta = q.feature_delta or {}
    return QuestionInfo(
        id=q.id, text=q.text, rule=q.rule,
        metrics=tuple(q.metrics), status=q.status, answer=q.answer,
        idea=idea, timebox_hours=q.timebox_hours,
        deadline=when(end) if end else None,
        overdue=overdue, baseline_ref=q.baseline,
        feature_keys=tuple(q.feature_keys or ()),
        feature_delta=tuple((k, format_value(v)) for k, v in sorted(delta.items())),
        reason=q.reason,
    )


def _baseline_info(lab: Lab, row: BaselineVersion | None) -> BaselineInfo | None:
    if row is None:
        return None
    features = tuple(
        (f.question_id, ", ".join(f"{k}={format_value(v)}" for k, v in sorted(f.delta.items())))
        for f in lab.baselines.features(row.version))
    check = baseline_rules.regression(lab, row)
    return BaselineInfo(version=row.version, tier=row.tier, day=row.day, parent=row.parent,
                        reference_metric=row.reference_metric, features=features,
                        check_status=check.status, check=check.text)


def _override(key: str, value: Any, base_flat: Mapping[str, Any] | None) -> str:
    """The ``--set`` text that makes ``key`` take ``value`` starting from the baseline."""
    if value is None:
        return f"~{key}"
    if base_flat is not None and not any(k == key or k.startswith(key + ".") for k in base_flat):
        return f"+{key}={format_value(value)}"
    return f"{key}={format_value(value)}"


def _run_delta(run: RunRecord, base_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's config change against its baseline: the recorded delta, else the diff."""
    if run.config_delta:
        return dict(run.config_delta)
    if base_config is None:
        return {}
    return {e.key: e.new for e in diff(base_config, run.config).entries}


def _config_changes(runs: Sequence[RunRecord],
                    base_config: Mapping[str, Any] | None) -> tuple[ConfigChange, ...]:
    base_flat = flatten(base_config) if base_config else {}
    seen: dict[tuple[str, str], list[str]] = {}
    for run in runs:
        if run.kind == "smoke":
            continue
        for key, value in sorted(_run_delta(run, base_config).items()):
            shown = "(removed)" if value is None else format_value(value)
            seen.setdefault((key, shown), []).append(run.id)
    out = []
    for (key, shown), ids in sorted(seen.items()):
        old = base_flat.get(key)
        out.append(ConfigChange(key, "(absent)" if key not in base_flat else format_value(old),
                                shown, tuple(ids)))
    return tuple(out)


def _hardware_line(hw: Mapping[str, Any]) -> str:
    """``AMD EPYC 7B13 ×2, 23.4 GB, NVIDIA H100 ×1`` from a run's captured hardware."""
    parts = [f"{hw.get('cpu') or hw.get('machine') or 'CPU'} ×{hw.get('cpu_count', '?')}"]
    if hw.get("memory_gb") is not None:
        parts.append(f"{hw['memory_gb']} GB")
    gpus: dict[str, int] = {}
    for gpu in hw.get("gpus") or []:
        name = str(gpu.get("name", "GPU")) if isinstance(gpu, Mapping) else str(gpu)
        gpus[name] = gpus.get(name, 0) + 1
    parts += [f"{name} ×{n}" for name, n in gpus.items()]
    return ", ".join(parts)


def _code_info(runs: Sequence[RunRecord]) -> CodeInfo:
    commits: dict[tuple[str, bool], int] = {}
    snapshots: dict[str, int] = {}
    python: set[str] = set()
    hardware: set[str] = set()
    packages: dict[str, set[str]] = {}
    bare: list[str] = []
    for run in runs:
        if run.git_commit:
            key = (run.git_commit, bool(run.git_dirty))
            commits[key] = commits.get(key, 0) + 1
        if run.code_snapshot:
            snapshots[run.code_snapshot] = snapshots.get(run.code_snapshot, 0) + 1
        env = run.env or {}
        if not (run.git_commit or run.code_snapshot or env):
            bare.append(run.id)
        if env.get("python"):
            python.add(str(env["python"]))
        if isinstance(env.get("hardware"), Mapping):
            hardware.add(_hardware_line(env["hardware"]))
        pkgs = env.get("packages") or {}
        if isinstance(pkgs, Mapping):
            for name in PACKAGES_SHOWN:
                if name in pkgs:
                    packages.setdefault(name, set()).add(str(pkgs[name]))
    return CodeInfo(
        commits=tuple((c, d, n) for (c, d), n in sorted(commits.items())),
        snapshots=tuple(sorted(snapshots.items())),
        python=tuple(sorted(python)), hardware=tuple(sorted(hardware)),
        packages=tuple((k, ", ".join(sorted(v))) for k, v in sorted(packages.items())),
        runs_without_capture=tuple(bare),
    )


def _seed(run: RunRecord) -> str:
    seed = run.seed if run.seed is not None else run.config.get("seed")
    return "" if seed is None else str(seed)


def _run_rows(lab: Lab, qruns: Sequence[RunRecord], bruns: Sequence[RunRecord],
              metric: str) -> tuple[RunRow, ...]:
    rows = []
    for arm, runs in (("baseline", bruns), ("feature", qruns)):
        for run in runs:
            why = ev.usable(lab, run)
            rung = ev.rung_of(run)
            compute = aio.number(run.summary, aio.C_KEY)
            n, d = aio.number(run.summary, aio.N_KEY), aio.number(run.summary, aio.D_KEY)
            if compute is None and n is not None and d is not None:
                compute = 6.0 * n * d
            note = why or ""
            if run.status == "abandoned" and run.reason:
                note = f"abandoned: {run.reason}"
            rows.append(RunRow(
                id=run.id, name=run.name, arm=arm, kind=run.kind, status=run.status,
                rung="" if rung is None else str(rung), seed=_seed(run),
                value=aio.number(run.summary, metric), compute=compute, used=why is None,
                note=note))
    return tuple(rows)



def _shell(command: Sequence[str] | None) -> str | None:
    if not command:
        return None
    return " ".join(shlex.quote(str(part)) for part in command)


def _reproduce(runs: Sequence[RunRecord], base_config: Mapping[str, Any] | None,
               version: str | None, qid: str) -> tuple[ReproRow, ...]:
    base_flat = flatten(base_config) if base_config else None
    rows = []
    for run in runs:
        if run.kind == "smoke":
            continue  # `stepstone run --smoke` makes these again
        delta = _run_delta(run, base_config)
        overrides = tuple(_override(k, v, base_flat) for k, v in sorted(delta.items()))
        command = _shell(run.command)
        line = None
        baseline = run.baseline or version
        if command and baseline:
            parts = ["stepstone", "run", "--baseline", baseline]
            if run.question_id:
                parts += ["--question", run.question_id]
            if run.kind != ("feature" if run.question_id else "adhoc"):
                parts += ["--kind", run.kind]
            for item in overrides:
                parts += ["--set", item]
            parts += ["--yes", "--"]
            line = " ".join(shlex.quote(p) for p in parts) + " " + command
        rows.append(ReproRow(
            run_id=run.id, name=run.name, arm="feature" if run.question_id == qid else "baseline",
            kind=run.kind, status=run.status, cwd=run.cwd, command=command, overrides=overrides,
            stepstone_command=line, git_commit=run.git_commit, git_dirty=bool(run.git_dirty),
            code_snapshot=run.code_snapshot))
    return tuple(rows)

