"""What a run needs before launch: its config resolved from a dated baseline, the diff
shown, the feature really on and nothing else changed (one function, used by
``stepstone plan``, ``stepstone run`` and the ladder/sweep launcher), and a smoke run."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from stepstone.config import ConfigDiff, VerifyResult, parse_override, resolve, verify
from stepstone.errors import ConfigError, MethodError
from stepstone.method import baselines as baseline_rules
from stepstone.method import questions as question_rules
from stepstone.store.lab import Lab


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
    q = lab.questions.get(question) if question is not None else None
    if q is not None and q["status"] in ("answered", "abandoned"):
        raise MethodError(f"question {question} is {q['status']}: ask a new question")
    if q is not None and q.get("baseline") and q["baseline"].split("@")[0] != base["tier"]:
        raise MethodError(f"question {question} is asked against {q['baseline']}, "
                          f"not {base['version']}")
    config = resolve(base["config"], list(overrides))
    keys = list(feature_keys) or list((q or {}).get("feature_keys") or [])
    if not keys:
        keys = [parse_override(o).key for o in overrides
                if parse_override(o).key.split(".")[0] not in ("seed", "smoke")]
    result = verify(base["config"], config, keys, allowed)
    delta = {e.key: e.new for e in result.diff.entries}
    feature_delta = {k: v for k, v in delta.items() if any(_covers(f, k) for f in keys)}
    prepared = Prepared(config=config, diff=result.diff, verify_result=result,
                        baseline_version=base["version"], delta=delta,
                        feature_keys=tuple(keys), question_id=question,
                        feature_delta=feature_delta)
    if strict and not result.ok:
        raise ConfigError(problems_text(prepared))
    if q is not None and result.ok:
        lab.questions.update(q["id"], feature_keys=list(keys), feature_delta=feature_delta)
        if launching:
            question_rules.start(lab, q["id"])
    return prepared


def plan_verifier(
    lab: Lab, *, baseline: str, feature_keys: Sequence[str] = (), question: str | None = None,
) -> Callable[[Mapping[str, Any], Sequence[str]], tuple[dict[str, Any], list[str]]]:
    """The check of every run a ladder or sweep plans against ``baseline``: the keys the
    plan varies (its axes: sizes, seeds) may differ, the feature keys (given, or the
    question's recorded ones) must differ, and nothing else may."""
    base = baseline_rules.resolve(lab, baseline)["config"]
    q = lab.questions.get(question) if question is not None else None
    keys = list(feature_keys) or list((q or {}).get("feature_keys") or [])

    def check(config: Mapping[str, Any], varied: Sequence[str]) -> tuple[dict[str, Any],
                                                                        list[str]]:
        result = verify(base, dict(config), keys, list(varied))
        return dict(config), list(result.problems)

    return check


def problems_text(prepared: Prepared) -> str:
    lines = "\n".join(f"- {p}" for p in prepared.verify_result.problems)
    return (f"the config does not verify against {prepared.baseline_version}:\n{lines}\n"
            f"diff against the baseline:\n{prepared.diff.render()}")


SMOKE_ENV = "STEPSTONE_SMOKE"


def smoke_spec(spec: Any) -> Any:
    """The tiny form of a LaunchSpec: kind smoke, ``smoke: true`` and STEPSTONE_SMOKE=1."""
    return replace(spec, kind="smoke", name=f"{spec.name or 'run'}-smoke",
                   config={**dict(spec.config), "smoke": True},
                   env={**dict(spec.env), SMOKE_ENV: "1"}, run_id=None)


def run_smoke(lab: Lab, spec: Any, *, echo: bool = True) -> Any:
    """Run the smoke form of ``spec`` end to end; a failure stops the launch (MethodError)."""
    from stepstone.launch.process import run_attached
    from stepstone.method.notebook import record_run_result

    record = run_attached(lab, smoke_spec(spec), echo=echo)
    if record.status != "finished":
        record_run_result(lab, record.id)
        raise MethodError(f"the smoke run {record.id} {record.status}"
                          + (f" ({record.reason})" if record.reason else "")
                          + ": the real run was not launched")
    return record
