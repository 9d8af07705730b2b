"""Scaling evidence for a question, in full: its baseline's fitted law and the gain per rung.

This module is the one home of that science. :func:`stepstone.method.decide.gather` reduces
the gain to the numbers its rule reads, the dashboard's scaling page
(:func:`stepstone.web.analysis.scaling_data`) draws it, and a report shows the whole of it:
the law with its bootstrap band and hold-out check (or the reason there is none), and the
:class:`~stepstone.analysis.gain.GainResult` with every rung and the trend verdict. All three
take it from here (:func:`question_evidence` for ``decide`` and the dashboard, with
:data:`N_BOOTSTRAP` refits; a report fits with its own ``--bootstrap``), so they agree.

The law is fitted to the baseline version's own finished runs (kind ``baseline``); a rung is
:func:`rung_of` (config/summary ``rung``, else ``n_params``, else ``flops``), and seeds at one
rung are averaged (a rerun replaces the run it repeats) and their spread kept as the rung's
seed noise (one seed: the baseline's noise floor, :func:`version_floor`): :func:`feature_rungs`
is that rule, for ``decide`` and ``stepstone gain`` alike. Refusals become a ``reason``, never an
exception. numpy and scipy load inside the functions.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stepstone.errors import AnalysisError, NotFoundError, StepstoneError
from stepstone.method import baselines as baseline_rules
from stepstone.method import evaluator as evaluator_rules
from stepstone.method import selection as aio
from stepstone.method.schedule import schedule_incomplete
from stepstone.store.lab import Lab
from stepstone.store.questions import Question
from stepstone.store.runs import RunRecord

if TYPE_CHECKING:
    from stepstone.analysis.fit import ScalingFit
    from stepstone.analysis.gain import GainResult
    from stepstone.analysis.noise import NoiseFloor
    from stepstone.analysis.uncertainty import SeedNoise

#: Bootstrap refits of the law for ``decide`` and the dashboard (a report has ``--bootstrap``).
N_BOOTSTRAP = 200


@dataclass(frozen=True)
class BaselineLaw:
    """The baseline's fitted law, or why there is none."""

    version: str | None
    metric: str
    source: str
    fit: ScalingFit | None = None
    run_ids: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    reason: str | None = None
    fit_id: str | None = None
    points: aio.ScalingPoints | None = None  # what the law was fitted on (None: a stored fit)


@dataclass(frozen=True)
class Rungs:
    """Feature runs grouped by rung, seeds averaged: what a gain is measured on."""

    labels: tuple[str, ...]
    compute: tuple[float, ...]  # mean over the rung's seeds
    loss: tuple[float, ...]
    n: tuple[float, ...] | None  # mean N per rung (None: some run has no N and D)
    run_ids: tuple[tuple[str, ...], ...]  # the runs averaged at each rung
    points: aio.ScalingPoints  # one point per run used
    point_rungs: tuple[str, ...]  # the rung label of each point
    skipped: tuple[tuple[str, str], ...]
    noise: tuple[SeedNoise, ...] = ()  # the seed noise of each rung's mean loss


@dataclass(frozen=True)
class QuestionGain:
    """The question's gain per rung over a baseline law, or why there is none."""

    question_id: str
    metric: str
    result: GainResult | None = None
    rung_runs: tuple[tuple[str, ...], ...] = ()  # the run ids averaged at each rung
    skipped: tuple[tuple[str, str], ...] = ()
    reason: str | None = None
    points: aio.ScalingPoints | None = None  # the question's runs used, one point per run
    point_rungs: tuple[str, ...] = ()  # the rung label of each point


def rung_of(run: RunRecord) -> Any:
    """A run's rung: config/summary ``rung``, else summary/config ``n_params``, else the
    summary's ``flops``; a float with an integer value is that integer (``1e7`` is rung
    ``10000000``); None when it has none."""
    value: Any = None
    for source in (run.config, run.summary):
        if source.get("rung") is not None:
            value = source["rung"]
            break
    else:
        for key in ("n_params", "flops"):
            found = [src[key] for src in (run.summary, run.config) if src.get(key) is not None]
            if found:
                value = found[0]
                break
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def rung_label(run: RunRecord) -> str:
    """A run's rung as the label a gain is reported under."""
    return str(rung_of(run))


def question_runs(lab: Lab, question_id: str) -> list[RunRecord]:
    """A question's runs but its smoke runs (a ladder's quick first check, never a result)."""
    return [r for r in lab.runs.list(question_id=question_id) if r.kind != "smoke"]


def question_version(lab: Lab, question: Question,
                     runs: Sequence[RunRecord]) -> str | None:
    """The baseline version a question is measured against: the one most of its runs name,
    else the version its ``baseline`` (tier or version) resolves to."""
    versions = [r.baseline for r in runs if r.baseline]
    if versions:
        return max(set(versions), key=versions.count)
    if question.baseline:
        return baseline_rules.resolve(lab, question.baseline).version
    return None


def loss_metric(lab: Lab, question: Question | None, version: str | None) -> str:
    """The loss a question's gain is measured on: its first metric that is not ``gain``, else
    the baseline version's reference metric, else ``val_loss`` (the last two also with no
    question)."""
    for name in question.metrics if question is not None else ():
        if name != "gain":
            return str(name)
    if version is not None:
        try:
            row = baseline_rules.resolve(lab, version)
        except NotFoundError:
            row = None
        if row and row.reference_metric:
            return row.reference_metric
    return "val_loss"


def usable(lab: Lab, run: RunRecord) -> str | None:
    """Why a run is not a finished result to use as evidence (None when it is)."""
    if run.kind == "smoke":
        return "a smoke run"
    if run.status != "finished":
        return f"not finished ({run.status})"
    cut = schedule_incomplete(lab, run)
    if cut:
        return f"not a finished result ({cut})"
    return evaluator_rules.differs(lab, run)


def baseline_runs(lab: Lab, version: str) -> list[RunRecord]:
    """The version's own runs (kind ``baseline``), oldest first."""
    runs = lab.runs.list(baseline=version, kind="baseline")
    return sorted(runs, key=lambda r: r.created_at)


def baseline_law(
    lab: Lab, version: str | None, *, metric: str = "val_loss", form: str = "compute",
    n_bootstrap: int = 1000, seed: int = 0, fit_ref: str | None = None,
) -> BaselineLaw:
    """Fit ``form`` to the baseline version's finished runs (or rebuild the stored fit
    ``fit_ref``); a refusal becomes ``reason``, never an exception."""
    if fit_ref is not None:
        try:
            row = aio.find_fit(lab, fit_ref)
            fit = aio.fit_from_stored(row)
        except StepstoneError as exc:
            return BaselineLaw(version, metric, f"stored fit {fit_ref}", reason=str(exc))
        return BaselineLaw(version, metric, f"stored fit {row.id} ({row.label})", fit,
                           row.run_ids, fit_id=row.id)
    source = f"baseline:{version}"
    if version is None:
        return BaselineLaw(None, metric, source, reason="the question has no baseline version")
    skipped: list[tuple[str, str]] = []
    used: list[RunRecord] = []
    for run in baseline_runs(lab, version):
        why = usable(lab, run)
        if why is None:
            used.append(run)
        else:
            skipped.append((run.id, why))
    if not used:
        return BaselineLaw(version, metric, source, skipped=tuple(skipped),
                           reason=f"the baseline {version} has no finished runs of its own")
    points = aio.scaling_points(aio.Selection(source, used, skipped), metric,
                                need_nd=form == "chinchilla")
    if len(points) == 0:
        return BaselineLaw(version, metric, source, skipped=tuple(points.skipped),
                           reason=f"no baseline run has {metric!r} and a compute (flops, or "
                                  "n_params and tokens) in its summary")
    try:
        fit = aio.fit_points(points, form, n_bootstrap=n_bootstrap, seed=seed)
    except AnalysisError as exc:
        return BaselineLaw(version, metric, source, run_ids=tuple(points.labels),
                           skipped=tuple(points.skipped), points=points,
                           reason=f"the baseline {version} law cannot be fitted ({exc})")
    return BaselineLaw(version, metric, source, fit, tuple(points.labels),
                       tuple(points.skipped), points=points)


def feature_rungs(lab: Lab, runs: Sequence[RunRecord], metric: str, source: str, *,
                  need_nd: bool = False, floor: NoiseFloor | None = None) -> Rungs:
    """The usable runs among ``runs`` (no smoke runs), one per rung and seed (a rerun replaces
    the run it repeats), averaged per rung (mean compute, loss and N over the seeds), the
    rungs in order of compute, each with the seed noise of its mean loss (its own seeds, else
    the baseline's noise ``floor``): what ``decide``, the report, the dashboard and
    ``stepstone gain`` measure a gain on."""
    from stepstone.analysis.uncertainty import seed_noise

    skipped: list[tuple[str, str]] = []
    newest: dict[tuple[str, str], RunRecord] = {}
    for run in sorted((r for r in runs if r.kind != "smoke"), key=lambda r: r.created_at):
        why = usable(lab, run)
        if why is not None:
            skipped.append((run.id, why))
            continue
        seed = run.seed if run.seed is not None else run.config.get("seed", run.id)
        key = (rung_label(run), str(seed))
        if key in newest:
            skipped.append((newest[key].id, f"rerun as {run.id}"))
        newest[key] = run
    points = aio.scaling_points(aio.Selection(source, list(newest.values())), metric,
                                need_nd=need_nd)
    skipped += points.skipped
    run_by_id = {r.id: r for r in newest.values()}
    point_rungs = tuple(rung_label(run_by_id[run_id]) for run_id in points.labels)
    by_rung: dict[str, list[int]] = {}
    for i, label in enumerate(point_rungs):
        by_rung.setdefault(label, []).append(i)

    def mean(values: Sequence[float], label: str) -> float:
        return statistics.fmean(values[i] for i in by_rung[label])

    labels = sorted(by_rung, key=lambda k: mean(points.compute, k))
    return Rungs(
        labels=tuple(labels), compute=tuple(mean(points.compute, k) for k in labels),
        loss=tuple(mean(points.loss, k) for k in labels),
        n=tuple(mean(points.n, k) for k in labels) if points.n is not None else None,
        run_ids=tuple(tuple(points.labels[i] for i in by_rung[k]) for k in labels),
        points=points, point_rungs=point_rungs, skipped=tuple(skipped),
        noise=tuple(seed_noise([points.loss[i] for i in by_rung[k]],
                               floor.sd if floor else None, floor.n if floor else None)
                    for k in labels))


def rungs_gain(fit: ScalingFit, rungs: Rungs, *, tolerance: float = 0.1,
               same_size: bool = False) -> GainResult:
    """:func:`~stepstone.analysis.efficiency_gain` of seed-averaged rungs over ``fit``
    (``same_size``: against the baseline at each rung's own N); raises AnalysisError."""
    from stepstone.analysis import efficiency_gain

    if same_size and rungs.n is None:
        raise AnalysisError("a same-size comparison needs n_params and tokens in every "
                            "feature run's summary")
    return efficiency_gain(fit, rungs.compute, rungs.loss, labels=rungs.labels,
                           n=rungs.n if same_size else None, tolerance=tolerance,
                           flops_method=rungs.points.flops_method,
                           noise=rungs.noise or None)


def noise_floor(lab: Lab, version: str, metric: str) -> NoiseFloor | None:
    """The newest noise floor of ``metric`` measured on ``version`` (None: never measured;
    :mod:`stepstone.method.noise` measures it)."""
    from stepstone.analysis.noise import NoiseFloor  # numpy, with the analysis

    found = lab.baselines.noise(version, metric)
    if not found:
        return None
    record = found[-1]
    return NoiseFloor(metric=record.metric, sd=record.sd, n=record.n, rung=record.rung,
                      runs=record.runs)


def version_floor(lab: Lab, baseline: str | None, metric: str) -> NoiseFloor | None:
    """The newest noise floor of ``metric`` on ``baseline`` (a version or a tier; None when it
    names no baseline or none was measured)."""
    if baseline is None:
        return None
    try:
        version = baseline_rules.resolve(lab, baseline).version
    except NotFoundError:
        return None
    return noise_floor(lab, version, metric)


def question_gain(lab: Lab, question_id: str, law: BaselineLaw, *,
                  tolerance: float = 0.1) -> QuestionGain:
    """The efficiency gain of the question's finished runs over ``law``, one value per rung
    (:func:`feature_rungs`). Without a law, the runs selected still come back (``points``)
    with the reason."""
    metric = law.metric
    rungs = feature_rungs(lab, lab.runs.list(question_id=question_id), metric,
                          f"question:{question_id}", floor=version_floor(lab, law.version, metric))
    common: dict[str, Any] = dict(skipped=rungs.skipped, points=rungs.points,
                                  point_rungs=rungs.point_rungs)
    if law.fit is None:
        return QuestionGain(question_id, metric, **common,
                            reason=f"no baseline law to measure against ({law.reason})")
    if not rungs.labels:
        return QuestionGain(question_id, metric, **common,
                            reason=f"no finished run of {question_id} has {metric!r} and a "
                                   "compute (flops, or n_params and tokens) in its summary")
    try:
        result = rungs_gain(law.fit, rungs, tolerance=tolerance)
    except AnalysisError as exc:
        return QuestionGain(question_id, metric, **common, reason=str(exc))
    return QuestionGain(question_id, metric, result, rungs.run_ids, **common)


def question_evidence(
    lab: Lab, question: Question, version: str | None, *, metric: str | None = None,
    n_bootstrap: int = N_BOOTSTRAP, tolerance: float = 0.1,
) -> tuple[BaselineLaw, QuestionGain]:
    """The law of ``version`` and the question's gain over it, as ``decide`` and the dashboard
    read them: the compute form, :data:`N_BOOTSTRAP` refits, the loss of :func:`loss_metric`
    (``metric`` picks another summary key)."""
    law = baseline_law(lab, version, metric=metric or loss_metric(lab, question, version),
                       n_bootstrap=n_bootstrap)
    return law, question_gain(lab, question.id, law, tolerance=tolerance)


def compute_range(fit: ScalingFit) -> tuple[float, float] | None:
    """The smallest and largest compute the law was fitted on (None for a bare (N, D) fit)."""
    values: Sequence[float] | None = fit.compute
    if values is None and fit.n is not None and fit.d is not None:
        values = [6.0 * n * d for n, d in zip(fit.n, fit.d, strict=True)]
    if not values:
        return None
    return (min(values), max(values))


__all__ = [
    "N_BOOTSTRAP",
    "BaselineLaw",
    "QuestionGain",
    "Rungs",
    "baseline_law",
    "baseline_runs",
    "compute_range",
    "feature_rungs",
    "loss_metric",
    "noise_floor",
    "question_evidence",
    "question_gain",
    "question_version",
    "rung_label",
    "rung_of",
    "rungs_gain",
    "usable",
    "version_floor",
]
