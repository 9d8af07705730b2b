"""Dated baselines: create, resolve and check for regressions (a proven feature is promoted
into a new version by :mod:`stepstone.method.promote`).

A baseline version is ``TIER@YYYY-MM-DD`` (``.2``, ``.3`` for more the same day); its
config is frozen. A promotion makes a new version from the tier's current one plus the
config change that a question answered *yes* proved, and the new version's own runs
must not be worse than its parent's beyond noise on the reference metric.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stepstone.configs import flatten, load_config, unflatten
from stepstone.display import day
from stepstone.errors import NotFoundError, UsageError
from stepstone.store.baselines import BaselineVersion, NoiseRecord
from stepstone.store.lab import Lab
from stepstone.store.runs import RunRecord, numeric

TIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
NOISE_TOLERANCE = 0.01
"""With one seed a side, a difference within 1% of the parent's mean counts as noise."""
_LOWER_BETTER = frozenset((
    "loss", "losses", "error", "errors", "err", "perplexity", "ppl", "nll", "latency", "time",
    "ms", "seconds", "bpb", "bpc", "bits", "wer", "cer", "mse", "mae", "rmse"))
_WORDS = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@dataclass(frozen=True)
class ReferenceMetric:
    """A summary key over a version's own finished runs: mean, seed spread, count."""

    mean: float
    sd: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "sd": self.sd, "n": float(self.n)}


@dataclass(frozen=True)
class Regression:
    """A version against its parent on the reference metric: ``status`` is ``ok``,
    ``regressed``, ``unverified`` or ``root``; ``by`` (how much worse) and ``noise`` when
    both sides were measured."""

    status: str
    text: str
    by: float | None = None
    noise: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "text": self.text}
        if self.by is not None:
            out.update(by=self.by, noise=self.noise)
        return out


@dataclass(frozen=True)
class ProvenFeature:
    """A feature merged into a version, with the text of the question that proved it."""

    question_id: str
    delta: dict[str, Any]
    question: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"question_id": self.question_id, "delta": dict(self.delta),
                "question": self.question}


@dataclass(frozen=True)
class DescribedBaseline:
    """A version with its features, reference metrics, noise floors and regression check."""

    baseline: BaselineVersion
    features: tuple[ProvenFeature, ...]
    reference_metrics: dict[str, ReferenceMetric]
    noise: tuple[NoiseRecord, ...]
    check: Regression

    def to_dict(self) -> dict[str, Any]:
        return {**self.baseline.to_dict(), "features": [f.to_dict() for f in self.features],
                "reference_metrics": {k: v.to_dict() for k, v in self.reference_metrics.items()},
                "noise": [r.to_dict() for r in self.noise], "check": self.check.to_dict()}


@dataclass(frozen=True)
class FlaggedBaseline:
    """A tier's current version that regressed against its parent."""

    version: str
    check: Regression

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, **self.check.to_dict()}


def metric_words(name: str) -> set[str]:
    """The whole words of a metric name, lower case: split on anything not a letter or a digit
    and at camelCase (``eval/valLoss`` → ``{"eval", "val", "loss"}``)."""
    return set(_WORDS.findall(_CAMEL.sub("_", name).lower()))


def lower_is_better(metric: str) -> bool:
    """Losses, errors, perplexities and latencies go down; everything else goes up. Judged by
    whole words of the name (:func:`metric_words`: ``eval/val_loss``, ``latency_ms``), so
    ``eval/sentiment`` is not a time and ``terrain_acc`` not an error."""
    return not _LOWER_BETTER.isdisjoint(metric_words(metric))


def resolve(lab: Lab, ref: str) -> BaselineVersion:
    """``small`` (the tier's newest version) or ``small@2026-11-21`` → the baseline row; an
    unknown version is refused with the versions its tier has."""
    tier = ref.split("@", 1)[0]
    versions = [r.version for r in lab.baselines.list(tier)]
    if not versions:
        raise NotFoundError(f"no baseline {ref!r}: create it with "
                            f"`stepstone baseline create {tier} --config FILE`")
    if "@" not in ref:
        return lab.baselines.get(versions[-1])
    if ref not in versions:
        raise NotFoundError(f"no baseline {ref!r}: {tier} has {', '.join(versions)}")
    return lab.baselines.get(ref)


def effective_config(lab: Lab, row: BaselineVersion) -> dict[str, Any]:
    """The config a baseline version's runs really run with: its frozen config plus the keys
    the task filled in from its own defaults, as the version's first run of its own (kind
    ``baseline``) that stepstone launched shows them. Keys the launcher set on that run (a
    rung's size, its ``config_delta``) are not defaults and are left out. Before any such
    run, the frozen config.

    Launches are resolved and verified against this, and a run is diffed against it, so
    that both sides of a check hold the same keys (docs/config.md, "Like with like")."""
    base = dict(row.config)
    first = next(iter(sorted(_launched_runs(lab, row), key=lambda r: r.created_at)), None)
    if first is None:
        return base
    flat, launched = flatten(base), set(first.config_delta or {})
    filled = {k: v for k, v in flatten(first.config).items()
              if k not in flat and k not in launched
              and not any(k.startswith(p + ".") or p.startswith(k + ".") for p in flat)}
    return unflatten({**flat, **filled}) if filled else base


def _launched_runs(lab: Lab, row: BaselineVersion) -> list[RunRecord]:
    """The version's own runs that stepstone launched against it (their ``config_delta``
    tells the launcher's keys from the task's defaults; a run without one cannot)."""
    return [r for r in lab.runs.list(baseline=row.version, kind="baseline")
            if r.config_delta is not None]


def pins_defaults(lab: Lab, row: BaselineVersion) -> bool:
    """Whether a run of the version has recorded the task's own defaults yet."""
    return bool(_launched_runs(lab, row))


def named_version(lab: Lab, ref: str) -> str:
    """The version a ``--baseline`` run filter means, as ``plan``, ``ladder`` and ``decide``
    read it: a tier's newest version, a version as given; a name the lab holds no baseline
    of is returned as it is (runs may name a baseline stepstone does not keep)."""
    if lab.baselines.list(ref.split("@", 1)[0]):
        return resolve(lab, ref).version
    return ref


def create(lab: Lab, tier: str, config: Path | str | dict[str, Any], *,
           reference_metric: str | None = None) -> BaselineVersion:
    """A new dated, frozen version of ``tier`` from a config file (or a dict)."""
    if not TIER.match(tier) or "@" in tier:
        raise UsageError(f"a baseline tier is a plain name like small or large, not {tier!r}")
    loaded = config if isinstance(config, dict) else load_config(config)
    parent = lab.baselines.current(tier)
    version = lab.baselines.create(tier=tier, day=day(), config=loaded,
                                   parent=parent.version if parent else None,
                                   reference_metric=reference_metric
                                   or (parent.reference_metric if parent else None))
    return lab.baselines.get(version)


def reference_metrics(lab: Lab, version: str) -> dict[str, ReferenceMetric]:
    """Mean, spread and count of each numeric summary key over the version's own runs."""
    runs = lab.runs.list(baseline=version, kind="baseline", status="finished")
    values: dict[str, list[float]] = {}
    for run in runs:
        for key, value in run.summary.items():
            num = numeric(value)
            if num is None or key.startswith("_") or key in ("duration_s", "seed"):
                continue
            values.setdefault(key, []).append(num)
    return {
        key: ReferenceMetric(mean=statistics.fmean(v),
                             sd=statistics.stdev(v) if len(v) > 1 else 0.0, n=len(v))
        for key, v in sorted(values.items())
    }


def regression(lab: Lab, row: BaselineVersion) -> Regression:
    """The version against its parent on its reference metric (:class:`Regression`)."""
    parent = row.parent
    metric = row.reference_metric
    if not parent:
        return Regression("root", "first version of its tier")
    if not metric:
        return Regression("unverified", "no reference metric to compare on")
    mine = reference_metrics(lab, row.version).get(metric)
    theirs = reference_metrics(lab, parent).get(metric)
    if mine is None or theirs is None:
        who = row.version if mine is None else parent
        return Regression("unverified", f"{who} has no finished baseline run with {metric} yet")
    one_seed = mine.n < 2 and theirs.n < 2
    noise = abs(theirs.mean) * NOISE_TOLERANCE if one_seed else max(mine.sd, theirs.sd)
    worse = mine.mean - theirs.mean
    if not lower_is_better(metric):
        worse = -worse
    text = (f"{metric}: {mine.mean:.6g} vs parent {theirs.mean:.6g} "
            f"(noise {noise:.3g}{', fixed tolerance' if one_seed else ', seed spread'})")
    if worse > noise:
        return Regression("regressed", "REGRESSED " + text, by=worse, noise=noise)
    return Regression("ok", text, by=worse, noise=noise)


def apply_delta(config: Mapping[str, Any], delta: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with each dotted key of ``delta`` set (a None value removes the key)."""
    flat = flatten(config)
    for key, value in delta.items():
        for existing in [k for k in flat if k == key or k.startswith(key + ".")]:
            del flat[existing]
        if value is not None:
            flat.update(flatten({key: value}) if isinstance(value, dict) else {key: value})
    result: dict[str, Any] = unflatten(flat)
    return result


def describe(lab: Lab, row: BaselineVersion) -> DescribedBaseline:
    """A version with its features (and the questions that proved them), metrics, check."""
    features = []
    for feature in lab.baselines.features(row.version):
        try:
            question: str | None = lab.questions.get(feature.question_id).text
        except NotFoundError:  # pragma: no cover - a foreign key keeps it
            question = None
        features.append(ProvenFeature(feature.question_id, feature.delta, question))
    return DescribedBaseline(baseline=row, features=tuple(features),
                             reference_metrics=reference_metrics(lab, row.version),
                             noise=tuple(lab.baselines.noise(row.version)),
                             check=regression(lab, row))


def history(lab: Lab, tier: str) -> list[DescribedBaseline]:
    """Every version of ``tier``, oldest first, described."""
    rows = lab.baselines.list(tier.split("@", 1)[0])
    if not rows:
        raise NotFoundError(f"no baseline {tier!r}: `stepstone baseline list` shows them")
    return [describe(lab, r) for r in rows]


def flagged(lab: Lab) -> list[FlaggedBaseline]:
    """Current versions that regressed against their parent (shown by `stepstone status`)."""
    out = []
    for tier in sorted({r.tier for r in lab.baselines.list()}):
        row = lab.baselines.current(tier)
        if row is not None:
            check = regression(lab, row)
            if check.status == "regressed":
                out.append(FlaggedBaseline(row.version, check))
    return out
