"""What a launch may spend: the question's time box and its compute budget.

A question may carry a compute budget in FLOPs (``question new --budget 1e15``). Its runs
spend what they record (``flops`` in the summary), else what their config says they will
(``flops``, or 6·N·D from ``n_params`` and ``tokens``: a ladder planned with ``--budgets`` has
them). :func:`check_launch` refuses a launch for a question whose time box has run out, or
whose planned runs would take it past its budget; ``stepstone run``, ``ladder`` and ``sweep``
and the MCP server all ask it before anything starts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from stepstone.configs import flatten
from stepstone.errors import MethodError
from stepstone.method import questions as question_rules
from stepstone.method.selection import number
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord


def _leaf(values: Mapping[str, Any], name: str) -> float | None:
    for key in sorted(values, key=lambda k: (k.count("."), k)):
        if key.rsplit(".", 1)[-1] == name and (found := number(values, key)) is not None:
            return found
    return None


def estimate(config: Mapping[str, Any]) -> float | None:
    """The FLOPs a config says its run costs: ``flops``, else 6·``n_params``·``tokens``."""
    flat = flatten(config, strict=False)
    flops = _leaf(flat, "flops")
    if flops is not None:
        return flops
    n, d = _leaf(flat, "n_params"), _leaf(flat, "tokens")
    return 6.0 * n * d if n is not None and d is not None else None


def run_cost(run: RunRecord) -> float | None:
    """What a run spent (its summary's ``flops``), else what its config said it would."""
    return number(run.summary, "flops") or estimate(run.config)


@dataclass(frozen=True)
class Allowance:
    """Where a question stands: its compute budget and time box, spent and left."""

    question_id: str
    budget_flops: float | None
    spent_flops: float
    planned_flops: float | None
    deadline: float | None
    hours_left: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def spent(lab: Lab, question_id: str) -> float:
    """The FLOPs the question's runs (smoke runs aside) have spent or are spending."""
    return sum(run_cost(r) or 0.0 for r in lab.runs.list(question_id=question_id)
               if r.kind != "smoke" and r.status != "abandoned")


def check_launch(lab: Lab, question_id: str | None, configs: Sequence[Mapping[str, Any]],
                 now: float | None = None) -> Allowance | None:
    """Refuse (MethodError) a launch of ``configs`` for a question whose time box has run out
    or whose budget they would overrun; else where the question stands (None: no question)."""
    if question_id is None:
        return None
    q = lab.questions.get(question_id)
    now = time.time() if now is None else now
    end = question_rules.deadline(q)
    if end is not None and now > end:
        raise MethodError(
            f"question {question_id}'s time box ({q.timebox_hours:.3g}h) ran out "
            f"{(now - end) / 3600:.2g}h ago: decide it or abandon it; nothing was launched")
    budget = q.budget_flops
    costs = [estimate(c) for c in configs]
    planned = None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)
    used = spent(lab, question_id)
    if budget is not None:
        if planned is None:
            index = next(i for i, c in enumerate(costs) if c is None)
            raise MethodError(
                f"question {question_id} has a compute budget and run {index} of this launch "
                "says nothing of its cost: give each run flops, or n_params and tokens, in its "
                "config (a ladder with --budgets has them); nothing was launched")
        if used + planned > budget * (1 + 1e-9):
            raise MethodError(
                f"this launch would spend {planned:.3g} FLOPs and question {question_id} has "
                f"{max(budget - used, 0.0):.3g} of its {budget:.3g} budget left: plan fewer or "
                "smaller runs; nothing was launched")
    return Allowance(question_id, budget, used, planned, end,
                     None if end is None else (end - now) / 3600)
