"""A feature that proved itself becomes a new dated version of its tier (``stepstone baseline
promote TIER --from Q``): the question answered yes (and held on fresh seeds when a
confirmation was asked), asked against that tier, with a recorded change, not promoted before,
and passing the tier's evaluation suites."""

from __future__ import annotations

from stepstone.display import day
from stepstone.errors import MethodError
from stepstone.method import confirm as confirm_rules
from stepstone.method import ideas as idea_rules
from stepstone.method import notebook, suites
from stepstone.method.baselines import apply_delta, resolve
from stepstone.store.baselines import BaselineVersion
from stepstone.store.lab import Lab


def promote(lab: Lab, tier: str, question_id: str) -> BaselineVersion:
    """A new dated version of ``tier``: its current config plus the question's proven delta."""
    question = lab.questions.get(question_id)
    if question.status != "answered" or question.answer != "yes":
        state = question.status + (f" ({question.answer})" if question.answer else "")
        raise MethodError(f"question {question_id} is {state}: only a question answered yes "
                          "may be promoted into a baseline")
    confirm_rules.gate(lab, question)  # a yes asked to hold on fresh seeds must have held
    parent = resolve(lab, tier)
    asked = (question.baseline or "").split("@", 1)[0]
    if asked and asked != parent.tier:
        raise MethodError(f"question {question_id} was asked against {asked}, not {tier}")
    delta = question.feature_delta or {}
    if not delta:
        raise MethodError(f"question {question_id} has no recorded feature change: plan its "
                          "runs with `stepstone plan --question` or `stepstone run --question`")
    if any(f.question_id == question_id for v in lab.baselines.list(parent.tier)
           for f in lab.baselines.features(v.version)):
        raise MethodError(f"question {question_id} is already promoted into {parent.tier}")
    suites.gate(lab, parent.tier, question_id)  # a promotion must pass the tier's suites
    metric = next((m for m in question.metrics if m != "gain"),
                  parent.reference_metric)
    version = lab.baselines.create(
        tier=parent.tier, day=day(), parent=parent.version,
        config=apply_delta(parent.config, delta), reference_metric=metric,
        features=[(question_id, delta)],
    )
    idea_rules.follow(lab, question.idea_id, "adopted", f"promoted into {version}")
    notebook.write(lab, "decision", f"Promoted {question_id} into {version}",
                   f"{version} = {parent.version} + the change proven by {question_id}:\n"
                   + "\n".join(f"- {k} = {v}" for k, v in delta.items()),
                   question_id=question_id, data={"version": version, "delta": delta})
    return lab.baselines.get(version)
