"""Which runs an analysis reads, and their records as the inputs of the pure analysis.

:mod:`stepstone.analysis` stays free of I/O; selecting runs from a lab (run summaries,
evaluation records, stored fits) and turning them into arrays lives here, so the command
line, the dashboard, reports and notebooks share one way of doing it. Files a user gives
on the command line (CSV, Parquet, ``.npy``) are read by :mod:`stepstone.cli.inputs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stepstone.configs import flatten
from stepstone.display import finite
from stepstone.errors import AnalysisError, NotFoundError, UsageError
from stepstone.store.runs import RunRecord

if TYPE_CHECKING:

    from stepstone.analysis.fit import ScalingFit
    from stepstone.analysis.pareto import MFUResult
    from stepstone.store.lab import Lab, StoredFit  # `stepstone fit --from` opens no lab

N_KEY, D_KEY, C_KEY, METHOD_KEY = "n_params", "tokens", "flops", "flops_method"
TIME_KEY = "train/time_s"
"""Summary key of a run's training time in seconds (what the built-in tasks log)."""


@dataclass
class Selection:
    """Runs picked from a lab: the finished ones used, and the others with why not."""

    source: str
    runs: list[RunRecord]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (run id, reason)

    def skipped_line(self) -> str:
        """One line saying how many runs were skipped and why ('' when none)."""
        if not self.skipped:
            return ""
        reasons: dict[str, int] = {}
        for _, why in self.skipped:
            reasons[why] = reasons.get(why, 0) + 1
        parts = ", ".join(f"{n} {why}" for why, n in reasons.items())
        return f"skipped {len(self.skipped)} run(s): {parts}"


def select_runs(
    lab: Lab,
    *,
    question: str | None = None,
    baseline: str | None = None,
    tag: str | None = None,
    project: str | None = None,
    run_ids: Sequence[str] = (),
    finished_only: bool = True,
) -> Selection:
    """The runs named by one or more filters (all must hold); unfinished runs are skipped."""
    if not (question or baseline or tag or project or run_ids):
        raise UsageError("choose runs: give --question, --baseline, --tag, --project or --run")
    ids = [lab.runs.resolve_id(r) for r in run_ids] if run_ids else None
    records = lab.runs.list(question_id=question, baseline=baseline, tag=tag, project=project,
                            ids=ids)
    parts = [f"{k}:{v}" for k, v in (("question", question), ("baseline", baseline),
                                     ("tag", tag), ("project", project)) if v]
    if ids:
        parts.append("runs:" + ",".join(i[:8] for i in ids))
    source = " ".join(parts)
    if not records:
        raise NotFoundError(f"no runs match {source}")
    records.sort(key=lambda r: r.created_at)
    used: list[RunRecord] = []
    skipped: list[tuple[str, str]] = []
    for rec in records:
        if finished_only and rec.status != "finished":
            skipped.append((rec.id, f"not finished ({rec.status})"))
        else:
            used.append(rec)
    return Selection(source, used, skipped)


def number(summary: Mapping[str, Any], key: str) -> float | None:
    """``summary[key]`` as a finite float, else None (booleans and text are not numbers)."""
    return finite(summary.get(key))


def config_number(config: Mapping[str, Any], key: str) -> float | None:
    """The finite number at exactly the dotted path ``key`` of ``config``, or None. No suffix
    matching: ``steps`` is the top-level key only (never ``eval.steps``), ``train.steps`` that
    path."""
    return number(flatten(config, strict=False), key)


@dataclass
class ScalingPoints:
    """One point per run: N, D, C and the loss, with how C was obtained."""

    source: str
    labels: list[str]
    loss: list[float]
    compute: list[float]
    n: list[float] | None
    d: list[float] | None
    flops_method: str
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.loss)


def _method(methods: Sequence[str]) -> str:
    distinct = sorted(set(methods))
    if not distinct:
        return "given"
    return distinct[0] if len(distinct) == 1 else "mixed(" + ",".join(distinct) + ")"


def scaling_points(selection: Selection, metric: str = "val_loss",
                   *, need_nd: bool = False) -> ScalingPoints:
    """N, D, C and ``metric`` from each run's summary (C = 6·N·D when ``flops`` is absent).

    ``flops_method`` is the summary's, else ``given`` for a logged ``flops`` (how it was
    counted is unknown), ``6ND`` when computed here, ``mixed(...)`` when runs differ."""
    from stepstone.analysis import flops_6nd

    labels: list[str] = []
    loss: list[float] = []
    comp: list[float] = []
    ns: list[float | None] = []
    ds: list[float | None] = []
    methods: list[str] = []
    skipped = list(selection.skipped)
    for rec in selection.runs:
        s = rec.summary
        y, n, d, c = number(s, metric), number(s, N_KEY), number(s, D_KEY), number(s, C_KEY)
        if y is None:
            skipped.append((rec.id, f"no {metric!r} in summary"))
            continue
        if need_nd and (n is None or d is None):
            skipped.append((rec.id, f"no {N_KEY!r}/{D_KEY!r} in summary"))
            continue
        if c is not None:  # a logged C that does not say how it was counted is "given"
            method = str(s.get(METHOD_KEY) or "given")
        elif n is not None and d is not None:
            try:
                c = flops_6nd(n, d).flops
            except AnalysisError:
                skipped.append((rec.id, f"non-positive {N_KEY!r}/{D_KEY!r}"))
                continue
            method = "6ND"
        else:
            skipped.append((rec.id, f"no {C_KEY!r} and no {N_KEY!r}+{D_KEY!r} in summary"))
            continue
        labels.append(rec.id)
        loss.append(y)
        comp.append(c)
        ns.append(n)
        ds.append(d)
        methods.append(method)
    have_nd = bool(ns) and all(v is not None for v in ns) and all(v is not None for v in ds)
    return ScalingPoints(
        source=selection.source, labels=labels, loss=loss, compute=comp,
        n=[float(v) for v in ns if v is not None] if have_nd else None,
        d=[float(v) for v in ds if v is not None] if have_nd else None,
        flops_method=_method(methods), skipped=skipped,
    )


def fit_points(points: ScalingPoints, form: str, *, n_bootstrap: int = 1000,
               holdout: int | None = None, seed: int | None = 0) -> ScalingFit:
    """Fit ``form`` to the points (``chinchilla`` on N and D, the others on C)."""
    from stepstone.analysis import fit_scaling_law

    if form == "chinchilla":
        if points.n is None or points.d is None:
            raise AnalysisError("A chinchilla fit needs N and D for every run "
                                f"(summary keys {N_KEY!r} and {D_KEY!r}, or --n-col/--d-col).")
        return fit_scaling_law(form, n=points.n, d=points.d, loss=points.loss,
                               n_bootstrap=n_bootstrap, holdout=holdout, seed=seed,
                               flops_method=points.flops_method)
    return fit_scaling_law(form, compute=points.compute, loss=points.loss,
                           n_bootstrap=n_bootstrap, holdout=holdout, seed=seed,
                           flops_method=points.flops_method)


def find_fit(lab: Lab, ref: str) -> StoredFit:
    """A stored fit by id, or the newest one with that label."""
    fits = lab.fits()
    for row in fits:
        if row.id == ref:
            return row
    for row in fits:  # newest first
        if row.label == ref:
            return row
    raise NotFoundError(f"no stored fit with id or label {ref!r}: make one with `stepstone fit`")


def fit_from_stored(row: StoredFit) -> ScalingFit:
    """Rebuild a stored fit (with its bootstrap refits) by refitting its stored data with the
    stored form, bootstrap count and seed: deterministic, so it equals the fit that was saved."""
    from stepstone.analysis import fit_scaling_law

    res = row.result
    kwargs: dict[str, Any] = dict(
        loss=res["loss"], n_bootstrap=int(res.get("n_bootstrap") or 0), holdout=0,
        seed=res.get("seed"), confidence=float(res.get("confidence") or 0.95),
        flops_method=str(res.get("flops_method") or row.flops_method or "given"),
    )
    if res.get("n") is not None and res.get("d") is not None:
        return fit_scaling_law(res["form"], n=res["n"], d=res["d"], **kwargs)
    return fit_scaling_law(res["form"], compute=res["compute"], **kwargs)


def arm_values(runs: Sequence[RunRecord], metric: str) -> dict[str, float]:
    """Seed -> summary value of ``metric`` (seed from the config, else the run's seed)."""
    out: dict[str, float] = {}
    for rec in runs:
        value = number(rec.summary, metric)
        if value is None:
            continue
        seed = rec.config.get("seed", rec.seed)
        key = str(seed if seed is not None else rec.id)
        if key in out:
            raise UsageError(f"two runs of one arm have seed {key}: an arm needs one run per seed")
        out[key] = value
    return out


def eval_keys(summaries: Sequence[Mapping[str, Any]], loss_key: str) -> list[str]:
    """Summary keys that look like downstream evals (``eval...``) and every summary has."""
    if not summaries:
        return []
    common = [k for k in summaries[0] if k != loss_key and k.lower().startswith("eval")
              and all(number(s, k) is not None for s in summaries)]
    return sorted(common)


def eval_records(lab: Lab, run_ref: str, name: str | None = None) -> list[dict[str, Any]]:
    """The per-example evaluation records of a run, flat as analysis reads them
    (:meth:`stepstone.store.evals.EvalRecord.to_dict`; ``name``: one eval set; default: the
    only one, or ``eval``)."""
    run_id = lab.runs.resolve_id(run_ref)
    names = lab.evals.names(run_id)
    if not names:
        raise NotFoundError(f"run {run_id} has no evaluation records: log them with "
                            "run.log_eval(records)")
    if name is None:
        if len(names) == 1:
            name = names[0]
        elif "eval" in names:
            name = "eval"
        else:
            raise UsageError(f"run {run_id} has several eval sets ({', '.join(names)}): "
                             "choose one with --name")
    elif name not in names:
        raise NotFoundError(f"run {run_id} has no eval set {name!r} (it has {', '.join(names)})")
    return [r.to_dict() for r in lab.evals.records(run_id, name)]


def bucket_fields(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The fields records can be bucketed by (not id, score, correct, prediction, name, step)."""
    skip = {"id", "score", "correct", "prediction", "name", "step"}
    return sorted({k for r in records for k in r if k not in skip})


def summary_rows(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One dict per run for :func:`stepstone.analysis.pareto_front`: its summary keys as they
    are, id and name (an export's rows are :func:`stepstone.store.export.run_rows`)."""
    return [{**r.summary, "id": r.id, "name": r.name} for r in runs]


def run_mfu(run: RunRecord, peak_flops_per_second: float, *, n_devices: int = 1,
            time_key: str = TIME_KEY) -> tuple[MFUResult | None, str]:
    """The run's MFU from the FLOPs (``flops``, counted as its ``flops_method`` says) and the
    training time (``time_key``) in its summary, on ``n_devices`` devices of the given peak;
    else None and why not."""
    from stepstone.analysis import mfu
    from stepstone.analysis.flops import FlopsEstimate

    s = run.summary
    flops, seconds = number(s, C_KEY), number(s, time_key)
    if flops is None:
        return None, f"no {C_KEY!r} in summary"
    if seconds is None:
        return None, f"no {time_key!r} in summary"
    estimate = FlopsEstimate(flops, str(s.get(METHOD_KEY) or "given"), number(s, N_KEY),
                             number(s, D_KEY), f"summary {C_KEY!r}")
    try:
        return mfu(estimate, seconds, peak_flops_per_second, n_devices=n_devices), ""
    except AnalysisError as exc:
        return None, str(exc)


def config_groups(runs: Sequence[RunRecord], key: str
                  ) -> tuple[dict[str, list[RunRecord]], list[tuple[str, str]]]:
    """Runs grouped by the value at exactly the dotted config path ``key`` (as text), in the
    order first seen, and the runs without it (run id, reason)."""
    groups: dict[str, list[RunRecord]] = {}
    skipped: list[tuple[str, str]] = []
    for rec in runs:
        value = flatten(rec.config, strict=False).get(key)
        if value is None:
            skipped.append((rec.id, f"no config {key!r}"))
        else:
            groups.setdefault(str(value), []).append(rec)
    return groups, skipped


MIN_PAIRS = 2
"""Seeds a precision must share with the reference to be compared paired (else Welch)."""


def precision_results(groups: Mapping[str, Sequence[RunRecord]], metric: str, reference: str
                      ) -> tuple[dict[str, dict[str, float] | list[float]],
                                 list[tuple[str, str]]]:
    """The input of :func:`stepstone.analysis.compare_precisions`, and the runs without
    ``metric`` (run id, reason). Per precision: seed -> ``metric`` (paired with the reference
    on common seeds) when it shares at least ``MIN_PAIRS`` seeds with the reference, else its
    values as a list (compared unpaired, Welch). A precision with no value is left out; a
    reference without one is refused."""
    if reference not in groups:
        raise UsageError(f"no run has precision {reference!r}: choose --reference among "
                         f"{', '.join(groups) or 'none'}")
    values = {name: arm_values(runs, metric) for name, runs in groups.items()}
    skipped = [(r.id, f"no {metric!r} in summary") for runs in groups.values() for r in runs
               if number(r.summary, metric) is None]
    ref = values[reference]
    if not ref:
        raise AnalysisError(f"no run of the reference precision {reference!r} has {metric!r} "
                            "in its summary")
    out: dict[str, dict[str, float] | list[float]] = {}
    for name, by_seed in values.items():
        if by_seed:
            paired = name == reference or len(set(by_seed) & set(ref)) >= MIN_PAIRS
            out[name] = by_seed if paired else list(by_seed.values())
    return out, skipped
