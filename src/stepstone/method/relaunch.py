"""A question's latest ladder, to launch it again on other seeds: the shape of the command
that :mod:`stepstone.method.settle` prints to settle a rule and :mod:`stepstone.method.confirm`
prints to confirm a yes (kept apart from both so that a run's end, which checks promotion
gates, loads no rule parser)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stepstone.configs import format_value, parse_override
from stepstone.store.lab import Lab
from stepstone.store.questions import Question


@dataclass(frozen=True)
class LatestLadder:
    """A question's latest ladder: each rung's overrides as ``ladder --rungs`` takes them (the
    feature and the seed left out), how ``ladder --only`` names each rung (by the rung as
    decide labels it), its command and its baseline."""

    rungs: tuple[str, ...]
    names: Mapping[str, str]
    command: str
    baseline: str | None


def latest_ladder(lab: Lab, question: Question) -> LatestLadder:
    """The shape of the question's latest ladder, to launch it again on other seeds."""
    qid = question.id
    keys = set(question.feature_keys or []) | set(question.feature_delta or {})
    plans = [p for p in lab.plans.recent() if p.question_id == qid and p.kind == "ladder"]
    if not plans:
        return LatestLadder((), {}, "COMMAND", None)
    rungs: list[str] = []
    names: dict[str, str] = {}
    for planned in lab.plans.runs(plans[0].id):
        kept = [o for o in planned.overrides if parse_override(o).key not in keys | {"seed"}]
        if (text := ",".join(kept)) and text not in rungs:
            rungs.append(text)
        names[str(config_rung(planned.config))] = _only_name(kept)
    return LatestLadder(tuple(rungs), names, shlex.join(plans[0].command), plans[0].baseline)


def relaunch_command(question: Question, ladder: LatestLadder, *, question_id: str,
                     seeds: Sequence[int], baseline: str | None = None,
                     only: Sequence[str] = ()) -> str:
    """``stepstone ladder [--baseline B] --set K=V ... --question Q --rungs ... --seeds A-B
    [--only r3,r5] -- CMD``: ``ladder`` again with the question's feature change, on ``seeds``
    (consecutive), for ``question_id``."""
    parts = ["stepstone", "ladder"] + (["--baseline", str(baseline)] if baseline else [])
    for key, value in (question.feature_delta or {}).items():
        parts += ["--set", f"{key}={format_value(value)}"]
    parts += ["--question", question_id, "--rungs", "; ".join(ladder.rungs) or "RUNGS",
              "--seeds", seeds_text(seeds)]
    if only:
        parts += ["--only", ",".join(only)]
    return shlex.join(parts) + " -- " + ladder.command


def seeds_text(seeds: Sequence[int]) -> str:
    """Consecutive seeds as ``ladder --seeds`` takes them: ``2-3``, or ``4`` alone."""
    return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])


def config_rung(config: Mapping[str, Any]) -> Any:
    """A planned run's rung from its config, as :func:`stepstone.method.evidence.rung_of`
    reads a run's: ``rung``, else ``n_params``, else ``flops`` (an integral float an int)."""
    for key in ("rung", "n_params", "flops"):
        if config.get(key) is not None:
            value = config[key]
            return int(value) if isinstance(value, float) and value.is_integer() else value
    return None


def _only_name(overrides: Sequence[str]) -> str:
    """How ``ladder --only`` names a rung (stepstone.launch.plan.rung_name, which this layer
    cannot import): the value its overrides give ``rung``, else its label."""
    for text in overrides:
        parsed = parse_override(text)
        if parsed.key == "rung":
            return str(format_value(parsed.value))
    return ",".join(o.lstrip("+~") for o in overrides)


__all__ = ["LatestLadder", "config_rung", "latest_ladder", "relaunch_command", "seeds_text"]
