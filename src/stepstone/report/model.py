"""What a report holds, gathered from a lab: :func:`build_report` returns a frozen
:class:`Report` of plain data (strings, numbers, tuples), ready for Markdown, HTML or JSON.

Nothing here re-implements the method: the decision comes from
:func:`stepstone.method.decide.gather`, the baseline law and the gain from
:mod:`stepstone.method.evidence`, the stratified tables from :mod:`stepstone.analysis`.
"""

from __future__ import annotations

import dataclasses
import math
import shlex
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stepstone import analysis_io as aio
from stepstone.config import flatten, format_value
from stepstone.errors import NotFoundError, StepstoneError
from stepstone.method import baselines as baseline_rules
from stepstone.method import decide
from stepstone.method import evidence as ev
from stepstone.method import questions as question_rules
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord

PACKAGES_SHOWN = ("stepstone", "torch", "jax", "numpy", "scipy", "transformers", "triton",
                  "flash-attn", "flash_attn", "deepspeed", "accelerate", "lightning")
"""Packages named in the environment summary when a run recorded them."""
CURVE_POINTS = 80


# -- the data ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class QuestionInfo:
    id: str
    text: str
    rule: str
    metrics: tuple[str, ...]
    status: str
    answer: str | None
    idea: str | None
    timebox_hours: float | None
    deadline: str | None
    overdue: bool
    baseline_ref: str | None
    feature_keys: tuple[str, ...]
    feature_delta: tuple[tuple[str, str], ...]  # (key, value as an override writes it)
    reason: str | None = None  # why it was abandoned


@dataclass(frozen=True)
class BaselineInfo:
    version: str
    tier: str
    day: str
    parent: str | None
    reference_metric: str | None
    features: tuple[tuple[str, str], ...]  # (question id, change) merged since the parent
    check_status: str
    check: str


@dataclass(frozen=True)
class ConfigChange:
    """One key a question run changed against its baseline, and which runs changed it."""

    key: str
    baseline: str
    value: str
    runs: tuple[str, ...]


@dataclass(frozen=True)
class CodeInfo:
    commits: tuple[tuple[str, bool, int], ...]  # (git commit, dirty, runs)
    snapshots: tuple[tuple[str, int], ...]  # (code snapshot id, runs)
    python: tuple[str, ...]
    hardware: tuple[str, ...]
    packages: tuple[tuple[str, str], ...]
    runs_without_capture: tuple[str, ...]


@dataclass(frozen=True)
class RunRow:
    id: str
    name: str
    arm: str  # "feature" (the question's runs) or "baseline"
    kind: str
    status: str
    rung: str
    seed: str
    value: float | None
    compute: float | None
    used: bool
    note: str


@dataclass(frozen=True)
class ParamRow:
    name: str
    value: float
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class FitInfo:
    available: bool
    reason: str | None
    source: str
    metric: str
    form: str = ""
    formula: str = ""
    params: tuple[ParamRow, ...] = ()
    n_points: int = 0
    n_bootstrap: int = 0
    confidence: float = 0.95
    rmse_log: float | None = None
    flops_method: str = ""
    holdout_note: str = ""
    holdout_mean_error: float | None = None
    holdout_max_error: float | None = None
    compute_range: tuple[float, float] | None = None
    run_ids: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    points_compute: tuple[float, ...] = ()
    points_loss: tuple[float, ...] = ()
    curve_compute: tuple[float, ...] = ()
    curve_loss: tuple[float, ...] = ()
    band_low: tuple[float, ...] = ()
    band_high: tuple[float, ...] = ()


@dataclass(frozen=True)
class GainRow:
    rung: str
    compute: float
    loss: float
    baseline_loss: float
    compute_predicted: float | None
    gain: float | None
    ci_low: float | None
    ci_high: float | None  # None: unbounded above
    defined: bool
    note: str
    runs: tuple[str, ...]
    extrapolated: bool


@dataclass(frozen=True)
class GainInfo:
    available: bool
    reason: str | None
    rows: tuple[GainRow, ...] = ()
    verdict: str = ""
    slope_per_decade: float | None = None
    slope_ci: tuple[float | None, float | None] = (None, None)
    n_rungs: int = 0
    tolerance: float = 0.1
    explanation: str = ""
    comparison: str = ""
    confidence: float = 0.95
    skipped: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BucketRow:
    field: str
    bucket: str
    count: int
    mean: float
    std: float | None
    worst: float | None
    ci_low: float | None
    ci_high: float | None
    thin: bool
    weakest: bool


@dataclass(frozen=True)
class StratArm:
    arm: str
    run_id: str
    run_name: str
    eval_name: str
    metric: str
    higher_is_better: bool
    n_records: int
    fields: tuple[str, ...]
    rows: tuple[BucketRow, ...]
    overall: BucketRow
    findings: tuple[str, ...]
    min_count: int


@dataclass(frozen=True)
class BucketDiffRow:
    field: str
    bucket: str
    mean_baseline: float
    mean_feature: float
    diff: float
    ci_low: float | None
    ci_high: float | None
    verdict: str


@dataclass(frozen=True)
class StratInfo:
    available: bool
    reason: str | None
    arms: tuple[StratArm, ...] = ()
    comparison: tuple[BucketDiffRow, ...] = ()
    largest_regression: str | None = None


@dataclass(frozen=True)
class PageRef:
    number: int
    kind: str
    title: str
    body: str


@dataclass(frozen=True)
class DecisionInfo:
    proposed: str
    reasons: tuple[str, ...]
    flags: tuple[str, ...]
    answer: str | None
    overridden: bool
    conclusion: str | None
    pages: tuple[PageRef, ...]
    gains: tuple[tuple[str, float, float, float], ...]  # the gains the rule read: rung, value, CI


@dataclass(frozen=True)
class ReproRow:
    run_id: str
    name: str
    arm: str
    kind: str
    status: str
    cwd: str | None
    command: str | None
    overrides: tuple[str, ...]
    stepstone_command: str | None
    git_commit: str | None
    git_dirty: bool
    code_snapshot: str | None


@dataclass(frozen=True)
class SuiteCheckRow:
    """One check of a suite on a run, with its numbers."""

    check: str  # "metric op threshold"
    kind: str
    metric: str
    op: str
    threshold: float
    value: float | None
    passed: bool
    why: str = ""  # why the number is missing


@dataclass(frozen=True)
class SuiteRunResult:
    """A run against one suite version: the newest recorded check, or (``recorded`` False) the
    check made for the report on a run that finished before the suite existed."""

    run_id: str
    run_name: str
    arm: str  # "feature" (the question's runs) or "baseline"
    suite: str  # the suite version
    passed: bool
    recorded: bool
    checks: tuple[SuiteCheckRow, ...]


@dataclass(frozen=True)
class LintRow:
    """One precision lint of a run (from its config or recorded while it ran)."""

    run_id: str
    run_name: str
    arm: str
    message: str
    source: str  # "config" or "recorded"


@dataclass(frozen=True)
class StandardsInfo:
    """The evaluation suites and precision lints of the report's runs."""

    tier: str | None = None
    tier_suites: tuple[str, ...] = ()  # the current suite versions attached to the tier
    results: tuple[SuiteRunResult, ...] = ()
    lints: tuple[LintRow, ...] = ()


@dataclass(frozen=True)
class Report:
    """Everything a question's report says, as plain data (``to_dict()`` for JSON)."""

    created_at: str
    question: QuestionInfo
    metric: str
    lower_is_better: bool
    baseline: BaselineInfo | None
    config_changes: tuple[ConfigChange, ...]
    code: CodeInfo
    runs: tuple[RunRow, ...]
    fit: FitInfo
    gain: GainInfo
    stratified: StratInfo
    decision: DecisionInfo
    caveats: tuple[str, ...]
    reproduce: tuple[ReproRow, ...]
    notes: tuple[PageRef, ...] = field(default=())
    standards: StandardsInfo = field(default_factory=StandardsInfo)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _plain(dataclasses.asdict(self))
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# -- gathering ---------------------------------------------------------------------------------
def build_report(
    lab: Lab, question_ref: str, *, n_bootstrap: int = 1000, form: str = "compute",
    fit_ref: str | None = None, tolerance: float = 0.1, min_count: int = 30, seed: int = 0,
) -> Report:
    """Gather a question's report: setup, results, fit, gain, stratified evaluation, decision,
    caveats and the commands that reproduce every run.

    ``n_bootstrap``/``form``/``seed``: how the baseline's law is fitted (``fit_ref``: use a
    stored fit instead). The lab is only read.
    """
    q = lab.questions.get(question_ref)
    qid = str(q["id"])
    proposal = _gather(lab, q)
    version = proposal.baseline_version
    base_row = _baseline_row(lab, version)
    metric = ev.loss_metric(lab, q, version)
    lower = baseline_rules.lower_is_better(metric)

    qruns = sorted(lab.runs.list(question_id=qid), key=lambda r: r.created_at)
    bruns = ev.baseline_runs(lab, version) if version else []

    law = ev.baseline_law(lab, version, metric=metric, form=form, n_bootstrap=n_bootstrap,
                          seed=seed, fit_ref=fit_ref)
    qgain = ev.question_gain(lab, qid, law, tolerance=tolerance)
    fit_info = _fit_info(law, qgain)
    gain_info = _gain_info(qgain, fit_info)
    strat = _stratified(lab, qruns, bruns, min_count)
    runs = _run_rows(lab, qruns, bruns, metric)
    decision = _decision(lab, q, proposal)
    base_config = base_row["config"] if base_row else None
    standards = _standards(lab, qruns, bruns, base_row)
    return Report(
        created_at=time.strftime("%Y-%m-%d %H:%M:%S"),
        question=_question_info(lab, q),
        metric=metric,
        lower_is_better=lower,
        baseline=_baseline_info(lab, base_row),
        config_changes=_config_changes(qruns, base_config),
        code=_code_info([*bruns, *qruns]),
        runs=runs,
        fit=fit_info,
        gain=gain_info,
        stratified=strat,
        decision=decision,
        caveats=_caveats(lab, q, proposal, law, fit_info, gain_info, strat, base_row,
                         [*bruns, *qruns], standards),
        reproduce=_reproduce([*bruns, *qruns], base_config, version, qid),
        notes=tuple(PageRef(int(p["number"]), str(p["kind"]), str(p["title"]), str(p["body"]))
                    for p in lab.notebook.pages(question_id=qid)
                    if p["kind"] in ("note", "correction")),
        standards=standards,
    )


def _baseline_row(lab: Lab, version: str | None) -> dict[str, Any] | None:
    if version is None:
        return None
    try:
        return baseline_rules.resolve(lab, version)
    except NotFoundError:
        return None


def _question_info(lab: Lab, q: Mapping[str, Any]) -> QuestionInfo:
    idea = None
    if q.get("idea_id"):
        try:
            idea = f"{q['idea_id']}: {lab.ideas.get(q['idea_id'])['title']}"
        except StepstoneError:
            idea = str(q["idea_id"])
    end = question_rules.deadline(dict(q))
    overdue = (end is not None and q["status"] in ("open", "running") and time.time() > end)
    delta = q.get("feature_delta") or {}
    return QuestionInfo(
        id=str(q["id"]), text=str(q["text"]), rule=str(q["rule"]),
        metrics=tuple(q.get("metrics") or ()), status=str(q["status"]), answer=q.get("answer"),
        idea=idea, timebox_hours=q.get("timebox_hours"),
        deadline=time.strftime("%Y-%m-%d %H:%M", time.localtime(end)) if end else None,
        overdue=overdue, baseline_ref=q.get("baseline"),
        feature_keys=tuple(q.get("feature_keys") or ()),
        feature_delta=tuple((k, format_value(v)) for k, v in sorted(delta.items())),
        reason=q.get("reason"),
    )


def _baseline_info(lab: Lab, row: Mapping[str, Any] | None) -> BaselineInfo | None:
    if row is None:
        return None
    features = tuple(
        (str(f["question_id"]), ", ".join(f"{k}={format_value(v)}"
                                          for k, v in sorted(f["delta"].items())))
        for f in lab.baselines.features(row["version"]))
    check = baseline_rules.regression(lab, dict(row))
    return BaselineInfo(version=str(row["version"]), tier=str(row["tier"]), day=str(row["day"]),
                        parent=row.get("parent"), reference_metric=row.get("reference_metric"),
                        features=features, check_status=str(check["status"]),
                        check=str(check["text"]))


def _override(key: str, value: Any, base_flat: Mapping[str, Any] | None) -> str:
    """The ``--set`` text that makes ``key`` take ``value`` starting from the baseline."""
    if value is None:
        return f"~{key}"
    if base_flat is not None and not any(k == key or k.startswith(key + ".") for k in base_flat):
        return f"+{key}={format_value(value)}"
    return f"{key}={format_value(value)}"


def _run_delta(run: RunRecord, base_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's config change against its baseline: the recorded delta, else the diff."""
    if run.config_delta:
        return dict(run.config_delta)
    if base_config is None:
        return {}
    from stepstone.config import diff

    return {e.key: e.new for e in diff(base_config, run.config).entries}


def _config_changes(runs: Sequence[RunRecord],
                    base_config: Mapping[str, Any] | None) -> tuple[ConfigChange, ...]:
    base_flat = flatten(base_config) if base_config else {}
    seen: dict[tuple[str, str], list[str]] = {}
    for run in runs:
        if run.kind == "smoke":
            continue
        for key, value in sorted(_run_delta(run, base_config).items()):
            shown = "(removed)" if value is None else format_value(value)
            seen.setdefault((key, shown), []).append(run.id)
    out = []
    for (key, shown), ids in sorted(seen.items()):
        old = base_flat.get(key)
        out.append(ConfigChange(key, "(absent)" if key not in base_flat else format_value(old),
                                shown, tuple(ids)))
    return tuple(out)


def _hardware_line(hw: Mapping[str, Any]) -> str:
    """``AMD EPYC 7B13 ×2, 23.4 GB, NVIDIA H100 ×1`` from a run's captured hardware."""
    parts = [f"{hw.get('cpu') or hw.get('machine') or 'CPU'} ×{hw.get('cpu_count', '?')}"]
    if hw.get("memory_gb") is not None:
        parts.append(f"{hw['memory_gb']} GB")
    gpus: dict[str, int] = {}
    for gpu in hw.get("gpus") or []:
        name = str(gpu.get("name", "GPU")) if isinstance(gpu, Mapping) else str(gpu)
        gpus[name] = gpus.get(name, 0) + 1
    parts += [f"{name} ×{n}" for name, n in gpus.items()]
    return ", ".join(parts)


def _code_info(runs: Sequence[RunRecord]) -> CodeInfo:
    commits: dict[tuple[str, bool], int] = {}
    snapshots: dict[str, int] = {}
    python: set[str] = set()
    hardware: set[str] = set()
    packages: dict[str, set[str]] = {}
    bare: list[str] = []
    for run in runs:
        if run.git_commit:
            key = (run.git_commit, bool(run.git_dirty))
            commits[key] = commits.get(key, 0) + 1
        if run.code_snapshot:
            snapshots[run.code_snapshot] = snapshots.get(run.code_snapshot, 0) + 1
        env = run.env or {}
        if not (run.git_commit or run.code_snapshot or env):
            bare.append(run.id)
        if env.get("python"):
            python.add(str(env["python"]))
        if isinstance(env.get("hardware"), Mapping):
            hardware.add(_hardware_line(env["hardware"]))
        pkgs = env.get("packages") or {}
        if isinstance(pkgs, Mapping):
            for name in PACKAGES_SHOWN:
                if name in pkgs:
                    packages.setdefault(name, set()).add(str(pkgs[name]))
    return CodeInfo(
        commits=tuple((c, d, n) for (c, d), n in sorted(commits.items())),
        snapshots=tuple(sorted(snapshots.items())),
        python=tuple(sorted(python)), hardware=tuple(sorted(hardware)),
        packages=tuple((k, ", ".join(sorted(v))) for k, v in sorted(packages.items())),
        runs_without_capture=tuple(bare),
    )


def _seed(run: RunRecord) -> str:
    seed = run.seed if run.seed is not None else run.config.get("seed")
    return "" if seed is None else str(seed)


def _run_rows(lab: Lab, qruns: Sequence[RunRecord], bruns: Sequence[RunRecord],
              metric: str) -> tuple[RunRow, ...]:
    rows = []
    for arm, runs in (("baseline", bruns), ("feature", qruns)):
        for run in runs:
            why = ev.usable(lab, run)
            rung = ev.rung_of(run)
            compute = aio.number(run.summary, aio.C_KEY)
            n, d = aio.number(run.summary, aio.N_KEY), aio.number(run.summary, aio.D_KEY)
            if compute is None and n is not None and d is not None:
                compute = 6.0 * n * d
            note = why or ""
            if run.status == "abandoned" and run.reason:
                note = f"abandoned: {run.reason}"
            rows.append(RunRow(
                id=run.id, name=run.name, arm=arm, kind=run.kind, status=run.status,
                rung="" if rung is None else str(rung), seed=_seed(run),
                value=aio.number(run.summary, metric), compute=compute, used=why is None,
                note=note))
    return tuple(rows)


def _fit_info(law: ev.BaselineLaw, qgain: ev.QuestionGain) -> FitInfo:
    fit = law.fit
    if fit is None:
        return FitInfo(False, law.reason, law.source, law.metric, skipped=law.skipped)
    import numpy as np

    crange = ev.compute_range(fit)
    points_c: tuple[float, ...] = fit.compute or tuple(
        6.0 * n * d for n, d in zip(fit.n or (), fit.d or (), strict=True))
    lo, hi = crange if crange else (1.0, 10.0)
    feature_c = [r.compute for r in qgain.result.rungs] if qgain.result else []
    lo, hi = min([lo, *feature_c]), max([hi, *feature_c])
    grid = np.logspace(math.log10(lo) - 0.15, math.log10(hi) + 0.15, CURVE_POINTS)
    curve = _finite(fit.predict(grid))
    band_low: tuple[float, ...] = ()
    band_high: tuple[float, ...] = ()
    if fit.samples.shape[0] >= 2:
        low, high = fit.predict_interval(grid)
        band_low, band_high = _finite(low), _finite(high)
    h = fit.holdout
    return FitInfo(
        available=True, reason=None, source=law.source, metric=law.metric, form=fit.form,
        formula=fit.formula,
        params=tuple(ParamRow(p.name, p.value, _num(p.ci_low), _num(p.ci_high))
                     for p in fit.params),
        n_points=fit.n_points, n_bootstrap=fit.n_bootstrap, confidence=fit.confidence,
        rmse_log=_num(fit.rmse_log), flops_method=fit.flops_method,
        holdout_note=fit.holdout_note,
        holdout_mean_error=_num(h.mean_abs_relative_error) if h else None,
        holdout_max_error=_num(h.max_abs_relative_error) if h else None,
        compute_range=crange, run_ids=law.run_ids, skipped=law.skipped,
        points_compute=tuple(float(c) for c in points_c),
        points_loss=tuple(float(v) for v in fit.loss),
        curve_compute=tuple(float(c) for c in grid), curve_loss=curve,
        band_low=band_low, band_high=band_high,
    )


def _finite(values: Any) -> tuple[float, ...]:
    return tuple(float(v) if math.isfinite(float(v)) else math.nan
                 for v in list(values.ravel()))


def _num(value: float | None) -> float | None:
    if value is None:
        return None
    f = float(value)
    return f if math.isfinite(f) else None


def _gain_info(qgain: ev.QuestionGain, fit: FitInfo) -> GainInfo:
    result = qgain.result
    if result is None:
        return GainInfo(False, qgain.reason, skipped=qgain.skipped)
    crange = fit.compute_range
    rows = []
    for rung, ids in zip(result.rungs, qgain.rung_runs, strict=True):
        outside = crange is not None and not (crange[0] <= rung.compute <= crange[1])
        rows.append(GainRow(
            rung=rung.label, compute=rung.compute, loss=rung.loss,
            baseline_loss=rung.baseline_loss, compute_predicted=_num(rung.compute_predicted),
            gain=_num(rung.gain), ci_low=_num(rung.ci_low), ci_high=_num(rung.ci_high),
            defined=rung.defined, note=rung.note, runs=ids, extrapolated=outside))
    t = result.trend
    return GainInfo(
        available=True, reason=None, rows=tuple(rows), verdict=t.verdict,
        slope_per_decade=_num(t.slope_per_decade), slope_ci=(_num(t.ci_low), _num(t.ci_high)),
        n_rungs=t.n_rungs, tolerance=t.tolerance, explanation=t.explanation,
        comparison=result.comparison, confidence=result.confidence, skipped=qgain.skipped)


def _eval_run(lab: Lab, runs: Sequence[RunRecord]) -> tuple[RunRecord, str] | None:
    """The arm's run to stratify: the finished one with eval records at the largest compute
    (else any with records), and its eval set (``eval`` or the first)."""
    candidates = []
    for run in runs:
        if run.kind == "smoke":
            continue
        names = lab.evals.names(run.id)
        if not names:
            continue
        c = aio.number(run.summary, aio.C_KEY) or aio.number(run.summary, aio.N_KEY) or 0.0
        candidates.append((run.status == "finished", c, run.created_at, run,
                           "eval" if "eval" in names else names[0]))
    if not candidates:
        return None
    best = max(candidates, key=lambda t: (t[0], t[1], t[2]))
    return best[3], best[4]


def _stratified(lab: Lab, qruns: Sequence[RunRecord], bruns: Sequence[RunRecord],
                min_count: int) -> StratInfo:
    picked = {arm: _eval_run(lab, runs) for arm, runs in (("baseline", bruns),
                                                           ("feature", qruns))}
    if not any(picked.values()):
        return StratInfo(False, "no run of the question or of its baseline logged per-example "
                                "evaluation records (run.log_eval)")
    try:
        from stepstone.analysis import compare_buckets, stratify
    except ImportError:  # pragma: no cover - the analysis extra is missing
        return StratInfo(False, "the analysis extra is not installed: "
                                "pip install 'stepstone[analysis]'")
    arms: list[StratArm] = []
    records: dict[str, list[dict[str, Any]]] = {}
    problems: list[str] = []
    fields: list[str] = []
    for arm, choice in picked.items():
        if choice is None:
            continue
        run, name = choice
        recs = aio.eval_records(lab, run.id, name)
        fields = aio.bucket_fields(recs)
        if not fields:
            problems.append(f"the {arm} run {run.id}'s records carry no field to bucket by")
            continue
        try:
            rep = stratify(recs, fields, min_count=min_count)
        except StepstoneError as exc:
            problems.append(f"the {arm} run {run.id}: {exc}")
            continue
        records[arm] = recs
        weak = rep.weakest

        def row(b: Any, weak: Any = weak) -> BucketRow:
            return BucketRow(b.field, b.bucket, b.count, b.mean, _num(b.std), _num(b.worst_5pct),
                             _num(b.ci_low), _num(b.ci_high), b.thin,
                             weak is not None and (b.field, b.bucket) == (weak.field,
                                                                          weak.bucket))

        arms.append(StratArm(arm, run.id, run.name, name, rep.metric, rep.higher_is_better,
                             len(recs), tuple(fields), tuple(row(b) for b in rep.buckets),
                             row(rep.overall), rep.findings, min_count))
    if not arms:
        return StratInfo(False, "; ".join(problems) or "no usable evaluation records")
    comparison: tuple[BucketDiffRow, ...] = ()
    largest = None
    if "baseline" in records and "feature" in records:
        common = sorted(set(aio.bucket_fields(records["baseline"]))
                        & set(aio.bucket_fields(records["feature"])))
        if common:
            try:
                comp = compare_buckets(records["baseline"], records["feature"], common)
            except StepstoneError:
                comp = None
            if comp is not None:
                comparison = tuple(BucketDiffRow(r.field, r.bucket, r.mean_a, r.mean_b, r.diff,
                                                 _num(r.ci_low), _num(r.ci_high), r.verdict)
                                   for r in (*comp.rows, comp.overall))
                worst = comp.largest_regression
                if worst is not None:
                    largest = f"{worst.field}={worst.bucket} ({worst.diff:+.4g})"
    return StratInfo(True, "; ".join(problems) or None, tuple(arms), comparison, largest)


def _check_row(result: Mapping[str, Any]) -> SuiteCheckRow:
    value = result.get("value")
    return SuiteCheckRow(
        check=str(result.get("check") or f"{result['metric']} {result['op']} "
                                          f"{float(result['threshold']):.6g}"),
        kind=str(result.get("kind", "")), metric=str(result["metric"]), op=str(result["op"]),
        threshold=float(result["threshold"]), value=None if value is None else _num(value),
        passed=bool(result["passed"]), why=str(result.get("why") or ""))


def _standards(lab: Lab, qruns: Sequence[RunRecord], bruns: Sequence[RunRecord],
               base_row: Mapping[str, Any] | None) -> StandardsInfo:
    """Suite results (:func:`stepstone.method.suites.standing`: the newest recorded check, or
    one made now without recording it) of the question's runs, and of the baseline's own runs
    when its tier has a suite; the precision lints (:func:`stepstone.method.lints.run_lints`)
    of every run. Nothing is written to the lab."""
    from stepstone.method import lints as lint_rules
    from stepstone.method import suites as suite_rules

    tier = str(base_row["tier"]) if base_row is not None else None
    tier_suites: tuple[str, ...] = ()
    if tier is not None:
        tier_suites = tuple(str(s["version"]) for s in suite_rules.for_tier(lab, tier))
    arms = [("baseline", run) for run in bruns] + [("feature", run) for run in qruns]
    results: list[SuiteRunResult] = []
    found: list[LintRow] = []
    for arm, run in arms:
        if run.kind == "smoke":
            continue
        if arm == "feature" or tier_suites:
            for result in suite_rules.standing(lab, run):
                results.append(SuiteRunResult(
                    run_id=run.id, run_name=run.name, arm=arm, suite=str(result["suite"]),
                    passed=bool(result["passed"]), recorded=bool(result["recorded"]),
                    checks=tuple(_check_row(r) for r in result["results"])))
        from_config = {lint.message for lint in lint_rules.config_lints(run.config)}
        for message in lint_rules.run_lints(run.config, run.summary):
            found.append(LintRow(run.id, run.name, arm, str(message),
                                 "config" if message in from_config else "recorded"))
    return StandardsInfo(tier, tier_suites, tuple(results), tuple(found))


def _standards_caveats(standards: StandardsInfo, runs: Sequence[RunRecord]) -> list[str]:
    """``run X fails suite S: check ... (value vs threshold)`` for each failing check and
    ``run X trains in fp16 without a gradient scaler: ...`` for each precision lint."""
    names = {r.id: r for r in runs}
    out: list[str] = []

    def who(run_id: str, arm: str) -> str:
        run = names.get(run_id)
        label = "baseline run" if arm == "baseline" else "run"
        return f"{label} {run_id}" + (f" ({run.name})" if run is not None else "")

    for result in standards.results:
        for check in result.checks:
            if check.passed:
                continue
            shown = "no value" if check.value is None else f"{check.value:.6g}"
            out.append(f"{who(result.run_id, result.arm)} fails suite {result.suite}: check "
                       f"{check.check} ({shown} vs {check.op} {check.threshold:.6g})"
                       + (f": {check.why}" if check.why else "")
                       + ("" if result.recorded else
                          "; checked for this report, no check was recorded"))
    for lint in standards.lints:
        text = lint.message if lint.source == "config" else f"has a precision lint: {lint.message}"
        out.append(f"{who(lint.run_id, lint.arm)} {text}")
    return out


def _gather(lab: Lab, q: Mapping[str, Any]) -> decide.Proposal:
    """``decide.gather``'s proposal; if gathering fails, an inconclusive one that says why
    (a report is never refused for want of evidence)."""
    qid = str(q["id"])
    try:
        return decide.gather(lab, qid)
    except StepstoneError as exc:
        from stepstone.method.rules import Verdict

        version = None
        if q.get("baseline"):
            row = _baseline_row(lab, str(q["baseline"]))
            version = None if row is None else str(row["version"])
        return decide.Proposal(qid, str(q["rule"]), Verdict("inconclusive", ()), version, (),
                               (f"the evidence could not be gathered: {exc}",))


def _decision(lab: Lab, q: Mapping[str, Any], proposal: decide.Proposal) -> DecisionInfo:
    pages = tuple(PageRef(int(p["number"]), str(p["kind"]), str(p["title"]), str(p["body"]))
                  for p in lab.notebook.pages(question_id=str(q["id"]), kind="decision"))
    return DecisionInfo(
        proposed=proposal.answer, reasons=tuple(proposal.verdict.reasons),
        flags=tuple(proposal.flags), answer=q.get("answer"),
        overridden=bool(q.get("overridden")), conclusion=q.get("conclusion"), pages=pages,
        gains=tuple((str(k), float(v[0]), float(v[1]), float(v[2]))
                    for k, v in proposal.gains.items()))


def _caveats(lab: Lab, q: Mapping[str, Any], proposal: decide.Proposal, law: ev.BaselineLaw,
             fit: FitInfo, gain: GainInfo, strat: StratInfo, base_row: Mapping[str, Any] | None,
             runs: Sequence[RunRecord], standards: StandardsInfo | None = None
             ) -> tuple[str, ...]:
    out: list[str] = []
    by_id = {r.id: r for r in runs}
    for run in runs:  # unfinished or abandoned runs, the question's and the baseline's
        if run.kind == "smoke":
            continue
        who = "baseline run" if run.question_id != q["id"] else "run"
        if run.status == "abandoned":
            out.append(f"{who} {run.id} ({run.name}) was abandoned: {run.reason or 'no reason'}"
                       "; it is left out")
        elif run.status != "finished":
            out.append(f"{who} {run.id} ({run.name}) is {run.status}"
                       + (f" ({run.reason})" if run.reason else "")
                       + ": not a finished result")
        else:
            why = ev.usable(lab, run)
            if why:
                out.append(f"{who} {run.id} ({run.name}) is {why}")
    for flag in proposal.flags:
        if not any(run_id in flag for run_id in by_id) or "rerun" in flag:
            out.append(flag)
    if not fit.available:
        out.append(f"no scaling law for the baseline: {fit.reason}")
    else:
        if fit.holdout_max_error is not None and fit.holdout_max_error > 0.02:
            out.append(f"the baseline law misses its held-out largest runs by up to "
                       f"{fit.holdout_max_error:.1%} ({fit.holdout_note})")
        if fit.n_points < 5:
            out.append(f"the baseline law rests on {fit.n_points} runs only")
    for row in gain.rows:
        if row.extrapolated and fit.compute_range is not None:
            lo, hi = fit.compute_range
            side = "above" if row.compute > hi else "below"
            out.append(f"rung {row.rung} (C = {row.compute:.3g}) lies {side} the baseline's "
                       f"fitted range [{lo:.3g}, {hi:.3g}] FLOPs: its gain is an "
                       "extrapolation of the law")
        if not row.defined:
            out.append(f"rung {row.rung}: {row.note}")
        elif row.ci_high is None:
            out.append(f"rung {row.rung}: the gain's interval is unbounded above")
    if gain.available and gain.verdict in ("falling", "inconclusive"):
        out.append(f"the gain's trend with scale is {gain.verdict}: {gain.explanation}")
    for arm in strat.arms:
        for line in arm.findings:
            if "(thin)" in line or "empty bucket" in line or "have no" in line:
                out.append(f"stratified evaluation of the {arm.arm} run {arm.run_id}: {line}")
    if strat.largest_regression:
        out.append(f"the feature run is worse than the baseline in bucket "
                   f"{strat.largest_regression}")
    if standards is not None:
        out += _standards_caveats(standards, runs)
    if base_row is not None:
        check = baseline_rules.regression(lab, dict(base_row))
        if check["status"] == "regressed":
            out.append(f"the baseline {base_row['version']} regressed against its parent: "
                       f"{check['text']}")
    dirty = [r.id for r in runs if r.git_dirty]
    if dirty:
        out.append(f"{len(dirty)} run(s) ran with uncommitted changes ({', '.join(dirty[:5])}): "
                   "their code snapshot, not the commit, reproduces them")
    uncaptured = [r.id for r in runs if r.kind != "smoke" and not (r.git_commit
                                                                   or r.code_snapshot)]
    if uncaptured:
        out.append(f"{len(uncaptured)} run(s) recorded neither a git commit nor a code "
                   f"snapshot ({', '.join(uncaptured[:5])}): their code cannot be recovered")
    no_command = [r.id for r in runs if not r.command]
    if no_command:
        out.append(f"{len(no_command)} run(s) recorded no command: {', '.join(no_command[:5])}")
    deadline = question_rules.deadline(dict(q))
    if deadline is not None and q["status"] in ("open", "running") and time.time() > deadline:
        out.append(f"question {q['id']}'s time box ran out "
                   f"{(time.time() - deadline) / 3600:.1f} h ago")
    return tuple(dict.fromkeys(out))


def _shell(command: Sequence[str] | None) -> str | None:
    if not command:
        return None
    return " ".join(shlex.quote(str(part)) for part in command)


def _reproduce(runs: Sequence[RunRecord], base_config: Mapping[str, Any] | None,
               version: str | None, qid: str) -> tuple[ReproRow, ...]:
    base_flat = flatten(base_config) if base_config else None
    rows = []
    for run in runs:
        if run.kind == "smoke":
            continue  # `stepstone run --smoke` makes these again
        delta = _run_delta(run, base_config)
        overrides = tuple(_override(k, v, base_flat) for k, v in sorted(delta.items()))
        command = _shell(run.command)
        line = None
        baseline = run.baseline or version
        if command and baseline:
            parts = ["stepstone", "run", "--baseline", baseline]
            if run.question_id:
                parts += ["--question", run.question_id]
            if run.kind != ("feature" if run.question_id else "adhoc"):
                parts += ["--kind", run.kind]
            for item in overrides:
                parts += ["--set", item]
            parts += ["--yes", "--"]
            line = " ".join(shlex.quote(p) for p in parts) + " " + command
        rows.append(ReproRow(
            run_id=run.id, name=run.name, arm="feature" if run.question_id == qid else "baseline",
            kind=run.kind, status=run.status, cwd=run.cwd, command=command, overrides=overrides,
            stepstone_command=line, git_commit=run.git_commit, git_dirty=bool(run.git_dirty),
            code_snapshot=run.code_snapshot))
    return tuple(rows)


__all__ = ["Report", "build_report"]
