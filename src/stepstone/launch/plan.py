"""Planning sweeps and scaling ladders: a base config, a command, and a list of runs.

A plan is pure data: nothing here touches the lab. Its id is a hash of the base
config, the planned runs' overrides and the command, so the same plan planned
again gets the same id, and launching it again resumes it (see
:mod:`stepstone.launch.runner`).

    >>> plan = plan_sweep({"optim": {"lr": 0.001}, "seed": 0}, ["python", "train.py"],
    ...                   grid={"optim.lr": [0.001, 0.003], "seed": [0, 1]})
    >>> [r.label for r in plan.runs][:2]
    ['optim.lr=0.001,seed=0', 'optim.lr=0.001,seed=1']

The research-method hook: a :data:`~stepstone.method.preflight.Verifier` takes a planned
run's resolved config and returns the config to run and the problems found comparing it
against its baseline (an empty list when it is fine). The method supplies one for
``--baseline``/``--feature`` (:func:`stepstone.method.preflight.prepare_plan`, which also
gives the dated baseline version the plan records); planning refuses a run with problems.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stepstone.configs import diff, format_value, parse_override, parse_value, resolve
from stepstone.errors import UsageError
from stepstone.method.preflight import Verifier

Allocate = Callable[[float], Mapping[str, Any]]
"""``allocate(compute_budget) -> overrides`` (dotted key → value) for a rung of that budget."""


@dataclass(frozen=True)
class PlannedRun:
    """One run of a plan: its overrides over the base and the config they resolve to."""

    idx: int
    label: str
    overrides: tuple[str, ...]
    config: dict[str, Any]
    config_delta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"idx": self.idx, "label": self.label, "overrides": list(self.overrides),
                "config": self.config, "config_delta": self.config_delta}


@dataclass(frozen=True)
class Plan:
    """A sweep or a ladder, ready to save and launch."""

    id: str
    kind: str
    name: str
    project: str
    base_config: dict[str, Any]
    command: tuple[str, ...]
    runs: tuple[PlannedRun, ...]
    cwd: str | None = None
    baseline: str | None = None
    question_id: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "name": self.name, "project": self.project,
                "base_config": self.base_config, "command": list(self.command),
                "cwd": self.cwd, "baseline": self.baseline, "question_id": self.question_id,
                "options": self.options, "runs": [r.to_dict() for r in self.runs]}


def plan_id_of(kind: str, base: Mapping[str, Any], rungs: Sequence[Sequence[str]],
               command: Sequence[str]) -> str:
    """The stable id: a hash of the kind, base config, every run's overrides and the command."""
    text = json.dumps({"kind": kind, "base": base, "runs": [list(r) for r in rungs],
                       "command": list(command)}, sort_keys=True, default=str,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _override_text(key: str, value: Any) -> str:
    return f"{key}={format_value(value)}"


def _label(overrides: Sequence[str]) -> str:
    return ",".join(o.lstrip("+~") for o in overrides) or "base"


def build_plan(
    kind: str,
    base: Mapping[str, Any],
    command: Sequence[str],
    rungs: Sequence[Sequence[str]],
    *,
    name: str | None = None,
    project: str = "default",
    cwd: str | None = None,
    baseline: str | None = None,
    question_id: str | None = None,
    verify: Verifier | None = None,
    options: Mapping[str, Any] | None = None,
    reference: Mapping[str, Any] | None = None,
) -> Plan:
    """Resolve each run's config (base + overrides), check it with ``verify``, id the plan.

    Each run's ``config_delta`` is its change against ``reference`` (the baseline's
    config, so the feature set on the base is part of it), else against the base."""
    if not command:
        raise UsageError("nothing to run: give the command after --, e.g. "
                         "`stepstone ladder ... -- python train.py`")
    if not rungs:
        raise UsageError(f"the {kind} plans no runs: give --grid/--list, --rungs or --budgets")
    base = dict(base)
    seen: dict[tuple[str, ...], int] = {}
    runs: list[PlannedRun] = []
    problems: list[str] = []
    for idx, overrides in enumerate(rungs):
        key = tuple(overrides)
        if key in seen:
            raise UsageError(f"runs {seen[key]} and {idx} of the {kind} are the same "
                             f"({_label(key) or 'no overrides'}): drop one")
        seen[key] = idx
        if not base:  # no base config: every key is new
            overrides = [o if o[:1] in "+~" else "+" + o for o in overrides]
        for text in overrides:
            parse_override(text)  # one clear error for a malformed override
        config = resolve(base, list(overrides))
        if verify is not None:
            config, found = verify(config, [parse_override(o).key for o in overrides])
            problems += [f"run {idx} ({_label(key)}): {p}" for p in found]
        delta = {e.key: e.new for e in diff(base if reference is None else reference,
                                            config).entries}
        runs.append(PlannedRun(idx, _label(key), key, config, delta))
    if problems:
        raise UsageError("the plan does not verify against its baseline:\n  "
                         + "\n  ".join(problems))
    pid = plan_id_of(kind, base, rungs, command)
    return Plan(id=pid, kind=kind, name=name or f"{kind}-{pid[:6]}", project=project,
                base_config=base, command=tuple(command), runs=tuple(runs), cwd=cwd,
                baseline=baseline, question_id=question_id, options=dict(options or {}))


# -- sweeps ---------------------------------------------------------------------------
def parse_grid(items: Iterable[str]) -> dict[str, list[Any]]:
    """``["optim.lr=1e-3,3e-3", "seed=0,1"]`` → ``{"optim.lr": [0.001, 0.003], "seed": [0, 1]}``."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise UsageError(f"--grid {item!r}: write KEY=V1,V2,... (e.g. optim.lr=1e-3,3e-3)")
        if key in grid:
            raise UsageError(f"--grid names {key!r} twice: give all its values in one --grid")
        grid[key] = [parse_value(v) for v in _split_values(values)]
    return grid


def _split_values(text: str) -> list[str]:
    """Split on commas outside brackets, so ``[1,2],[3,4]`` is two values."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [v.strip() for v in out if v.strip()]


def grid_overrides(grid: Mapping[str, Sequence[Any]]) -> list[list[str]]:
    """Every combination of the grid's values (the first key varies slowest)."""
    keys = list(grid)
    return [[_override_text(k, v) for k, v in zip(keys, combo, strict=True)]
            for combo in itertools.product(*(grid[k] for k in keys))]


def load_override_sets(path: str | Path) -> list[list[str]]:
    """Override sets from a file: a YAML/JSON list of mappings or of override lists,
    or a text file with one run per line (overrides separated by spaces)."""
    file = Path(path)
    try:
        text = file.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    if file.suffix in (".yaml", ".yml", ".json"):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UsageError(f"{file} is not valid YAML: {exc}") from None
        if not isinstance(data, list):
            raise UsageError(f"{file} must hold a list of runs (mappings of overrides)")
        return [_overrides_of(item, f"{file} item {i}") for i, item in enumerate(data)]
    return [line.split() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def _dotted(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested and already-dotted keys alike → ``{"a.b": value}``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(_dotted(value, name))
        else:
            out[name] = value
    return out


def _overrides_of(item: Any, where: str) -> list[str]:
    if isinstance(item, Mapping):
        return [_override_text(k, v) for k, v in _dotted(item).items()]
    if isinstance(item, list) and all(isinstance(x, str) for x in item):
        return list(item)
    if isinstance(item, str):
        return item.split()
    raise UsageError(f"{where} is neither a mapping of overrides nor a list of KEY=VALUE")


def plan_sweep(base: Mapping[str, Any], command: Sequence[str], *,
               grid: Mapping[str, Sequence[Any]] | None = None,
               override_sets: Sequence[Sequence[str]] | None = None, **kw: Any) -> Plan:
    """A sweep: the grid's combinations, then the listed override sets."""
    rungs = grid_overrides(grid) if grid else []
    rungs += [list(s) for s in override_sets or ()]
    return build_plan("sweep", base, command, rungs, **kw)


# -- ladders --------------------------------------------------------------------------
def parse_rungs(text: str) -> list[list[str]]:
    """``"n_layer=2,d_model=32; n_layer=4,d_model=64"`` → one override list per rung."""
    rungs = []
    for part in text.split(";"):
        if part.strip():
            rungs.append([o.strip() for o in _split_values(part)])
    if not rungs:
        raise UsageError("--rungs is empty: write KEY=V,KEY=V; KEY=V,... (one rung per ';')")
    return rungs


def frontier_allocate(optimal: Callable[[float], tuple[float, float]], n_key: str,
                      d_key: str) -> Allocate:
    """Split a budget along a fitted law's compute-optimal frontier: ``optimal(C) -> (N, D)``
    (e.g. a Chinchilla fit's ``compute_optimal``)."""

    def allocate(budget: float) -> dict[str, Any]:
        if not (budget > 0 and math.isfinite(budget)):
            raise UsageError(f"a compute budget must be a positive number, not {budget}")
        n, d = optimal(budget)
        return {n_key: max(1, round(n)), d_key: max(1, round(d))}

    return allocate


def chinchilla_allocate(n_key: str, d_key: str, tokens_per_param: float = 20.0) -> Allocate:
    """Split a compute budget C into N params and D tokens with ``C = 6·N·D`` and ``D = r·N``."""
    if tokens_per_param <= 0:
        raise UsageError("--tokens-per-param must be positive")

    def allocate(budget: float) -> dict[str, Any]:
        if not (budget > 0 and math.isfinite(budget)):
            raise UsageError(f"a compute budget must be a positive number, not {budget}")
        n = math.sqrt(budget / (6.0 * tokens_per_param))
        return {n_key: max(1, round(n)), d_key: max(1, round(tokens_per_param * n))}

    return allocate


def parse_budgets(text: str) -> list[float]:
    try:
        budgets = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--budgets {text!r}: write FLOPs like 1e12,3e12,1e13") from None
    if not budgets:
        raise UsageError("--budgets is empty")
    return budgets


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: ``3`` → seeds 0, 1, 2; ``3-5`` → 3, 4, 5; ``7,9`` → 7 and 9."""
    text = text.strip()
    try:
        if "," in text:
            seeds = [int(v) for v in text.split(",") if v.strip()]
        elif "-" in text.lstrip("-"):
            low, high = (int(v) for v in text.split("-", 1))
            seeds = list(range(low, high + 1))
        else:
            seeds = list(range(int(text)))
    except ValueError:
        seeds = []
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise UsageError(f"--seeds {text!r}: give a count (3 runs seeds 0, 1, 2), a range "
                         "(3-5) or a list (7,9) of distinct seeds >= 0")
    return seeds


def rung_name(overrides: Sequence[str]) -> str:
    """The name ``--only`` selects a rung by: the value its overrides give ``rung``, else
    its label (``d_model=64,steps=120``)."""
    for text in overrides:
        parsed = parse_override(text)
        if parsed.key == "rung":
            return str(format_value(parsed.value))
    return _label(overrides)


def select_rungs(planned: Sequence[Sequence[str]], only: Sequence[str]) -> list[list[str]]:
    """The rungs named in ``only`` (see :func:`rung_name`), in the ladder's order; a name no
    rung has is refused with the names there are."""
    names = [rung_name(r) for r in planned]
    unknown = [n for n in only if n not in names]
    if unknown:
        raise UsageError(f"--only names {', '.join(unknown)}, which no rung of this ladder "
                         f"has (its rungs: {', '.join(names)})")
    return [list(r) for r, name in zip(planned, names, strict=True) if name in only]


def with_seeds(base: Mapping[str, Any], planned: Sequence[Sequence[str]],
               seeds: Sequence[int]) -> list[list[str]]:
    """Each rung once per seed (its ``seed`` set), rung by rung."""
    seed_key = ("" if "seed" in base or not base else "+") + "seed"
    out = []
    for rung in planned:
        if any(parse_override(o).key == "seed" for o in rung):
            raise UsageError(f"rung {_label(rung)} sets its seed: give seeds with --seeds or "
                             "in the rungs, not both")
        out += [[*rung, f"{seed_key}={seed}"] for seed in seeds]
    return out


def plan_ladder(base: Mapping[str, Any], command: Sequence[str], *,
                rungs: Sequence[Sequence[str] | Mapping[str, Any]] | None = None,
                budgets: Sequence[float] | None = None, allocate: Allocate | None = None,
                budget_key: str | None = "compute_budget", seeds: Sequence[int] | None = None,
                only: Sequence[str] | None = None, **kw: Any) -> Plan:
    """A scaling ladder: explicit rungs (override lists or mappings), or compute budgets
    turned into overrides by ``allocate`` (e.g. a fitted law's compute-optimal frontier).

    With budgets, each rung also sets ``budget_key`` (unless None) to its budget; keys the
    allocation sets that the base lacks are added. ``only`` keeps the rungs it names
    (:func:`select_rungs`); ``seeds`` runs each rung once per seed (:func:`with_seeds`)."""
    planned: list[list[str]] = []
    for i, rung in enumerate(rungs or ()):
        planned.append(_overrides_of(dict(rung), f"rung {i}") if isinstance(rung, Mapping)
                       else list(rung))
    if budgets:
        if allocate is None:
            raise UsageError("compute budgets need an allocation: pass allocate= "
                             "(or --n-key/--d-key on the command line)")
        known = set(_dotted(base))
        for budget in budgets:
            overrides = [("" if k in known or not known else "+") + _override_text(k, v)
                         for k, v in _dotted(allocate(budget)).items()]
            if budget_key:
                overrides.append(f"+{budget_key}={format_value(float(budget))}")
            planned.append(overrides)
    if only:
        planned = select_rungs(planned, only)
    if seeds:
        planned = with_seeds(base, planned, seeds)
    return build_plan("ladder", base, command, planned, **kw)
