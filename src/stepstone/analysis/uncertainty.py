"""The seed noise of a measured rung: how uncertain the mean of a rung's seeds is.

One model of a comparison (docs/analysis.md, "One model of a comparison"): a feature's
metric at a rung is the mean of its ``k`` seeds, uncertain by seed noise. The standard error
of that mean comes from the rung's own seeds (``sd/√k``, ``k - 1`` degrees of freedom); with
one seed, from the baseline's measured noise floor (its seed-to-seed SD over ``n`` seeds,
``n - 1`` degrees of freedom), and the result says so; with one seed and no noise floor the
spread is unknown: :attr:`SeedNoise.known` is False and a decision built on it is
inconclusive. :func:`draw_means` turns it into normal Monte Carlo draws of the mean, the draws
a gain interval combines with the baseline law's prediction error (:func:`linear_law`, the law
refitted by least squares and linearized; the t of a noise measured
on few seeds, and of a law fitted to few runs, enters afterwards, by the Welch–Satterthwaite
widening of :func:`stepstone.analysis.gain.efficiency_gain`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ._common import FloatArray, ResultMixin
from .scaling import FitData, ScalingForm

SEEDS, NOISE_FLOOR, UNKNOWN = "seeds", "noise floor", "unknown"


@dataclass(frozen=True)
class SeedNoise(ResultMixin):
    """The standard error of a rung's mean and where it comes from.

    ``source`` is ``"seeds"`` (the rung's own seeds), ``"noise floor"`` (one seed, the
    baseline's noise floor) or ``"unknown"`` (one seed, no noise floor: ``se`` is 0 and the
    interval ignores seed noise)."""

    se: float
    dof: float  # degrees of freedom of the SD behind se (inf: taken as known)
    n_seeds: int
    source: str
    sd: float = math.nan  # the per-seed standard deviation used

    @property
    def known(self) -> bool:
        return self.source != UNKNOWN

    def describe(self) -> str:
        if self.source == SEEDS:
            return f"seed noise from its {self.n_seeds} seeds (SD {self.sd:.3g})"
        if self.source == NOISE_FLOOR:
            return (f"one seed: seed noise from the baseline's noise floor (SD {self.sd:.3g}, "
                    f"{self.dof + 1:.0f} seeds)")
        return "one seed and no noise floor: the interval ignores seed noise"


def seed_noise(values: Sequence[float], floor_sd: float | None = None,
               floor_n: int | None = None) -> SeedNoise:
    """The seed noise of the mean of ``values`` (one per seed); ``floor_sd`` over ``floor_n``
    seeds is the baseline's noise floor, used when there is one seed."""
    k = len(values)
    if k >= 2:
        sd = float(np.std(np.asarray(values, dtype=np.float64), ddof=1))
        return SeedNoise(sd / math.sqrt(k), float(k - 1), k, SEEDS, sd)
    if floor_sd is not None and math.isfinite(floor_sd) and floor_n is not None and floor_n >= 2:
        return SeedNoise(float(floor_sd), float(floor_n - 1), k, NOISE_FLOOR, float(floor_sd))
    return SeedNoise(0.0, math.inf, k, UNKNOWN)


def draw_means(mean: float, noise: SeedNoise | None, size: int,
               rng: np.random.Generator) -> FloatArray:
    """``size`` draws of a rung's true mean given its measured ``mean`` and ``noise``:
    ``mean + se·z``, z standard normal (the mean itself when exact)."""
    if noise is None or noise.se == 0.0:
        return np.full(size, float(mean))
    return np.asarray(mean + noise.se * rng.standard_normal(size), dtype=np.float64)




@dataclass(frozen=True)
class LinearLaw:
    """A baseline law refitted by least squares on the loss, linearized at its optimum: the
    classical theory of nonlinear least squares (Seber & Wild 1989, ch. 5; Bates & Watts 1988,
    ch. 2) gives its parameters' covariance ``s²(JᵀJ)⁻¹``, ``s² = RSS/(n − P)`` with ``n − P``
    degrees of freedom and ``J`` the Jacobian of the fitted losses. See :func:`linear_law`."""

    theta: FloatArray  # least-squares optimum (P,)
    cov: FloatArray  # covariance of theta (P, P)
    dof: float  # n − P

    def gradient(self, fn: Callable[[FloatArray], FloatArray]) -> FloatArray:
        """Central-difference gradient of ``fn`` (parameters (B, P) -> (B,)) at the optimum."""
        step = 1e-6 * np.maximum(1.0, np.abs(self.theta))
        eye = np.diag(step)
        up, down = fn(self.theta[None, :] + eye), fn(self.theta[None, :] - eye)
        return np.asarray((up - down) / (2.0 * step), dtype=np.float64)

    def variance(self, grad: FloatArray) -> float:
        """Delta-method variance ``gᵀ Cov(θ) g`` of a function with gradient ``grad``."""
        return float(grad @ self.cov @ grad)


def linear_law(form: ScalingForm, data: FitData, start: FloatArray) -> LinearLaw | None:
    """Refit ``form`` to ``data`` by least squares on the loss (residuals ``L̂ − L``: seed noise
    is additive on the loss, as in :func:`seed_noise`) from ``start``, the reported fit's
    optimum, and linearize it there (:class:`LinearLaw`); None with fewer than P + 1 runs or
    when the refit or its Jacobian is not finite."""
    from scipy.optimize import least_squares

    n, p = data.size, form.n_params
    if n <= p or not np.all(np.isfinite(start)):
        return None
    y = data.loss
    big = 1e3 * float(y.max())  # a trial point where the law is undefined

    def resid(theta: FloatArray) -> FloatArray:
        with np.errstate(all="ignore"):
            r = form.predict(theta, data) - y
        return np.asarray(np.where(np.isfinite(r), r, big), dtype=np.float64)

    try:
        theta = np.asarray(least_squares(resid, start, method="lm", x_scale="jac").x)
    except (ValueError, np.linalg.LinAlgError):
        return None
    r = resid(theta)
    step = 1e-6 * np.maximum(1.0, np.abs(theta))
    jac = np.stack([(resid(theta + h) - resid(theta - h)) / (2.0 * step[j])
                    for j, h in enumerate(np.diag(step))], axis=1)
    if not (np.all(np.isfinite(theta)) and np.all(np.isfinite(jac)) and np.all(np.abs(r) < big)):
        return None
    scale = np.linalg.norm(jac, axis=0)  # unit columns keep (JᵀJ)⁻¹ accurate (A ~ 1e5, α ~ 0.3)
    if not np.all(scale > 0):
        return None
    unit = jac / scale
    cov = (float(r @ r) / (n - p)) * np.linalg.pinv(unit.T @ unit) / np.outer(scale, scale)
    if not np.all(np.isfinite(cov)):
        return None
    return LinearLaw(theta, cov, float(n - p))


__all__ = ["NOISE_FLOOR", "SEEDS", "UNKNOWN", "LinearLaw", "SeedNoise", "draw_means", "linear_law",
           "seed_noise"]
