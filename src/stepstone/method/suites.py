"""Evaluation suites: what answered a question becomes the standard later runs are held to.

A suite is a list of checks, each ``metric op threshold`` on a run:

* ``threshold`` — a metric that answered the question, at the value the adopted baseline met
  (its worst run, less the noise: the seed spread, or 1% with one run);
* ``constraint`` — a hard limit (latency, memory, cost), from the question's rule, from
  ``--constraint`` or from the cost-like metrics of the adopted runs (their worst value plus
  10%);
* ``bucket`` — the worst-case bucket of a per-example evaluation (e.g. ``num_kv_pairs = 8``):
  its mean accuracy (or score) over the records in that bucket, from the final evaluation
  (:func:`final_records`: the records of the last step, not an average over every step).

A suite is for one scale. When the adopted runs span several rungs (a ladder; a run's rung is
:func:`stepstone.method.evidence.rung_of`), the thresholds come from the runs at one rung only
— the largest, or the one asked for — and the spec records it (``rung``, with the ladder's
``rungs``); a run is checked only when it is at that rung (:func:`scale_mismatch`), and a run
of another scale is skipped, saying so. Checks and specs are read in
:mod:`stepstone.method.suite_spec`, the scale in :mod:`stepstone.method.suite_scale`.

:func:`distill` writes one from a question's runs and decision; :func:`create` reads one
written by hand (YAML or JSON). Suites are versioned like baselines (``recall@2026-11-21``,
``.2`` the same day): a version is frozen, an edit is a new version. A suite attaches to a
baseline tier: every finished run of that tier (``baseline`` a version of the tier) is checked
when its result page is written (:func:`check_on_finish`), and a promotion into the tier must
pass it (:func:`gate`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from stepstone.configs import load_config
from stepstone.display import day
from stepstone.errors import MethodError, NotFoundError, UsageError
from stepstone.method import notebook
from stepstone.method.baselines import (
    NOISE_TOLERANCE,
    lower_is_better,
    metric_words,
    resolve,
)
from stepstone.method.rules import bounds, metrics_used, parse_rule
from stepstone.method.suite_scale import at_scale, scale_mismatch
from stepstone.method.suite_spec import NAME, check_text, normalize_spec, parse_check
from stepstone.store.evals import EvalRecord
from stepstone.store.lab import Lab
from stepstone.store.questions import Question
from stepstone.store.runs import RunRecord, numeric
from stepstone.store.suites import Check, CheckResult, SuiteVersion

CONSTRAINT_TOLERANCE = 0.10
"""A cost-like metric found on the adopted runs is held to its worst value plus 10%."""
MAX_LEVELS = 12
"""A bucket field with more distinct values than this is not distilled (bin it first)."""
COST_WORDS = frozenset(("latency", "latencies", "memory", "mem", "cost", "costs", "vram"))
"""A metric is cost-like (a constraint, not a threshold) when one of these is a whole word of
its name (:func:`stepstone.method.baselines.metric_words`): ``latency_ms``, ``peak_mem_gb``,
``vramGB``; not ``costume_acc`` or ``peak_memorization``."""
_SKIP_FIELDS = {"id", "score", "correct", "prediction", "name", "step"}


@dataclass(frozen=True)
class SuiteResult:
    """A run against one suite version: ``passed`` with each check's result, or (``passed``
    None) ``skipped`` with why (the suite holds another scale). ``recorded`` is set where
    it matters (:func:`standing`): whether the check was recorded, or made now."""

    suite: str  # the suite version
    run_id: str
    passed: bool | None
    results: tuple[CheckResult, ...] = ()
    skipped: str | None = None
    recorded: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"suite": self.suite, "run_id": self.run_id,
                               "passed": self.passed}
        if self.skipped is not None:
            out["skipped"] = self.skipped
        out["results"] = [r.to_dict() for r in self.results]
        if self.recorded is not None:
            out["recorded"] = self.recorded
        return out


@dataclass(frozen=True)
class FailingRun:
    """A run whose newest check against a suite version failed, and the checks it failed."""

    run_id: str
    suite: str
    failed: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "suite": self.suite, "failed": list(self.failed)}


# ----------------------------------------------------------------------------- versions
def _save(lab: Lab, name: str, spec: dict[str, Any], tier: str | None,
          question_id: str | None) -> SuiteVersion:
    if not NAME.match(name) or "@" in name:
        raise UsageError(f"a suite name is a plain name like recall or latency, not {name!r}")
    if tier is not None:
        tier = tier.split("@", 1)[0]
        if not lab.baselines.list(tier):
            raise NotFoundError(f"no baseline tier {tier!r} to attach the suite to: "
                                "`stepstone baseline list` shows them")
    parent = lab.suites.current(name)
    version = lab.suites.create(name=name, day=day(),
                                parent=parent.version if parent else None,
                                tier=tier, question_id=question_id,
                                spec=normalize_spec({**spec, "name": name, "tier": tier}))
    return lab.suites.get(version)


def create(lab: Lab, name: str, spec: Path | str | Mapping[str, Any], *,
           tier: str | None = None) -> SuiteVersion:
    """A new version of suite ``name`` from a spec written by hand (a YAML/JSON file or a dict).

    An existing suite is never changed: this makes its next dated version (its parent is the
    current one). ``tier`` (else the spec's ``tier``) attaches it to a baseline tier.
    """
    if isinstance(spec, Mapping):
        loaded: dict[str, Any] = dict(spec)
    else:
        loaded = load_config(spec, interpolate=False)
    return _save(lab, name, loaded, tier or loaded.get("tier"), loaded.get("question"))


def get(lab: Lab, ref: str) -> SuiteVersion:
    """``recall`` (the newest version) or ``recall@2026-11-21`` → the suite row."""
    if "@" in ref:
        return lab.suites.get(ref)
    row = lab.suites.current(ref)
    if row is None:
        raise NotFoundError(f"no suite {ref!r}: create one with "
                            f"`stepstone suite create {ref} --from QUESTION`")
    return row


def for_tier(lab: Lab, tier: str) -> list[SuiteVersion]:
    """The current version of every suite attached to ``tier``."""
    tier = tier.split("@", 1)[0]
    rows = (lab.suites.current(name) for name in lab.suites.names())
    return [r for r in rows if r is not None and r.tier == tier]



# ----------------------------------------------------------------------------- distill
def is_cost(metric: str) -> bool:
    """Whether ``metric`` is cost-like: a whole word of its name is one of :data:`COST_WORDS`."""
    return not COST_WORDS.isdisjoint(metric_words(metric))


def _finished(runs: Iterable[RunRecord]) -> list[RunRecord]:
    return [r for r in runs if r.status == "finished" and r.kind != "smoke"]


def _adopted(lab: Lab, question: Question) -> tuple[str, list[RunRecord]]:
    """What the decision adopted and the runs that show it: the promoted version's own runs,
    else (answered yes) the question's runs, else the baseline it was compared against."""
    qid = question.id
    q_runs = _finished(lab.runs.list(question_id=qid))
    for row in lab.baselines.list():
        if any(f.question_id == qid for f in lab.baselines.features(row.version)):
            own = _finished(lab.runs.list(baseline=row.version, kind="baseline"))
            if own:
                return f"the runs of {row.version} (promoted from {qid})", own
            return f"the runs of {qid} (promoted into {row.version})", q_runs
    if question.answer == "yes":
        return f"the runs of {qid} (answered yes)", q_runs
    versions = [r.baseline for r in lab.runs.list(question_id=qid) if r.baseline]
    version = max(set(versions), key=versions.count) if versions else None
    if version is None and question.baseline:
        version = resolve(lab, question.baseline).version
    if version is None:
        return f"no baseline ({qid} answered {question.answer})", []
    own = _finished(lab.runs.list(baseline=version, kind="baseline"))
    return f"the runs of {version} ({qid} answered {question.answer}: kept)", own


def _noise(values: Sequence[float]) -> float:
    if len(values) >= 2:
        return statistics.stdev(values)
    return abs(values[0]) * NOISE_TOLERANCE


def _rule_constraints(rule_text: str) -> list[Check]:
    """``metric op number`` comparisons of the rule whose metric is a cost."""
    out = []
    for metric, op, value in bounds(parse_rule(rule_text)):
        if is_cost(metric):
            out.append(Check(kind="constraint", metric=metric, op=op, value=float(value),
                             basis="the question's rule"))
    return out


def _bucket_stat(records: Sequence[EvalRecord]) -> str:
    return "accuracy" if records and all(r.correct is not None for r in records) else "score"


def final_records(records: Sequence[EvalRecord]) -> list[EvalRecord]:
    """A run's final evaluation in one eval set: the records at the step of the last record
    written (its last eval step; records logged without a step are a step of their own), not
    the records of every evaluation it made along the way."""
    if not records:
        return []
    last = records[-1].step
    return [r for r in records if r.step == last]


def _record_value(record: EvalRecord, stat: str) -> float | None:
    if stat == "accuracy":
        return 1.0 if record.correct else 0.0
    return numeric(record.score)


def _eval_name(lab: Lab, runs: Sequence[RunRecord], wanted: str | None) -> str | None:
    names = sorted({n for r in runs for n in lab.evals.names(r.id)
                    if not n.startswith("testtime/")})
    if wanted is not None:
        if wanted not in names:
            raise NotFoundError(f"the adopted runs have no eval set {wanted!r}"
                                + (f" (they have {', '.join(names)})" if names else ""))
        return wanted
    if "eval" in names:
        return "eval"
    return names[0] if len(names) == 1 else None


def _buckets(lab: Lab, runs: Sequence[RunRecord], eval_name: str | None
             ) -> tuple[list[dict[str, Any]], list[Check]]:
    """The bucket fields of the adopted runs' evaluation: per-bucket means, the worst bucket
    of each field, and a check holding that worst bucket."""
    if eval_name is None:
        return [], []
    per_run = {r.id: final_records(lab.evals.records(r.id, eval_name)) for r in runs}
    every = [rec for recs in per_run.values() for rec in recs]
    stat = _bucket_stat(every)
    fields = sorted({k for rec in every for k in rec.fields if k not in _SKIP_FIELDS})
    summary: list[dict[str, Any]] = []
    checks: list[Check] = []
    for field in fields:
        levels = sorted({str(rec.fields[field]) for rec in every
                         if rec.fields.get(field) is not None})
        if not 2 <= len(levels) <= MAX_LEVELS:
            continue
        means: dict[str, float] = {}
        spread: dict[str, list[float]] = {}
        for level in levels:
            values = [v for rec in every if str(rec.fields.get(field)) == level
                      and (v := _record_value(rec, stat)) is not None]
            if not values:
                continue
            means[level] = statistics.fmean(values)
            for recs in per_run.values():
                mine = [v for rec in recs if str(rec.fields.get(field)) == level
                        and (v := _record_value(rec, stat)) is not None]
                if mine:
                    spread.setdefault(level, []).append(statistics.fmean(mine))
        if not means:
            continue
        worst = min(means, key=lambda lv: means[lv])
        noise = _noise(spread.get(worst) or [means[worst]])
        summary.append({"eval": eval_name, "field": field, "stat": stat, "means": means,
                        "worst": worst})
        checks.append(Check(kind="bucket", metric=f"{eval_name}[{field}={worst}]", op=">=",
                            value=means[worst] - noise, eval=eval_name, field=field,
                            bucket=worst, stat=stat,
                            basis=f"worst bucket of {field}: mean {stat} {means[worst]:.4g} "
                                  f"less noise {noise:.3g}"))
    return summary, checks


def distill(lab: Lab, name: str, question_id: str, *, tier: str | None = None,
            constraints: Sequence[str] = (), eval_name: str | None = None,
            rung: str | None = None) -> SuiteVersion:
    """A new suite version from what answered ``question_id``: its metrics at the values the
    adopted baseline met, its hard constraints and its worst-case buckets. When the adopted
    runs span several rungs, all of it comes from the runs at ``rung`` (default: the largest)
    and the suite holds that scale only."""
    question = lab.questions.get(question_id)
    if question.status != "answered":
        raise MethodError(f"question {question_id} is {question.status}: decide it first "
                          "(a suite holds what answered it)")
    basis, runs = _adopted(lab, question)
    if not runs:
        raise MethodError(f"question {question_id} has no finished runs to distill a suite "
                          f"from ({basis})")
    runs, scale = at_scale(runs, rung)
    if scale:
        basis += f", at rung {scale['rung']} of {', '.join(map(str, scale['rungs']))}"
    metrics = [m for m in question.metrics if m != "gain"]
    metrics += [m for m in metrics_used(parse_rule(question.rule)) if m not in metrics]
    checks: list[Check] = []
    reference: dict[str, Any] = {}
    for metric in metrics:
        values = [v for r in runs if (v := numeric(r.summary.get(metric))) is not None
                  and math.isfinite(v)]
        if not values or is_cost(metric):
            continue
        lower = lower_is_better(metric)
        worst = max(values) if lower else min(values)
        noise = _noise(values)
        reference[metric] = {"worst": worst, "mean": statistics.fmean(values), "n": len(values)}
        checks.append(Check(kind="threshold", metric=metric, op="<=" if lower else ">=",
                            value=worst + noise if lower else worst - noise,
                            basis=f"worst of {len(values)} run(s) {worst:.6g}, "
                                  f"noise {noise:.3g}"))
    limits = [*_rule_constraints(question.rule),
              *(replace(parse_check(c), basis="given") for c in constraints)]
    named = {c.metric for c in limits}
    for key in sorted({k for r in runs for k in r.summary if is_cost(k)} - named):
        values = [v for r in runs if (v := numeric(r.summary.get(key))) is not None
                  and math.isfinite(v)]
        if values:
            limits.append(Check(kind="constraint", metric=key, op="<=",
                                value=max(values) * (1 + CONSTRAINT_TOLERANCE),
                                basis=f"worst of {len(values)} run(s) {max(values):.6g} + 10%"))
    buckets, bucket_checks = _buckets(lab, runs, _eval_name(lab, runs, eval_name))
    checks += limits + bucket_checks
    if not checks:
        raise MethodError(f"nothing to distill from {question_id}: its runs report none of "
                          f"{', '.join(metrics) or 'its metrics'} and have no evaluation records")
    tier = tier or (question.baseline or "").split("@", 1)[0] or None
    if tier is None and runs[0].baseline:
        tier = runs[0].baseline.split("@", 1)[0]
    spec = {"question": question_id, "description": question.text,
            "metrics": metrics, "buckets": buckets, "checks": checks, **scale,
            "source": basis, "reference": {"runs": [r.id for r in runs], "metrics": reference}}
    row = _save(lab, name, spec, tier, question_id)
    notebook.write(lab, "decision", f"Suite {row.version} distilled from {question_id}",
                   f"What answered {question_id} becomes the standard"
                   + (f" of tier {row.tier}" if row.tier else "") + f" (from {basis}):\n"
                   + "\n".join(f"- {check_text(c)}  ({c.basis or ''})"
                               for c in row.spec.checks),
                   question_id=question_id, data={"suite": row.version})
    return row


# ----------------------------------------------------------------------------- checks
def _compare(value: float, op: str, threshold: float) -> bool:
    return {"<=": value <= threshold, ">=": value >= threshold, "<": value < threshold,
            ">": value > threshold, "==": value == threshold, "!=": value != threshold}[op]


def _value(lab: Lab, run: RunRecord, check: Check,
           cache: dict[str, list[EvalRecord]]) -> tuple[float | None, str]:
    if check.kind != "bucket":
        value = numeric(run.summary.get(check.metric))
        return value, "" if value is not None else f"the run reports no {check.metric}"
    name = check.eval or "eval"
    if name not in cache:
        cache[name] = final_records(lab.evals.records(run.id, name))
    records = [r for r in cache[name] if str(r.value(check.field or "")) == check.bucket]
    stat = check.stat or "mean"
    values = [v for r in records if (v := _record_value(r, "accuracy" if stat == "accuracy"
                                                        else "score")) is not None]
    if not values:
        return None, f"the run has no {name} records with {check.field} = {check.bucket}"
    return statistics.fmean(values), ""


def evaluate(lab: Lab, suite: SuiteVersion, run: RunRecord) -> SuiteResult:
    """Every check of ``suite`` on ``run``; a check without its number fails (nothing passes
    unmeasured)."""
    cache: dict[str, list[EvalRecord]] = {}
    results = []
    for check in suite.spec.checks:
        value, why = _value(lab, run, check, cache)
        ok = value is not None and math.isfinite(value) and _compare(value, check.op,
                                                                      check.value)
        results.append(CheckResult(check=check_text(check), kind=check.kind,
                                   metric=check.metric, op=check.op, threshold=check.value,
                                   value=value, passed=ok, why=why))
    return SuiteResult(suite.version, run.id, all(r.passed for r in results), tuple(results))


def check_run(lab: Lab, ref: str, *, suite: str | None = None,
              record: bool = True) -> list[SuiteResult]:
    """Check a run against ``suite`` (or every suite of its baseline tier); record the results.
    A suite of another scale is skipped (:func:`skipped`), not checked."""
    run = lab.runs.get(ref)
    if suite is not None:
        suites = [get(lab, suite)]
    elif run.baseline:
        suites = for_tier(lab, run.baseline)
    else:
        suites = []
    out = []
    for row in suites:
        why = scale_mismatch(row.spec, run)
        if why is not None:
            out.append(skipped(row, run, why))
            continue
        result = evaluate(lab, row, run)
        if record:
            lab.suites.record_check(row.version, run.id, bool(result.passed), result.results)
        out.append(result)
    return out


def skipped(suite: SuiteVersion, run: RunRecord, why: str) -> SuiteResult:
    """The result of a suite that does not apply to ``run`` (another scale): not a pass, not a
    failure (``passed`` is None), and nothing is recorded."""
    return SuiteResult(suite.version, run.id, None, skipped=why)


def check_on_finish(lab: Lab, run_id: str) -> list[SuiteResult]:
    """The check made when a run of a tier with suites finishes (none for other runs)."""
    run = lab.runs.get(run_id)
    if run.status != "finished" or not run.baseline or run.kind == "smoke":
        return []
    return check_run(lab, run.id)


def latest(lab: Lab, run_id: str) -> list[SuiteResult]:
    """The newest check of ``run_id`` against each suite version."""
    newest = {row.suite_version: row for row in lab.suites.checks(run_id=run_id)}
    return [SuiteResult(v, run_id, r.passed, r.results) for v, r in newest.items()]


def checked(lab: Lab, version: str) -> list[SuiteResult]:
    """The newest check of each run checked against the suite ``version``."""
    newest = {row.run_id: row for row in lab.suites.checks(suite_version=version)}
    return [SuiteResult(version, r, row.passed, row.results) for r, row in newest.items()]


def standing(lab: Lab, run: RunRecord) -> list[SuiteResult]:
    """Where ``run`` stands against the suites, read only (what a report shows): the newest
    recorded check against each suite version (:func:`latest`, ``"recorded": True``), then
    each current suite of its tier with no recorded check on it (the run finished before the
    suite was made) evaluated now and not recorded (``recorded`` False), unless the suite
    holds another scale. An unfinished or smoke run shows only what was recorded."""
    out = [replace(result, recorded=True) for result in latest(lab, run.id)]
    if run.status != "finished" or not run.baseline or run.kind == "smoke":
        return out
    seen = {result.suite for result in out}
    for row in for_tier(lab, run.baseline):
        if row.version not in seen and scale_mismatch(row.spec, run) is None:
            out.append(replace(evaluate(lab, row, run), recorded=False))
    return out


def failing(lab: Lab, limit: int = 20) -> list[FailingRun]:
    """Runs whose newest check against a suite failed (shown by ``stepstone status``)."""
    newest = {(row.run_id, row.suite_version): row for row in lab.suites.checks()}
    out = [FailingRun(run_id, version,
                      tuple(describe_result(r) for r in row.results if not r.passed))
           for (run_id, version), row in newest.items() if not row.passed]
    return out[-limit:]


def describe_result(result: CheckResult) -> str:
    """One line: ``PASS eval/accuracy 0.97 >= 0.95`` or ``FAIL ... (why)``."""
    mark = "PASS" if result.passed else "FAIL"
    shown = "—" if result.value is None else f"{result.value:.6g}"
    line = f"{mark} {result.metric} = {shown} (needs {result.op} {result.threshold:.6g})"
    return line + (f": {result.why}" if result.why else "")


def lines(results: Sequence[SuiteResult]) -> list[str]:
    """Markdown lines for result pages and reports."""
    out = []
    for result in results:
        if result.skipped:
            out.append(f"Suite {result.suite}: skipped ({result.skipped})")
            continue
        out.append(f"Suite {result.suite}: **{'PASS' if result.passed else 'FAIL'}**")
        out += [f"- {describe_result(r)}" for r in result.results]
    return out


def gate(lab: Lab, tier: str, question_id: str) -> list[SuiteResult]:
    """A promotion of ``question_id`` into ``tier`` must pass every suite of the tier: each
    finished run of the question at the suite's scale is checked (and the checks recorded;
    runs of other scales are skipped, saying so); a failure refuses, and so does a suite no
    run of the question is at the scale of."""
    suites = for_tier(lab, tier)
    if not suites:
        return []
    runs = _finished(lab.runs.list(question_id=question_id))
    if not runs:
        raise MethodError(f"tier {tier} has suites ({', '.join(s.version for s in suites)}) "
                          f"and question {question_id} has no finished run to check against them")
    results = []
    problems = []
    for row in suites:
        checked = 0
        for run in runs:
            why = scale_mismatch(row.spec, run)
            if why is not None:
                results.append(skipped(row, run, why))
                continue
            result = evaluate(lab, row, run)
            lab.suites.record_check(row.version, run.id, bool(result.passed), result.results)
            results.append(result)
            checked += 1
            problems += [f"run {run.id} fails {row.version}: {describe_result(r)}"
                         for r in result.results if not r.passed]
        if not checked:
            problems.append(f"no finished run of {question_id} is at the scale "
                            f"{row.version} holds (rung {row.spec.rung}): run one "
                            "at that rung to check it")
    if problems:
        raise MethodError(f"the promotion of {question_id} into {tier} does not pass its "
                          "suites:\n" + "\n".join(f"- {p}" for p in problems))
    return results
