"""A run in a page: what an agent (or a tired person) needs to judge it, sized for a model's
context.

Status and the reason it stopped; the question and the baseline; the config's change against
its baseline (what was really tested); whether it is a finished result (the schedule rule of
:mod:`stepstone.method.schedule`) and measured with its question's evaluator
(:mod:`stepstone.method.evaluator`); the health monitors' alerts; the numeric summary; and per
metric key the digest of :func:`stepstone.analysis.digest.digest_series` (first, last, min,
max, trend, non-finite points, anomalies). System series (``system/*``) are counted, not
digested; held-out results (``heldout/*``) are left out: they are read with the question's
budget of looks (:mod:`stepstone.method.holdout`); past :data:`MAX_KEYS` keys the rest are
named only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from stepstone.analysis.digest import SeriesDigest, digest_series
from stepstone.configs import flatten
from stepstone.method import evaluator
from stepstone.method.holdout import is_heldout
from stepstone.method.schedule import schedule_incomplete
from stepstone.store.alerts import Alert
from stepstone.store.lab import Lab
from stepstone.store.metrics import is_system_key
from stepstone.store.runs import numeric

MAX_KEYS = 40
"""At most this many metric keys are digested; the others are listed by name."""
MAX_SUMMARY = 40
"""At most this many numeric summary keys are shown."""


@dataclass(frozen=True)
class RunDigest:
    """One run, digested."""

    id: str
    name: str
    status: str
    reason: str | None
    kind: str
    question_id: str | None
    baseline: str | None
    config_delta: dict[str, Any] | None
    seed: int | None
    last_step: int | None
    duration_s: float | None
    not_a_finished_result: str | None
    evaluator_differs: str | None
    alerts: tuple[Alert, ...]
    summary: dict[str, float]
    metrics: tuple[SeriesDigest, ...]
    more_keys: tuple[str, ...] = ()
    system_keys: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["metrics"] = [asdict(m) for m in self.metrics]
        return out


def digest(lab: Lab, ref: str) -> RunDigest:
    """The digest of the run ``ref`` (an id, a unique prefix or a unique name)."""
    run = lab.runs.get(ref)
    history = lab.metrics.history(run.id)
    keys = [k for k in history if not is_system_key(k) and not is_heldout(k)]
    digests = tuple(digest_series(k, history[k].steps, history[k].values)
                    for k in keys[:MAX_KEYS])
    summary: dict[str, float] = {}
    for key, value in flatten(run.summary, strict=False).items():
        number = numeric(value)
        if (number is not None and not isinstance(value, bool) and not is_heldout(key)
                and len(summary) < MAX_SUMMARY):
            summary[key] = number
    notes = list(run.capture_notes or [])
    return RunDigest(
        id=run.id, name=run.name, status=run.status, reason=run.reason, kind=run.kind,
        question_id=run.question_id, baseline=run.baseline, config_delta=run.config_delta,
        seed=run.seed, last_step=run.last_step, duration_s=run.duration,
        not_a_finished_result=schedule_incomplete(lab, run),
        evaluator_differs=evaluator.differs(lab, run),
        alerts=tuple(lab.alerts.of_runs([run.id])),
        summary=summary, metrics=digests, more_keys=tuple(keys[MAX_KEYS:]),
        system_keys=sum(1 for k in history if is_system_key(k)), notes=tuple(notes))
