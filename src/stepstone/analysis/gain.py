"""Compute-efficiency gain against a baseline's fitted scaling law, and its trend.

``gain = C_predicted / C_observed``: ``C_observed`` is the compute a new run spent,
``C_predicted`` the compute the baseline's fitted law needs to reach the new run's loss
(on the baseline's compute-optimal frontier for an (N, D) law, or at the run's own model
size with ``n=``). A gain of 1.3 means the baseline would need 30% more compute for the
same loss. Above 1 the method is more compute-efficient; below 1 it is worse.

The gain is **undefined** when the run's loss is at or below the baseline's fitted
irreducible loss E (the baseline never reaches it at any compute): the rung says so and
carries no number. Each rung's interval comes from the baseline law refitted by least
squares, with its linearized prediction variance (:func:`reference_law`; docs/analysis.md);
draws that never reach the run's loss give an unbounded upper end (reported as None).

Trend across a ladder: the slope of ``ln gain`` against ``log10 C`` (change in log-gain
per decade of compute), by least squares over the defined rungs. Its interval combines the
baseline-law uncertainty (the slope recomputed under every draw of the law) with the
scatter of the rungs about the line (ordinary least-squares standard error, 3+ rungs),
``se = sqrt(se_boot² + se_ols²)``, and a t (3+ rungs) or normal (2 rungs) quantile.
``se_boot`` is the half-width of the central ``confidence`` interval of the draws' slopes
divided by its normal quantile (for normal slopes, their standard deviation). A draw that
never reaches some rung's loss has an infinite gain there, so an infinite slope (of the sign
of that rung's side of the ladder; unknown, and counted against both ends, when such rungs
lie on both sides): it stays in the ranking instead of being dropped, which would shrink the
spread. When such refits reach into the tails, the interval is unbounded and the verdict
inconclusive; ``unreachable_fraction`` says how many refits there were.
Verdict, in this order: **stable** when the whole interval lies within ``±tolerance``
(default 0.1, about ±10% per decade: an equivalence test), **rising** when it lies above 0
(the strongest evidence for a method), **falling** when it lies below 0 (the idea will most
likely not scale), and **inconclusive** when it straddles 0 and reaches past the tolerance,
or with fewer than 2 defined rungs.

When two fitted laws have different compute exponents the gain is a function of compute,
not one number: :func:`gain_curve` reports ``gain(C)`` on a grid of budgets.

FLOPs: the runs' compute and the baseline law's must be counted the same way (6ND, Kaplan,
measured...). :func:`efficiency_gain` takes the runs' ``flops_method`` and, when it differs
from the baseline fit's, says so in ``warnings`` (the gain then mixes two accountings of
compute: the Kaplan count of a small model is ~n_ctx/(12·d_model) above 6ND).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
from scipy import stats as _st

from stepstone.errors import AnalysisError

from ._common import (
    ArrayLike,
    FloatArray,
    ResultMixin,
    as_float_array,
    require_positive,
    share,
)
from .fit import ScalingFit
from .scaling import ChinchillaLaw, FitData, ScalingForm
from .uncertainty import LinearLaw, SeedNoise, draw_means, linear_law

VERDICTS = ("rising", "stable", "falling", "inconclusive")
N_DRAWS = 4000  # Monte Carlo draws of a gain (at least one per bootstrap refit, if used)
EXPONENT_RTOL = 1e-6  # compute exponents closer than this are the same (fit precision)


@dataclass(frozen=True)
class GainRung(ResultMixin):
    """The gain at one rung of a ladder (``gain`` is None when undefined; see ``note``)."""

    label: str
    compute: float
    loss: float
    baseline_loss: float
    compute_predicted: float | None
    gain: float | None
    ci_low: float | None
    ci_high: float | None  # None: unbounded above (some refits never reach the loss)
    defined: bool
    note: str
    seed_noise: str = ""  # where the seed noise in the interval comes from
    caveat: str = ""  # why this interval cannot settle a decision ("" when it can)
    law_sd: float | None = None  # SD of ln gain from the baseline law's refits alone
    seed_sd: float | None = None  # SD of ln gain per seed (the seed noise of one run)

    @property
    def remarks(self) -> str:
        """The note, where the seed noise came from and the caveat, once each: what a table
        of gains shows beside the interval."""
        return "; ".join(dict.fromkeys(x for x in (self.note, self.seed_noise, self.caveat) if x))


@dataclass(frozen=True)
class GainTrend(ResultMixin):
    """How the gain moves with compute: slope of ln(gain) per decade of compute."""

    verdict: str
    slope_per_decade: float | None
    ci_low: float | None
    ci_high: float | None
    n_rungs: int
    tolerance: float
    explanation: str
    unreachable_fraction: float = 0.0  # refits that never reach the loss of some rung


@dataclass(frozen=True)
class GainResult(ResultMixin):
    """Per-rung gains against a baseline law and the verdict on their trend."""

    baseline_form: str
    flops_method: str
    comparison: str
    confidence: float
    rungs: tuple[GainRung, ...]
    trend: GainTrend
    runs_flops_method: str | None = None  # how the runs' compute was counted (None: unsaid)
    warnings: tuple[str, ...] = ()

    @property
    def gains(self) -> tuple[float | None, ...]:
        return tuple(r.gain for r in self.rungs)

    def all_above(self, threshold: float) -> bool:
        """True when every rung is defined and its interval's low end is >= ``threshold``."""
        return all(r.defined and r.ci_low is not None and r.ci_low >= threshold for r in self.rungs)


@dataclass(frozen=True)
class GainPoint(ResultMixin):
    compute: float
    loss: float
    gain: float | None
    ci_low: float | None
    ci_high: float | None
    note: str


@dataclass(frozen=True)
class GainCurve(ResultMixin):
    """``gain(C)`` of one fitted law against a baseline law over a grid of budgets."""

    baseline_form: str
    new_form: str
    confidence: float
    exponent_baseline: tuple[float, float, float]  # value, low, high
    exponent_new: tuple[float, float, float]
    exponents_differ: bool
    points: tuple[GainPoint, ...]
    note: str


def _quantiles(x: FloatArray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(x, [tail, 1.0 - tail], method="inverted_cdf")
    return float(lo), float(hi)


def too_few_points(fit: ScalingFit) -> str | None:
    """Why a law claims no certainty (None when it may): fitted to fewer than its parameters
    plus 2 points, it interpolates its data and its bootstrap has nothing to resample."""
    need = fit.form_impl.n_params + 2
    if fit.n_points >= need:
        return None
    return (f"no interval: the {fit.form} law has {fit.form_impl.n_params} parameters fitted "
            f"to {fit.n_points} points; it needs at least {need} to measure its own "
            "uncertainty (add baseline runs, or fit a form with fewer parameters)")


def _rung(
    label: str,
    c_obs: float,
    loss: float,
    base_loss: float,
    c_point: float,
    c_draws: FloatArray,
    confidence: float,
    undefined_note: str,
    noise: SeedNoise | None,
    no_interval: str | None,
    widen: float = 1.0,
) -> tuple[GainRung, FloatArray]:
    gains = np.where(np.isfinite(c_draws), c_draws / c_obs, np.inf)
    described = noise.describe() if noise is not None else ""
    if not math.isfinite(c_point):
        rung = GainRung(label, c_obs, loss, base_loss, None, None, None, None, False,
                        undefined_note, described, undefined_note)
        return rung, gains
    gain = c_point / c_obs
    if no_interval is not None or gains.size < 2:
        why = no_interval or "no interval: the baseline fit has no bootstrap refits"
        return GainRung(label, c_obs, loss, base_loss, c_point, gain, None, None, True, why,
                        described, why), np.zeros(0)
    lo, hi = _quantiles(gains, confidence)
    with np.errstate(over="ignore"):  # widen in ln-gain around the point (Welch: see above)
        lo, hi = gain * (lo / gain) ** widen, gain * (hi / gain) ** widen
    unreach = float(np.mean(~np.isfinite(gains)))
    note = ""
    if unreach > 0:
        note = (f"{share(unreach)} of the draws (baseline refits and seed noise) never reach "
                "this loss (the refit's E is above it)")
    caveat = ""
    if noise is not None and not noise.known:
        caveat = described
    ci_low: float | None = lo if math.isfinite(lo) else None
    ci_high: float | None = hi if math.isfinite(hi) else None
    return GainRung(label, c_obs, loss, base_loss, c_point, gain, ci_low, ci_high, True, note,
                    described, caveat), gains


def _trend(
    compute: FloatArray,
    point: FloatArray,
    samples: FloatArray,
    confidence: float,
    tolerance: float,
    parts: tuple[FloatArray, FloatArray, float, float] | None = None,
) -> GainTrend:
    """``point`` (m,) and ``samples`` (M, m) joint draws of the gains at the defined rungs;
    ``parts`` the gains under the law's refits alone and the seed draws alone, with the
    seed noise's smallest degrees of freedom and the law's (for the Welch widening)."""
    m = compute.size
    if m < 2 or np.unique(compute).size < 2:
        return GainTrend("inconclusive", None, None, None, m, tolerance,
                         "A trend needs defined gains at 2 or more compute budgets.")
    if samples.ndim != 2 or samples.shape[0] < 2:
        return GainTrend("inconclusive", None, None, None, m, tolerance,
                         "no trend: the gains have no intervals (see each rung's note)")
    x = np.log10(compute)
    y = np.log(point)
    weights = 1.0 / np.maximum(_log_spread(samples, confidence) ** 2, 1e-12)
    xw = float(weights @ x / weights.sum())
    dx = x - xw
    coef = weights * dx / float(weights @ (dx * dx))  # slope = coef · ln g (weighted LS)
    slope = float(coef @ y)
    se, unreachable = _slope_se(samples, coef, confidence)
    if parts is not None and math.isfinite(se):
        law_se, _ = _slope_se(parts[0], coef, confidence)
        seed_se, _ = _slope_se(parts[1], coef, confidence)
        se *= _welch_widening((law_se, seed_se), parts[2], confidence, parts[3])
    if m >= 3:  # scatter beyond the rungs' uncertainty: the line misfits (Birge ratio)
        resid = y - (float(weights @ y / weights.sum()) + slope * dx)
        chi2 = float(weights @ (resid * resid)) / (m - 2)
        se = max(se, math.sqrt(chi2 / float(weights @ (dx * dx))))
    if not math.isfinite(se):
        return GainTrend(
            "inconclusive", slope, None, None, m, tolerance,
            f"slope {slope:+.3f} ln-gain per decade, interval unbounded: {unreachable:.0%} of "
            "the draws never reach the loss of some rung (the refit's E is above it); add "
            "baseline runs to pin E down, or seeds", unreachable)
    half = float(_st.norm.ppf(0.5 + confidence / 2.0)) * se
    lo, hi = slope - half, slope + half
    per = f"{slope:+.3f} ln-gain per decade [{lo:+.3f}, {hi:+.3f}]"
    if unreachable > 0:
        per += (f"; {share(unreachable)} of the draws never reach some rung's loss "
                "(counted as infinite slopes)")
    if max(-lo, hi) <= tolerance:
        verdict, why = "stable", f"gain is flat with scale within ±{tolerance:g}: {per}"
    elif lo > 0:
        verdict, why = "rising", f"gain rises with scale: {per}"
    elif hi < 0:
        verdict, why = "falling", f"gain falls with scale, the idea will likely not scale: {per}"
    else:
        verdict, why = (
            "inconclusive",
            f"the interval holds both a rise and a fall beyond ±{tolerance:g}: {per}; "
            "add rungs or seeds",
        )
    return GainTrend(verdict, slope, lo, hi, m, tolerance, why, unreachable)


def _welch_widening(spread: FloatArray | Sequence[float], dof: float, confidence: float,
                    law_dof: float = math.inf) -> float:
    """``t_ν / z``: how much to widen a joint-draw interval (the law's draws,
    normal seed draws) so that it carries the t of two variances each estimated from few
    data. ``spread`` is the SD (ln units) under the law's draws alone and under the seed
    draws alone, ``law_dof`` and ``dof`` their degrees of freedom (the law's residual
    degrees of freedom n − P; the seed noise's k − 1, or the noise floor's); ``ν`` is the
    Welch–Satterthwaite degrees of freedom of their sum:
    ``ν = (v_law + v_seed)² / (v_law² / law_dof + v_seed² / dof)``."""
    v_law, v_seed = float(spread[0]) ** 2, float(spread[1]) ** 2
    if not (math.isfinite(v_law) and math.isfinite(v_seed)):
        return 1.0
    den = sum(v * v / d for v, d in ((v_law, law_dof), (v_seed, dof)) if v > 0)
    if den == 0:  # both known (infinite degrees of freedom), or no spread at all
        return 1.0
    nu = (v_law + v_seed) ** 2 / den
    tail = 0.5 + confidence / 2.0
    return float(_st.t.ppf(tail, nu) / _st.norm.ppf(tail))


def _log_spread(samples: FloatArray, confidence: float) -> FloatArray:
    """Each rung's standard deviation of ln gain over the draws, from the central interval's
    half-width over the normal quantile (robust to a few infinite draws; inf when more)."""
    tail = (1.0 - confidence) / 2.0
    logs = np.log(samples)
    lo = np.quantile(logs, tail, axis=0, method="inverted_cdf")
    hi = np.quantile(logs, 1.0 - tail, axis=0, method="inverted_cdf")
    with np.errstate(invalid="ignore"):
        spread = (hi - lo) / (2.0 * float(_st.norm.ppf(1.0 - tail)))
    return np.asarray(np.where(np.isfinite(spread), spread, np.inf), dtype=np.float64)


def _slope_se(samples: FloatArray, coef: FloatArray, confidence: float) -> tuple[float, float]:
    """The slope's standard error over the joint draws (baseline refits and seed noise), and
    the fraction of draws with an infinite gain at some rung.

    A draw's slope is ``coef · ln g``: an infinite ``g`` at a rung with ``coef > 0`` makes it
    +inf, with ``coef < 0`` -inf; both (or ``coef = 0``) leave it unknown, counted as -inf for
    the low quantile and +inf for the high one. The spread is the central interval's
    half-width over the normal quantile, so a few such draws in the tails leave it finite."""
    inf = ~np.isfinite(samples)
    unreachable = float(np.mean(inf.any(axis=1)))
    slopes = np.log(np.where(inf, 1.0, samples)) @ coef
    up = (inf & (coef > 0)).any(axis=1)
    down = (inf & (coef < 0)).any(axis=1)
    unknown = (up & down) | (inf & (coef == 0)).any(axis=1)
    slopes = np.where(up, np.inf, np.where(down, -np.inf, slopes))
    tail = (1.0 - confidence) / 2.0
    low = float(np.quantile(np.where(unknown, -np.inf, slopes), tail, method="inverted_cdf"))
    high = float(np.quantile(np.where(unknown, np.inf, slopes), 1 - tail, method="inverted_cdf"))
    if not (math.isfinite(low) and math.isfinite(high)):
        return math.inf, unreachable
    return (high - low) / (2.0 * float(_st.norm.ppf(1 - tail))), unreachable


def _compute_needed(form: ScalingForm, size: float | None
                    ) -> Callable[[FloatArray, float | FloatArray], FloatArray]:
    """``(params, loss) -> C``: the compute the law needs to reach a loss, on its frontier or
    (``size``) at that model size (``k·N·D'``)."""
    if size is None:
        return form.compute_for_loss
    assert isinstance(form, ChinchillaLaw)
    k, chin = form.flops_per_param_token, form

    def needed(p: FloatArray, loss: float | FloatArray) -> FloatArray:
        return k * size * chin.tokens_for_loss(p, loss, size)

    return needed


def _law_loss(form: ScalingForm, p: FloatArray, *, compute: float,
              size: float | None) -> FloatArray:
    """The law's loss (rows of ``p``) at ``compute``: on its frontier, or at model size
    ``size``."""
    if size is None:
        return np.asarray(form.loss_at_compute(p, np.array([compute]))[:, 0])
    assert isinstance(form, ChinchillaLaw)
    d = compute / (form.flops_per_param_token * size)
    return np.asarray(form.predict(p, FitData(np.ones(1), n=np.array([size]),
                                              d=np.array([d])))).reshape(-1)


def efficiency_gain(
    baseline: ScalingFit,
    compute: ArrayLike,
    loss: ArrayLike,
    *,
    n: ArrayLike | None = None,
    labels: Sequence[str] | None = None,
    tolerance: float = 0.1,
    flops_method: str | None = None,
    noise: Sequence[SeedNoise | None] | None = None,
    seed: int = 0,
) -> GainResult:
    """Gain of new runs (one per rung: ``compute`` spent, ``loss`` reached) over a baseline law.

    ``loss`` is each rung's mean over its seeds and ``noise`` its seed noise
    (:func:`~stepstone.analysis.uncertainty.seed_noise`; None: exact). The gain is measured
    against the baseline law refitted by least squares (:func:`reference_law`). Each rung's
    interval combines both sources of uncertainty by Monte Carlo: draw ``j`` pairs a normal
    draw of the law's prediction error at the compute it needs (``s²·gᵀ(JᵀJ)⁻¹g``, one
    parameter draw shared by the rungs) with a normal draw of the rung's true mean loss
    (:func:`~stepstone.analysis.uncertainty.draw_means`), and the interval is the central
    ``confidence`` range of the gains of the draws (``seed`` fixes them), widened in ln-gain
    about the point by ``t_ν / z`` with ``ν`` the Welch–Satterthwaite degrees of freedom of
    the law's and the seed noise's variances (:func:`_welch_widening`), so that a law fitted
    to few runs (n − P residual degrees of freedom) and a seed noise measured on few seeds
    each carry their t. A law fitted to fewer than its parameters + 2 points gives no
    interval (:func:`too_few_points`).

    With ``n=`` (model sizes; (N, D) baselines only) the baseline is taken at the run's own
    size: ``C_predicted = k·N·D'`` where ``D'`` is the tokens the baseline of that size needs.
    ``flops_method`` is how the runs' compute was counted; a method other than the baseline
    fit's comes back as a warning (see :func:`flops_mismatch`).
    """
    c = as_float_array(compute, "compute")
    y = as_float_array(loss, "loss")
    require_positive(c, "compute")
    require_positive(y, "loss")
    if c.size != y.size:
        raise AnalysisError(
            f"compute has {c.size} values but loss has {y.size}; give one pair per rung."
        )
    if labels is not None and len(labels) != c.size:
        raise AnalysisError(f"labels has {len(labels)} entries for {c.size} rungs.")
    if noise is not None and len(noise) != c.size:
        raise AnalysisError(f"noise has {len(noise)} entries for {c.size} rungs.")
    if tolerance <= 0:
        raise AnalysisError(f"tolerance must be positive; got {tolerance}.")
    form = baseline.form_impl
    sizes: FloatArray | None = None
    if n is not None:
        if not isinstance(form, ChinchillaLaw):
            raise AnalysisError(
                "n= (same-size comparison) needs a baseline fitted with "
                "form='chinchilla'; drop n= to compare on compute."
            )
        sizes = as_float_array(n, "n")
        require_positive(sizes, "n")
        if sizes.size != c.size:
            raise AnalysisError(f"n has {sizes.size} values for {c.size} rungs.")
    no_interval = too_few_points(baseline)
    lin = reference_law(baseline) if no_interval is None else None
    theta = lin.theta if lin is not None else baseline.vector
    e_arr = form.irreducible_loss(theta)
    e = None if e_arr is None else float(e_arr[0])
    base_loss = form.loss_at_compute(theta, c)[0]
    refits = baseline.samples.shape[0]
    n_draws = max(N_DRAWS, refits) if refits >= 2 or lin is not None else 0
    params = baseline.samples[np.arange(n_draws) % refits] if refits else baseline.samples
    rng = np.random.default_rng(seed)
    shifts = (rng.multivariate_normal(np.zeros(form.n_params), lin.cov, size=n_draws,
                                      method="eigh") if lin is not None else None)
    law_dof = float(baseline.n_points - form.n_params)  # of the law's variance (n − P)
    rungs: list[GainRung] = []
    sample_cols: list[FloatArray] = []
    law_cols: list[FloatArray] = []  # gains under the law's draws alone, and the seeds' alone
    seed_cols: list[FloatArray] = []
    seed_dofs: list[float] = []
    for i in range(c.size):
        label = labels[i] if labels is not None else f"rung {i + 1}"
        li = float(y[i])
        rung_noise = noise[i] if noise is not None else None
        drawn = draw_means(li, rung_noise, n_draws, rng)
        if sizes is not None:
            assert isinstance(form, ChinchillaLaw)
            ni = float(sizes[i])
            floor = float(theta[0] + theta[1] * ni ** (-theta[3]))
            why = (
                f"undefined: loss {li:.4g} is at or below {floor:.4g}, what the baseline "
                f"of this size reaches with unlimited data"
            )
        else:
            why = (
                f"undefined: loss {li:.4g} is at or below the baseline's irreducible loss "
                f"E = {e:.4g}; no baseline compute reaches it"
                if e is not None
                else "undefined: the baseline law never reaches this loss"
            )
        size = None if sizes is None else float(sizes[i])
        needed = _compute_needed(form, size)
        c_point = float(needed(theta, li)[0])
        c_seed = needed(theta, drawn)
        if shifts is not None and lin is not None and math.isfinite(c_point):
            # the law's prediction error at the compute it needs, L̂(C*) − L(C*) ≈ g·δu:
            # the true law reaches L where the fitted one reaches L + g·δu
            grad = lin.gradient(partial(_law_loss, form, compute=c_point, size=size))
            shift = shifts @ grad
            c_law = needed(theta, li + shift)
            c_draws = needed(theta, drawn + shift)
        else:
            c_law = needed(params, li)
            c_draws = needed(params, drawn)
        widen, law_sd, seed_sd = 1.0, None, None
        dof_seed = rung_noise.dof if rung_noise is not None else math.inf
        if n_draws:
            spread = _log_spread(np.stack([c_law, c_seed], axis=1), baseline.confidence)
            law_sd = float(spread[0]) if math.isfinite(spread[0]) else None
            if rung_noise is not None and rung_noise.se > 0 and math.isfinite(spread[1]):
                seed_sd = float(spread[1]) * math.sqrt(max(rung_noise.n_seeds, 1))
            widen = _welch_widening(spread, dof_seed, baseline.confidence, law_dof)
            law_cols.append(c_law / c[i])
            seed_cols.append(c_seed / c[i])
            seed_dofs.append(dof_seed)
        rung, gains = _rung(label, float(c[i]), li, float(base_loss[i]), c_point, c_draws,
                            baseline.confidence, why, rung_noise, no_interval, widen)
        rung = replace(rung, law_sd=law_sd, seed_sd=seed_sd)
        rungs.append(rung)
        sample_cols.append(gains)
    defined = [i for i, r in enumerate(rungs) if r.defined]
    point = np.array([rungs[i].gain for i in defined], dtype=np.float64)
    samples = (np.stack([sample_cols[i] for i in defined], axis=1) if defined
               else np.zeros((0, 0)))
    parts = None
    if defined and law_cols:
        parts = (np.stack([law_cols[i] for i in defined], axis=1),
                 np.stack([seed_cols[i] for i in defined], axis=1),
                 min(seed_dofs[i] for i in defined), law_dof)
    trend = _trend(c[defined], point, samples, baseline.confidence, tolerance, parts)
    if no_interval is not None:
        trend = replace(trend, verdict="inconclusive", explanation=no_interval)
    mismatch = flops_mismatch(baseline.flops_method, flops_method)
    return GainResult(
        baseline_form=baseline.form,
        flops_method=baseline.flops_method,
        comparison="same model size"
        if sizes is not None
        else "compute-optimal frontier"
        if isinstance(form, ChinchillaLaw)
        else "baseline law L(C)",
        confidence=baseline.confidence,
        rungs=tuple(rungs),
        trend=trend,
        runs_flops_method=flops_method,
        warnings=(mismatch,) if mismatch else (),
    )


def reference_law(fit: ScalingFit) -> LinearLaw | None:
    """The law a gain is measured against: ``fit`` refitted by least squares on ``ln L`` from
    its own optimum, with its linearized covariance (:func:`linear_law`); None when the fit
    carries no runs, has too few for an interval, or does not linearize."""
    if too_few_points(fit) is not None:
        return None

    def arr(x: tuple[float, ...] | None) -> FloatArray | None:
        return None if x is None else np.asarray(x, dtype=np.float64)

    data = FitData(np.asarray(fit.loss, dtype=np.float64), arr(fit.compute), arr(fit.n),
                   arr(fit.d))
    return linear_law(fit.form_impl, data, fit.vector)


def law_spread(fit: ScalingFit, loss: float) -> float | None:
    """The SD of ln C(loss) under the baseline law's uncertainty (its part of a gain's
    ln-interval at that loss): the least-squares law's prediction SD at the compute it needs
    (:func:`reference_law`), over the slope of its loss in ln C there; None when the law has
    no interval or never reaches the loss."""
    lin = reference_law(fit)
    if lin is None:
        return None
    form = fit.form_impl
    c_star = float(form.compute_for_loss(lin.theta, loss)[0])
    if not math.isfinite(c_star):
        return None
    grad = lin.gradient(lambda p: form.loss_at_compute(p, np.array([c_star]))[:, 0])
    step = 1e-4
    ends = form.loss_at_compute(lin.theta, c_star * np.exp([-step, step]))[0]
    slope = abs(float(ends[1] - ends[0])) / (2.0 * step)  # |dL / d ln C| at C*
    spread = math.sqrt(max(lin.variance(grad), 0.0)) / slope if slope > 0 else math.inf
    return spread if math.isfinite(spread) else None


def flops_mismatch(baseline_method: str, runs_method: str | None) -> str | None:
    """Why a gain mixes two FLOPs estimates (None when the runs' method is unsaid or the same
    as the baseline fit's)."""
    if runs_method is None or runs_method == baseline_method:
        return None
    return (
        f"FLOPs counted differently: the runs' compute is {runs_method}, the baseline law's "
        f"{baseline_method}; the gain mixes two accountings of compute. Count both the same "
        "way (log `flops` with one `flops_method` for both, or fit the baseline again on "
        "runs counted like these)"
    )


def _exponent(fit: ScalingFit) -> tuple[float, float, float]:
    form = fit.form_impl
    value = float(form.compute_exponent(fit.vector)[0])
    if fit.samples.shape[0] >= 2:
        lo, hi = _quantiles(form.compute_exponent(fit.samples), fit.confidence)
        return value, lo, hi
    return value, math.nan, math.nan


def gain_curve(baseline: ScalingFit, new: ScalingFit, compute: ArrayLike) -> GainCurve:
    """``gain(C) = C_baseline(L_new(C)) / C`` for two fitted laws over budgets ``compute``.

    Intervals pair the i-th bootstrap refit of each law. ``exponents_differ`` is True when
    the intervals of the two compute exponents do not overlap (and the exponents differ by
    more than :data:`EXPONENT_RTOL`, the fit's precision): the gain then changes with
    scale and one number would mislead.
    """
    c = as_float_array(compute, "compute")
    require_positive(c, "compute")
    bf, nf = baseline.form_impl, new.form_impl
    l_new = nf.loss_at_compute(new.vector, c)[0]
    b = min(baseline.samples.shape[0], new.samples.shape[0])
    l_new_s = nf.loss_at_compute(new.samples[:b], c) if b else np.zeros((0, c.size))
    points: list[GainPoint] = []
    for j in range(c.size):
        cp = float(bf.compute_for_loss(baseline.vector, float(l_new[j]))[0])
        if not math.isfinite(cp):
            points.append(
                GainPoint(
                    float(c[j]),
                    float(l_new[j]),
                    None,
                    None,
                    None,
                    "undefined: at or below the baseline's irreducible loss",
                )
            )
            continue
        note = ""
        lo_v: float | None = None
        hi_v: float | None = None
        if b >= 2:
            cs = bf.compute_for_loss(baseline.samples[:b], l_new_s[:, j])
            gs = np.where(np.isfinite(cs), cs / c[j], np.inf)
            lo, hi = _quantiles(gs, baseline.confidence)
            lo_v = lo if math.isfinite(lo) else None
            hi_v = hi if math.isfinite(hi) else None
        else:
            note = "no interval: a fit has no bootstrap refits"
        points.append(GainPoint(float(c[j]), float(l_new[j]), cp / float(c[j]), lo_v, hi_v, note))
    eb, en = _exponent(baseline), _exponent(new)
    # beyond the fits' numerical precision: noise-free data give zero-width intervals
    differ = bool(eb[2] < en[1] or en[2] < eb[1]) and not math.isclose(
        eb[0], en[0], rel_tol=EXPONENT_RTOL
    )
    note = (
        "the compute exponents differ: the gain changes with scale, so report gain(C), "
        "not one number"
        if differ
        else "the compute exponents agree within their intervals: the gain is roughly constant"
    )
    return GainCurve(
        baseline.form, new.form, baseline.confidence, eb, en, differ, tuple(points), note
    )
