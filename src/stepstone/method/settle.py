"""What would settle an inconclusive rule: how many seeds, at which rungs, and the ladder that
runs them.

A rule without a gain threshold is sized from the verdict's inconclusive comparisons of means
over seeds (:class:`~stepstone.method.rules.Unsettled`): the distance of the difference from
the threshold, the per-seed SD of the side measured on seeds (from its t interval), and the
other side's variance as what more seeds of it do not remove.

For a rule ``gain >= g0`` (or ``>``, ``<=``, ``<``) whose answer is inconclusive, each rung
whose interval holds ``g0`` is sized with :func:`stepstone.analysis.power.seeds_for_power`:
the true distance taken to be the measured one, ``|ln ĝ − ln g0|``, the per-seed noise the
rung's seed noise in ln-gain units (``GainRung.seed_sd``) and the baseline law's spread
(``GainRung.law_sd``) as what seeds cannot remove, at 80% power and the rule's 95%
confidence. A planned rung that never ran needs the same seeds. The command is
``stepstone ladder --baseline B --set K=V ... --question Q --rungs ... --seeds A-B --only
r3,r5 -- CMD``: the question's latest ladder on fresh seeds, at those rungs only. The math is
in docs/analysis.md ("Power").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stepstone.method import evidence
from stepstone.method.relaunch import latest_ladder, relaunch_command
from stepstone.method.rules import GAIN, Rule, Unsettled, bounds, parse_rule
from stepstone.store.lab import Lab
from stepstone.store.questions import Question

if TYPE_CHECKING:
    from stepstone.analysis.gain import GainResult

POWER = 0.8


@dataclass(frozen=True)
class Settle:
    """Seeds per rung (in all, existing ones counted) that settle the rule with ``power``
    at the named rungs, the command that runs them, and one line per rung."""

    seeds: int | None
    rungs: tuple[str, ...]
    command: str | None
    lines: tuple[str, ...] = field(default_factory=tuple)
    power: float = POWER

    def to_dict(self) -> dict[str, Any]:
        return {"seeds_per_rung": self.seeds, "rungs": list(self.rungs),
                "command": self.command, "why": list(self.lines), "power": self.power}


def gain_threshold(rule: Rule) -> float | None:
    """The threshold of the rule's first ``gain OP number`` comparison (None: none)."""
    return next((value for metric, _, value in bounds(rule) if metric == GAIN), None)


def what_would_settle(lab: Lab, question: Question, rule: Rule,
                      result: GainResult | None, seeds_at: Mapping[str, Sequence[Any]],
                      missing: Sequence[Any],
                      unsettled: Sequence[Unsettled] = ()) -> Settle | None:
    """The seeds (and rungs) that would settle an inconclusive rule: its gain threshold's
    rungs (``result``), else its inconclusive comparisons of means over seeds
    (``unsettled``, from the verdict); None when there is neither. ``seeds_at`` holds the
    seeds each rung ran (by label)."""
    from stepstone.analysis.power import seeds_for_power

    g0 = gain_threshold(rule)
    need: dict[str, int | None] = {}
    lines: list[str] = []
    if g0 is None or g0 <= 0 or result is None:
        if not unsettled:
            return None
        for item in unsettled:
            label = str(item.rung)
            k = seeds_for_power(item.distance, item.sd, fixed_var=item.fixed_var, power=POWER)
            if k is None:
                lines.append(f"rung {label}: no number of seeds settles it at {POWER:.0%} "
                             "power (the difference sits on the threshold, or the other "
                             "side's uncertainty alone is too wide)")
                need.setdefault(label, None)
                continue
            k = max(k, item.seeds + 1)
            pairs = " (paired: the baseline needs the same seeds)" if item.paired else ""
            lines.append(f"rung {label}: difference {item.distance:.3g} from the threshold, "
                         f"seed SD {item.sd:.3g}: {k} seeds give {POWER:.0%} power (it has "
                         f"{item.seeds}){pairs}")
            need[label] = max(k, need.get(label) or 0)
        return _settle(lab, question, need, lines, seeds_at, missing)
    for rung in result.rungs:
        have = len(seeds_at.get(rung.label, ())) or 1
        if not rung.defined or rung.gain is None:
            continue
        low = rung.ci_low if rung.ci_low is not None else 0.0
        high = rung.ci_high if rung.ci_high is not None else math.inf
        if not rung.caveat and not low <= g0 <= high:
            continue
        if rung.seed_sd is None or rung.law_sd is None:
            lines.append(f"rung {rung.label}: its seed noise is unknown (one seed and no "
                         "noise floor): measure the baseline's noise floor (`stepstone "
                         "baseline noise`) or run 2+ seeds, then decide again")
            need[rung.label] = None
            continue
        distance = abs(math.log(rung.gain / g0))
        k = seeds_for_power(distance, rung.seed_sd, fixed_var=rung.law_sd**2, power=POWER)
        if k is None:
            why = ("the gain sits on the threshold" if distance < 1e-9 else
                   f"the baseline law's own uncertainty (SD {rung.law_sd:.3g} in ln gain) is "
                   f"too wide for a distance of {distance:.3g}: add baseline runs near this "
                   "rung, not seeds")
            lines.append(f"rung {rung.label}: no number of seeds settles it at {POWER:.0%} "
                         f"power ({why})")
            need[rung.label] = None
            continue
        k = max(k, have + 1)
        lines.append(f"rung {rung.label}: gain {rung.gain:.3g} vs {g0:g}, seed noise SD "
                     f"{rung.seed_sd:.3g} and law SD {rung.law_sd:.3g} in ln gain: {k} seeds "
                     f"give {POWER:.0%} power (it has {have})")
        need[rung.label] = k
    return _settle(lab, question, need, lines, seeds_at, missing)


def _settle(lab: Lab, question: Question, need: dict[str, int | None],
            lines: list[str], seeds_at: Mapping[str, Sequence[Any]],
            missing: Sequence[Any]) -> Settle:
    """The seeds per rung (the most any rung needs), the rungs, and the ladder."""
    sized = [k for k in need.values() if k is not None]
    for label in missing:
        need[str(label)] = max(sized, default=None)
        lines.append(f"rung {label} was planned and never ran: run it too")
    total = max(sized, default=None)
    rungs = tuple(label for label, k in need.items() if k is not None or label in map(str, missing))
    if total is None or not rungs:
        return Settle(None, rungs, None, tuple(lines))
    have_min = min((len(seeds_at.get(r, ())) for r in rungs), default=0)
    command = ladder_command(lab, question, total - have_min, rungs)
    return Settle(total, rungs, command, tuple(lines))


def ladder_command(lab: Lab, question: Question, new_seeds: int,
                   only: Sequence[str]) -> str:
    """``stepstone ladder`` that runs ``new_seeds`` fresh seeds at the rungs ``only`` of the
    question's latest ladder (its rungs and command), with its baseline and feature change."""
    qid = question.id
    ladder = latest_ladder(lab, question)
    used = [int(s) for r in lab.runs.list(question_id=qid)
            if (s := str(r.seed if r.seed is not None else r.config.get("seed", ""))).isdigit()]
    start = max(used, default=-1) + 1
    seeds = range(start, start + max(new_seeds, 1))
    return relaunch_command(question, ladder, question_id=qid, seeds=seeds,
                            baseline=question.baseline or ladder.baseline,
                            only=[ladder.names.get(r, r) for r in only])






@dataclass(frozen=True)
class Detectable:
    """The smallest true gain a planned ladder detects at each rung (``gain`` None: why in
    ``note``), for a rule ``gain >= threshold`` at ``power``."""

    threshold: float
    seeds: int
    rungs: tuple[tuple[str, float, float | None, str], ...]  # label, compute, gain, note
    note: str = ""
    power: float = POWER

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "seeds_per_rung": self.seeds, "power": self.power,
                "note": self.note,
                "rungs": [{"rung": label, "compute": c, "min_detectable_gain": g, "note": n}
                          for label, c, g, n in self.rungs]}


def detectable_gains(lab: Lab, question: Question, version: str,
                     seeds: int) -> Detectable | None:
    """Before launch: the minimum detectable gain of a ladder at the baseline's own rungs
    with ``seeds`` seeds each, for the question's gain rule (None: the rule reads no gain).
    Per rung: the law's spread at the baseline's loss there (``law_spread``) and the noise
    floor in ln-gain units (``gain_noise``), ``g0·exp(detectable_effect)``."""
    from stepstone.analysis.gain import law_spread
    from stepstone.analysis.power import detectable_effect, gain_noise
    g0 = gain_threshold(parse_rule(question.rule))
    if g0 is None or g0 <= 0:
        return None
    law, _ = evidence.question_evidence(lab, question, version)
    if law.fit is None or law.points is None:
        return Detectable(g0, seeds, (), f"no baseline law to size the ladder with ({law.reason})")
    floor = evidence.version_floor(lab, version, law.metric)
    fit = law.fit
    e, alpha = fit.irreducible_loss, float(fit.form_impl.compute_exponent(fit.vector)[0])
    rows: list[tuple[str, float, float | None, str]] = []
    note = "" if floor is not None else (
        f"no noise floor of {law.metric} on {version}: the seed noise is unknown, so the "
        "figures count the law's uncertainty only (measure it: stepstone baseline noise)")
    by_compute = sorted(zip(law.points.compute, law.points.labels, strict=True))
    for compute, run_id in by_compute:
        label = evidence.rung_label(lab.runs.get(run_id))
        loss = float(fit.predict(compute)[0])
        spread = law_spread(fit, loss)
        if spread is None:
            rows.append((label, compute, None, "the law has no interval here"))
            continue
        seed_sd, dof = 0.0, math.inf
        if floor is not None and e is not None and loss > e and alpha > 0:
            seed_sd = gain_noise(floor.sd, loss, e, alpha)
            dof = float(seeds - 1) if seeds >= 2 else float(floor.n - 1)
        delta = detectable_effect(seed_sd, seeds, fixed_var=spread**2, dof=dof)
        rows.append((label, compute, g0 * math.exp(delta), ""))
    return Detectable(g0, seeds, tuple(rows), note)


__all__ = ["POWER", "Detectable", "Settle", "detectable_gains", "gain_threshold", "ladder_command",
           "what_would_settle"]
