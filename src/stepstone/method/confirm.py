"""Confirmation before promotion: a yes that must hold on fresh seeds.

A question asked with ``confirm`` (``question new ... --confirm``) is not promoted on its
first yes. When it is answered yes, :func:`ask` opens its confirming question: the same rule,
baseline and feature change, answered by runs on seeds the first answer did not use (a
launch that reuses one is refused, :func:`check_fresh`). ``baseline promote`` accepts the
first question only once the confirming one is answered yes (:func:`gate`); until then its
refusal prints the ladder that runs the confirmation (:func:`confirmation_command`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stepstone.errors import MethodError
from stepstone.method import notebook
from stepstone.method.relaunch import latest_ladder, relaunch_command, seeds_text
from stepstone.store.lab import Lab
from stepstone.store.questions import Question


def seeds_used(lab: Lab, question_id: str) -> dict[str, int]:
    """The seeds a question's runs used (smoke runs aside): seed → runs on it."""
    out: dict[str, int] = {}
    for run in lab.runs.list(question_id=question_id):
        if run.kind != "smoke":
            seed = str(run.seed if run.seed is not None else run.config.get("seed", run.id))
            out[seed] = out.get(seed, 0) + 1
    return out


def fresh_seeds(lab: Lab, question_id: str) -> list[int]:
    """As many seeds as the question ran at a rung, none of them one it used."""
    used = seeds_used(lab, question_id)
    per_rung: dict[str, set[str]] = {}
    for run in lab.runs.list(question_id=question_id):
        if run.kind != "smoke":
            rung = str(run.config.get("rung", run.summary.get("n_params")))
            per_rung.setdefault(rung, set()).add(str(run.seed))
    count = max((len(s) for s in per_rung.values()), default=1)
    numbers = [int(s) for s in used if s.lstrip("-").isdigit()]
    start = max(numbers, default=-1) + 1
    return list(range(start, start + count))


def ask(lab: Lab, question: Question) -> Question | None:
    """Open the confirming question of ``question`` (answered yes, asked with ``confirm``);
    None when it needs none or has one already."""
    if not question.confirm or lab.questions.confirming(question.id) is not None:
        return None
    qid = question.id
    new = lab.questions.create(
        text=f"Does {qid}'s yes hold on fresh seeds? ({question.text})", idea_id=None,
        metrics=list(question.metrics), rule=question.rule,
        timebox_hours=question.timebox_hours, baseline=question.baseline,
        confirms=qid)
    lab.questions.update(new, feature_keys=question.feature_keys,
                         feature_delta=question.feature_delta)
    notebook.write(lab, "plan", f"Confirm {qid} on fresh seeds",
                   f"{qid} was answered yes and asks for confirmation before promotion: "
                   f"{new} asks the same rule (`{question.rule}`) of runs on seeds {qid} "
                   f"did not use.\n\n`{confirmation_command(lab, qid, new)}`",
                   question_id=new, data={"confirms": qid})
    return lab.questions.get(new)


def confirmation_command(lab: Lab, question_id: str, confirming_id: str) -> str:
    """The ladder that runs the confirmation: the first question's latest ladder (its rungs
    and command, the feature given with ``--set``) on fresh seeds."""
    q = lab.questions.get(question_id)
    return relaunch_command(q, latest_ladder(lab, q), question_id=confirming_id,
                            seeds=fresh_seeds(lab, question_id))


def waiting(lab: Lab, question_id: str) -> tuple[str, str] | None:
    """The confirming question of ``question_id`` that is still open, and the command that
    runs its ladder; None when no confirmation waits."""
    confirming = lab.questions.confirming(question_id)
    if confirming is None or confirming.status != "open":
        return None
    return confirming.id, confirmation_command(lab, question_id, confirming.id)


def check_fresh(lab: Lab, question: Question | None,
                configs: Iterable[Mapping[str, Any]]) -> None:
    """Refuse runs of a confirming question on a seed the confirmed question used."""
    if question is None or not question.confirms:
        return
    first = str(question.confirms)
    used = seeds_used(lab, first)
    reused = sorted({str(c.get("seed")) for c in configs} & set(used))
    if reused:
        raise MethodError(f"question {question.id} confirms {first} on fresh seeds, and "
                          f"{first} already ran seed(s) {', '.join(reused)}: run seeds it did "
                          f"not use (--seeds {seeds_text(fresh_seeds(lab, first))})")


def gate(lab: Lab, question: Question) -> None:
    """Refuse to promote a question whose yes was not confirmed on fresh seeds (when it asks
    for confirmation), with what to run; a confirming question is not itself promoted."""
    qid = question.id
    if question.confirms:
        raise MethodError(f"question {qid} confirms {question.confirms}: promote "
                          f"{question.confirms} (`stepstone baseline promote TIER --from "
                          f"{question.confirms}`)")
    if not question.confirm:
        return
    confirming = lab.questions.confirming(qid)
    if confirming is None:
        raise MethodError(f"question {qid} asks that its yes hold on fresh seeds before "
                          f"promotion, and it has no confirming question: answer it with "
                          f"`stepstone decide {qid} --conclusion TEXT`, which asks one")
    cid = confirming.id
    if confirming.status != "answered":
        raise MethodError(
            f"question {qid} asks that its yes hold on fresh seeds before promotion, and its "
            f"confirmation {cid} is {confirming.status}: run `"
            f"{confirmation_command(lab, qid, cid)}`, then `stepstone decide {cid} "
            "--conclusion TEXT`")
    if confirming.answer != "yes":
        raise MethodError(f"question {qid}'s yes did not hold on fresh seeds: its confirmation "
                          f"{cid} was answered {confirming.answer}, so it is not promoted")
    reused = sorted(set(seeds_used(lab, cid)) & set(seeds_used(lab, qid)))
    if reused:
        raise MethodError(f"the confirmation {cid} of {qid} reran seed(s) {', '.join(reused)} "
                          f"of {qid}: a confirmation needs fresh seeds; ask a new question")
