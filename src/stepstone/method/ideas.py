"""Ideas in the parking lot: how they move, and how they rank (expected signal per cost)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

from stepstone.errors import MethodError, UsageError
from stepstone.method import memory
from stepstone.store.ideas import Idea, IdeaEvent
from stepstone.store.lab import Lab

SIGNALS = {"low": 1.0, "medium": 2.0, "high": 3.0}
STATUSES = ("parked", "picked", "tested", "adopted", "dropped")
# which status an idea may move to from which
MOVES: dict[str, tuple[str, ...]] = {
    "parked": ("picked", "dropped"),
    "picked": ("parked", "tested", "dropped"),
    "tested": ("adopted", "dropped", "picked"),
    "adopted": (),
    "dropped": ("parked",),
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_HOURS = {"s": 1 / 3600, "m": 1 / 60, "min": 1 / 60, "h": 1.0, "d": 24.0, "w": 168.0}


@dataclass(frozen=True)
class Scored:
    """An idea and its score (expected signal per hour of cost), as the ranked list holds it."""

    idea: Idea
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.idea.to_dict(), "score": self.score}


@dataclass(frozen=True)
class IdeaDetail:
    """An idea and every move it made; with its score where it is shown, and the earlier
    ideas and questions most like it where it was just parked."""

    idea: Idea
    events: tuple[IdeaEvent, ...]
    score: float | None = None
    similar: tuple[memory.Recalled, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {**self.idea.to_dict(), "events": [e.to_dict() for e in self.events]}
        if self.score is not None:
            out["score"] = self.score
        if self.similar is not None:
            out["similar"] = [r.to_dict() for r in self.similar]
        return out


def parse_hours(text: str | None, what: str = "a duration") -> float | None:
    """``3h`` → 3.0, ``30m`` → 0.5, ``2d`` → 48.0, a bare number is hours; None stays None."""
    if text is None or str(text).strip() == "":
        return None
    match = _DURATION.match(str(text))
    if not match:
        raise UsageError(f"{what} is a number with a unit (90m, 3h, 2d), not {text!r}")
    unit = (match.group(2) or "h").lower()
    return float(match.group(1)) * _UNIT_HOURS[unit]


def parse_flops(text: str | float | None) -> float | None:
    """A compute budget in FLOPs: ``"1e15"`` → 1e15; None stays None; anything but a positive
    number is refused."""
    if text is None or str(text).strip() == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"--budget is a positive number of FLOPs (1e15), not {text!r}")
    return value


def score(idea: Idea) -> float:
    """Expected signal per hour of cost (an unknown cost counts as 8 hours)."""
    cost = idea.cost_hours or 8.0
    return SIGNALS.get(idea.signal, 1.0) / max(cost, 1e-6)


def _detail(lab: Lab, idea_id: str) -> IdeaDetail:
    return IdeaDetail(lab.ideas.get(idea_id), tuple(lab.ideas.events(idea_id)))


def add(lab: Lab, title: str, *, source: str | None = None, cost: str | None = None,
        signal: str = "medium", reason: str | None = None) -> IdeaDetail:
    """Park a new idea; ``similar`` holds the earlier ideas and questions most like it, with
    what became of them (:func:`stepstone.method.memory.similar`)."""
    if not title.strip():
        raise UsageError("an idea needs a title")
    if signal not in SIGNALS:
        raise UsageError(f"--signal is one of {', '.join(SIGNALS)}, not {signal!r}")
    hours = parse_hours(cost, "--cost")
    idea_id = lab.ideas.add(title=title.strip(), source=source, cost_hours=hours, signal=signal,
                            reason=reason or "parked when added")
    similar = memory.similar(lab, f"{title} {source or ''}", exclude=("idea", idea_id))
    return replace(_detail(lab, idea_id), similar=tuple(similar))


def describe(lab: Lab, idea_id: str) -> IdeaDetail:
    """One idea with its score and every move it made (what ``idea show`` prints)."""
    detail = _detail(lab, idea_id)
    return replace(detail, score=score(detail.idea))


def ranked(lab: Lab, status: str | None = None, *, include_closed: bool = False
           ) -> list[Scored]:
    """Ideas by expected signal per cost, best first; adopted and dropped ones last."""
    ideas = lab.ideas.list(status)
    if not include_closed and status is None:
        ideas = [i for i in ideas if i.status not in ("adopted", "dropped")]
    rows = [Scored(i, score(i)) for i in ideas]
    return sorted(rows, key=lambda r: (r.idea.status in ("adopted", "dropped"), -r.score))


def move(lab: Lab, idea_id: str, to: str, reason: str | None) -> IdeaDetail:
    """Move an idea to ``to`` with a reason; the method says which moves exist."""
    if not reason or not reason.strip():
        raise UsageError(f"moving an idea to {to} needs a reason: --reason '...'")
    idea = lab.ideas.get(idea_id)
    if to not in MOVES[idea.status]:
        allowed = ", ".join(MOVES[idea.status]) or "nothing (it is final)"
        raise MethodError(f"idea {idea_id} is {idea.status}: it can move to {allowed}, "
                          f"not {to}")
    lab.ideas.move(idea_id, to, reason.strip())
    return _detail(lab, idea_id)


def follow(lab: Lab, idea_id: str | None, to: str, reason: str) -> None:
    """Move an idea along when its question moves (silently skip a move that does not exist)."""
    if not idea_id:
        return
    idea = lab.ideas.get(idea_id)
    if to in MOVES[idea.status]:
        lab.ideas.move(idea_id, to, reason)
