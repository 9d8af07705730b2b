"""What a run needs before launch: its config resolved from a dated baseline, the diff
shown, the feature really on and nothing else changed (one function, used by
``stepstone plan``, ``stepstone run`` and the ladder/sweep launcher), the question it
answers checked and linked.

The rules every launch shares live here: which baseline a launch starts from
(:func:`launch_baseline`), which question may take new runs (:func:`open_question`),
which keys are the feature's, and what change a question records for a later promotion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stepstone.configs import ConfigDiff, VerifyResult, diff, parse_override, resolve, verify
from stepstone.errors import ConfigError, MethodError, UsageError
from stepstone.method import baselines as baseline_rules
from stepstone.method import confirm as confirm_rules
from stepstone.method import questions as question_rules
from stepstone.store.lab import Lab
from stepstone.store.questions import Question

Verifier = Callable[[Mapping[str, Any], Sequence[str]], tuple[dict[str, Any], list[str]]]
"""``verify(config, varied_keys) -> (config to run, problems)``: the baseline check of one
planned run; ``varied_keys`` are the keys the plan sets for that run (its axes)."""


def split_keys(values: Iterable[str]) -> list[str]:
    """``--feature a,b --feature c`` → ``["a", "b", "c"]``."""
    return [k.strip() for v in values for k in v.split(",") if k.strip()]


def open_question(lab: Lab, question: str | None, tier: str | None = None,
                  version: str | None = None) -> Question | None:
    """The question a launch answers, refused when it takes no new runs (answered or
    abandoned) or was asked against another tier than ``tier``."""
    if question is None:
        return None
    q = lab.questions.get(question)
    if q.status in ("answered", "abandoned"):
        raise MethodError(f"question {question} is {q.status}: ask a new question "
                          "for new runs")
    if tier is not None and q.baseline and q.baseline.split("@")[0] != tier:
        raise MethodError(f"question {question} is asked against {q.baseline}, "
                          f"not {version or tier}")
    return q


def launch_baseline(lab: Lab, *, baseline: str | None, question: str | None,
                    config_given: bool = False) -> str | None:
    """The baseline a launch starts from and is verified against: ``--baseline``, else the
    one the question was asked against (None when neither names one). A baseline and
    ``--config`` both name the starting config, so they are refused together."""
    if baseline is not None:
        if config_given:
            raise UsageError("--baseline and --config both name the starting config: give one")
        return baseline
    asked = lab.questions.get(question).baseline if question is not None else None
    if asked and config_given:
        raise UsageError(f"question {question} is asked against {asked}: its runs start from "
                         "that baseline's config and are verified against it; drop --config "
                         "and give the feature with --set")
    return str(asked) if asked else None


def _feature_keys(given: Sequence[str], question: Question | None,
                  overrides: Sequence[str]) -> list[str]:
    """The keys a launch tests: the ones given (``--feature``), else the question's recorded
    ones, else the overridden keys except the ones every run may change (seed, smoke)."""
    return (list(given) or list((question.feature_keys if question else None) or [])
            or [parse_override(o).key for o in overrides
                if parse_override(o).key.split(".")[0] not in ("seed", "smoke")])


def _feature_delta(reference: Mapping[str, Any], config: Mapping[str, Any],
                   keys: Sequence[str]) -> dict[str, Any]:
    """The change ``config`` makes to ``reference`` under the feature keys."""
    return {e.key: e.new for e in diff(reference, config).entries
            if any(_covers(f, e.key) for f in keys)}


@dataclass(frozen=True)
class Prepared:
    """A config ready to launch against a baseline version, and the proof of it."""

    config: dict[str, Any]
    diff: ConfigDiff
    verify_result: VerifyResult
    baseline_version: str
    delta: dict[str, Any]
    feature_keys: tuple[str, ...] = ()
    question_id: str | None = None
    feature_delta: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verify_result.ok

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline_version, "question": self.question_id,
                "feature_keys": list(self.feature_keys), "delta": self.delta,
                "feature_delta": self.feature_delta, "diff": self.diff.render(),
                "verify": self.verify_result.to_dict(), "config": self.config}


def _covers(prefix: str, key: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")


def prepare_launch(
    lab: Lab,
    *,
    baseline: str,
    overrides: Sequence[str] = (),
    feature_keys: Sequence[str] = (),
    allowed: Sequence[str] = (),
    question: str | None = None,
    strict: bool = True,
    launching: bool = False,
) -> Prepared:
    """Resolve ``baseline`` + ``overrides``, diff and verify it; with ``strict`` raise
    ConfigError (listing the diff and every problem) when it does not verify.

    Feature keys default to the question's recorded ones, else to the overridden keys.
    With a question, the feature's change is recorded on it (for a later promotion);
    ``launching`` also moves the question from open to running.
    """
    base = baseline_rules.resolve(lab, baseline)
    q = open_question(lab, question, base.tier, base.version)
    effective = baseline_rules.effective_config(lab, base)
    config = resolve(effective, list(overrides))
    keys = _feature_keys(feature_keys, q, overrides)
    result = verify(effective, config, keys, allowed)
    delta = {e.key: e.new for e in result.diff.entries}
    feature_delta = _feature_delta(effective, config, keys)
    prepared = Prepared(config=config, diff=result.diff, verify_result=result,
                        baseline_version=base.version, delta=delta,
                        feature_keys=tuple(keys), question_id=question,
                        feature_delta=feature_delta)
    if strict and not result.ok:
        raise ConfigError(problems_text(prepared))
    confirm_rules.check_fresh(lab, q, [config])
    if q is not None and result.ok:
        lab.questions.update(q.id, feature_keys=list(keys), feature_delta=feature_delta)
        if launching:
            question_rules.start(lab, q.id)
    return prepared


def plan_verifier(
    lab: Lab, *, baseline: str, feature_keys: Sequence[str] = (), question: str | None = None,
) -> Verifier:
    """The check of every run a ladder or sweep plans against ``baseline``: the keys the
    plan varies (its axes: sizes, seeds) may differ, the feature keys (given, or the
    question's recorded ones) must differ, and nothing else may."""
    base = baseline_rules.effective_config(lab, baseline_rules.resolve(lab, baseline))
    q = lab.questions.get(question) if question is not None else None
    return _run_check(base, _feature_keys(feature_keys, q, ()))


def _run_check(base: Mapping[str, Any], keys: Sequence[str]) -> Verifier:
    def check(config: Mapping[str, Any], varied: Sequence[str]) -> tuple[dict[str, Any],
                                                                        list[str]]:
        result = verify(base, dict(config), keys, list(varied))
        return dict(config), list(result.problems)

    return check


@dataclass(frozen=True)
class PlanBasis:
    """What a ladder or sweep is planned from: the config every planned run starts from,
    the dated baseline version it is verified against (and that version's config, which
    each run's ``config_delta`` is measured against), the question it answers, and the
    check of each planned run."""

    base: dict[str, Any]
    baseline_version: str | None = None
    baseline_config: dict[str, Any] | None = None
    question_id: str | None = None
    feature_keys: tuple[str, ...] = ()
    verify: Verifier | None = None

    @property
    def options(self) -> dict[str, Any]:
        """What the plan stores besides its runs: the feature keys it tests, if any."""
        return {"feature_keys": list(self.feature_keys)} if self.feature_keys else {}


def prepare_plan(
    lab: Lab,
    *,
    baseline: str | None = None,
    config: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    feature_keys: Sequence[str] = (),
    question: str | None = None,
) -> PlanBasis:
    """The basis of a ladder or sweep, checked as ``stepstone run`` checks one run.

    The base is the baseline's frozen config (``--baseline``, else the question's) plus
    ``overrides``, or ``config`` plus ``overrides`` when there is no baseline. The question
    must take new runs and be asked against the same tier. Feature keys default as for
    ``stepstone run``: the question's recorded ones, else the overridden keys.
    """
    chosen = launch_baseline(lab, baseline=baseline, question=question,
                             config_given=config is not None)
    if chosen is None:
        open_question(lab, question)
        if feature_keys:
            raise UsageError("--feature needs a baseline to verify the feature against: "
                             "give --baseline (or a --question asked against one)")
        return PlanBasis(base=resolve(dict(config or {}), list(overrides)),
                         question_id=question)
    row = baseline_rules.resolve(lab, chosen)
    q = open_question(lab, question, row.tier, row.version)
    keys = _feature_keys(feature_keys, q, overrides)
    effective = baseline_rules.effective_config(lab, row)
    return PlanBasis(base=resolve(effective, list(overrides)),
                     baseline_version=row.version, baseline_config=effective,
                     question_id=question, feature_keys=tuple(keys),
                     verify=_run_check(effective, keys))


def link_plan(lab: Lab, basis: PlanBasis, configs: Sequence[Mapping[str, Any]], *,
              launching: bool) -> dict[str, Any]:
    """Link a verified plan to its question, as ``stepstone run`` links a run: record the
    feature change every planned run makes (the keys and values a later ``baseline
    promote`` applies) and, when ``launching``, move the question from open to running.

    Returns the recorded change; keys whose value differs between the planned runs (a
    sweep over the feature's values) are not a single change and are left out.
    """
    if basis.question_id is None:
        return {}
    confirm_rules.check_fresh(lab, lab.questions.get(basis.question_id), configs)
    common: dict[str, Any] = {}
    if basis.baseline_config is not None and basis.feature_keys and configs:
        deltas = [_feature_delta(basis.baseline_config, c, basis.feature_keys) for c in configs]
        common = {k: v for k, v in deltas[0].items()
                  if all(k in d and d[k] == v for d in deltas[1:])}
    if common:
        lab.questions.update(basis.question_id, feature_keys=list(basis.feature_keys),
                             feature_delta=common)
    if launching:
        question_rules.start(lab, basis.question_id)
    return common


def problems_text(prepared: Prepared) -> str:
    lines = "\n".join(f"- {p}" for p in prepared.verify_result.problems)
    return (f"the config does not verify against {prepared.baseline_version}:\n{lines}\n"
            f"diff against the baseline:\n{prepared.diff.render()}")

