"""The noise floor of a baseline version: how far its metric moves from seed to seed.

Measured on the version's own finished runs (kind ``baseline``) at one rung of its ladder,
one run per seed (a rerun replaces the run it repeats), and stored with the version:
:func:`measure` measures and records it, :func:`stepstone.method.evidence.noise_floor` reads
the newest one back. A
comparison with one seed borrows it as its seed noise, and rules may be written in its
units (``delta eval/loss <= -2 sigma``). ``stepstone baseline noise`` launches the seeds it
needs (:func:`seeds_to_run`) and then measures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stepstone.analysis.noise import NoiseFloor, noise_floor_of
from stepstone.errors import AnalysisError, UsageError
from stepstone.method import baselines as baseline_rules
from stepstone.method import evidence
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord, numeric


def seed_of(run: RunRecord) -> str:
    """A run's seed as a label (its id when it has none: then every run is its own seed)."""
    return str(run.seed if run.seed is not None else run.config.get("seed", run.id))


def rung_seeds(lab: Lab, version: str, metric: str) -> dict[str, dict[str, RunRecord]]:
    """The version's usable baseline runs that have ``metric``: rung label → seed → run (the
    newest run of a seed at a rung)."""
    out: dict[str, dict[str, RunRecord]] = {}
    for run in evidence.baseline_runs(lab, version):  # oldest first: a rerun replaces
        if evidence.usable(lab, run) is None and numeric(run.summary.get(metric)) is not None:
            out.setdefault(evidence.rung_label(run), {})[seed_of(run)] = run
    return out


def _rung_text(rung: str) -> str:
    return "its runs" if rung == "None" else f"rung {rung}"


def choose_rung(by_rung: dict[str, dict[str, RunRecord]], rung: str | None) -> str | None:
    """The rung to measure at: ``rung`` when given, else the one with the most seeds (the
    largest compute among ties); None when the version has no run with the metric."""
    if rung is not None:
        return str(rung)
    if not by_rung:
        return None

    def size(label: str) -> tuple[int, float]:
        runs = list(by_rung[label].values())
        flops = [numeric(r.summary.get("flops")) or 0.0 for r in runs]
        return len(runs), max(flops)

    return max(by_rung, key=size)


def measure(lab: Lab, baseline: str, *, metric: str | None = None,
            rung: str | None = None) -> NoiseFloor:
    """Measure the noise floor of ``baseline`` (a tier or a version) on its finished seeds at
    ``rung`` (default: the rung with the most seeds), record it with the version, return it.

    ``metric`` defaults to the version's reference metric. Fewer than two seeds is refused
    with the command that runs more."""
    row = baseline_rules.resolve(lab, baseline)
    version = row.version
    metric = metric or row.reference_metric
    if not metric:
        raise UsageError(f"{version} has no reference metric: give --metric NAME")
    by_rung = rung_seeds(lab, version, metric)
    chosen = choose_rung(by_rung, rung)
    runs = by_rung.get(chosen or "", {})
    if len(runs) < 2:
        where = f" at {_rung_text(chosen)}" if chosen else ""
        raise UsageError(
            f"{version} has {len(runs)} finished seed(s) with {metric}{where}: the noise floor "
            f"needs at least 2; run them with `stepstone baseline noise {row.tier} --seeds 3"
            + (f" --rung {chosen}" if chosen and chosen != "None" else "") + " -- COMMAND`")
    ordered = sorted(runs.values(), key=lambda r: r.created_at)
    values = [float(numeric(r.summary[metric]) or 0.0) for r in ordered]
    try:
        floor = noise_floor_of(metric, values, rung=None if chosen == "None" else chosen,
                               runs=[r.id for r in ordered])
    except AnalysisError as exc:  # pragma: no cover - numeric() keeps non-finite values out
        raise UsageError(str(exc)) from None
    lab.baselines.record_noise(version, metric=floor.metric, sd=floor.sd, n=floor.n,
                               rung=floor.rung, runs=floor.runs)
    return floor


def seeds_to_run(lab: Lab, version: str, metric: str, rung: str | None,
                 seeds: int) -> tuple[dict[str, Any], list[int]]:
    """What ``baseline noise --seeds N`` launches: the config of ``version`` at ``rung`` (the
    config of a finished baseline run there, its seed left out; the version's own config when
    no rung is given) and the seeds that ``rung`` still lacks to have ``seeds`` of them."""
    if seeds < 2:
        raise UsageError(f"--seeds {seeds}: a noise floor needs at least 2 seeds")
    row = baseline_rules.resolve(lab, version)
    have = rung_seeds(lab, row.version, metric)
    if rung is None:
        config = dict(row.config)
        done = have.get("None", {})
    else:
        done = have.get(str(rung), {})
        runs = [r for r in evidence.baseline_runs(lab, row.version)
                if evidence.rung_label(r) == str(rung) and evidence.usable(lab, r) is None]
        if not runs:
            rungs = sorted(label for label in have if label != "None")
            raise UsageError(f"{row.version} has no finished run at rung {rung} to repeat"
                             + (f" (its rungs: {', '.join(rungs)})" if rungs else
                                ": run its ladder first (`stepstone ladder --baseline "
                                f"{row.tier} ...`)"))
        config = dict(runs[-1].config)
    missing: list[int] = []
    candidate = 0
    while len(done) + len(missing) < seeds:
        if str(candidate) not in done:
            missing.append(candidate)
        candidate += 1
    return config, missing


def describe_floor(floor: NoiseFloor | None, seeds: Sequence[int] = ()) -> str:
    """One line: ``eval/loss: sd 0.0042 over 3 seeds at rung r3``."""
    if floor is None:
        return "no noise floor measured"
    where = f" at rung {floor.rung}" if floor.rung else ""
    launched = f" ({len(seeds)} launched)" if seeds else ""
    return f"{floor.metric}: sd {floor.sd:.4g} over {floor.n} seeds{where}{launched}"
