"""Fitting a scaling law: parameters with bootstrap intervals, residuals, hold-out check.

:func:`fit_scaling_law` validates the runs, fits the form (see :mod:`.scaling` for the forms
and how each is fitted), then

* **bootstrap** — resamples the runs with replacement ``n_bootstrap`` times and refits each
  resample; every parameter gets the percentile interval of its refits. Each refit starts
  from the full-data optimum instead of the whole search (as in Besiroglu et al. 2024) and
  runs to its own optimum; the refits run as one batch of Newton steps, so 1,000 resamples
  take a tenth of a second;
* **residuals** — ``log L_observed - log L_fitted`` per run (and the relative error);
* **hold-out** — refits, with the full procedure, on all but the ``holdout`` runs of largest
  compute and reports how far the law misses those runs: the extrapolation error that says
  whether the law can be trusted beyond the data.

It refuses fewer runs than parameters, non-positive or non-finite loss, compute, N or D,
and runs that all sit at one size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from stepstone.errors import AnalysisError

from ._common import (
    INTERNAL,
    ArrayLike,
    FloatArray,
    ResultMixin,
    as_float_array,
    check_confidence,
    percentile_interval,
    require_positive,
)
from ._optim import IntArray
from .scaling import ChinchillaLaw, FitData, FormFit, ScalingForm, get_form


@dataclass(frozen=True)
class ParamEstimate(ResultMixin):
    """One fitted parameter: the full-data value and its bootstrap interval."""

    name: str
    value: float
    ci_low: float
    ci_high: float
    std_error: float


@dataclass(frozen=True)
class HoldoutCheck(ResultMixin):
    """How well a law fitted without the largest-compute runs predicts them."""

    n_held_out: int
    compute: tuple[float, ...]
    observed: tuple[float, ...]
    predicted: tuple[float, ...]
    relative_error: tuple[float, ...]  # predicted / observed - 1
    mean_abs_relative_error: float
    max_abs_relative_error: float


@dataclass(frozen=True)
class ComputeOptimal(ResultMixin):
    """Compute-optimal model size and tokens for a budget, from an (N, D) law."""

    compute: float
    n: float
    d: float
    loss: float
    tokens_per_param: float
    n_ci: tuple[float, float]
    d_ci: tuple[float, float]
    loss_ci: tuple[float, float]
    flops_per_param_token: float


@dataclass(frozen=True)
class ScalingFit(ResultMixin):
    """A fitted scaling law. Use :meth:`predict`, :meth:`compute_for_loss`, :meth:`param`."""

    form: str
    formula: str
    objective: str
    params: tuple[ParamEstimate, ...]
    n_points: int
    loss: tuple[float, ...]
    compute: tuple[float, ...] | None
    n: tuple[float, ...] | None
    d: tuple[float, ...] | None
    fitted: tuple[float, ...]
    residuals: tuple[float, ...]  # log L_observed - log L_fitted
    rmse_log: float
    objective_value: float
    n_starts: int
    confidence: float
    n_bootstrap: int
    n_bootstrap_failed: int
    bootstrap_start: str
    seed: int | None
    holdout: HoldoutCheck | None
    holdout_note: str
    flops_method: str
    form_impl: ScalingForm = field(repr=False, compare=False, metadata=INTERNAL)
    # bootstrap refits, natural parameters, shape (n_bootstrap - failed, P)
    samples: FloatArray = field(repr=False, compare=False, metadata=INTERNAL)

    # -- access ---------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, float]:
        """Parameter name -> fitted value."""
        return {p.name: p.value for p in self.params}

    def param(self, name: str) -> ParamEstimate:
        for p in self.params:
            if p.name == name:
                return p
        raise AnalysisError(
            f"This {self.form} fit has no parameter {name!r}; it has "
            f"{', '.join(p.name for p in self.params)}."
        )

    @property
    def vector(self) -> FloatArray:
        return np.array([p.value for p in self.params], dtype=np.float64)

    @property
    def irreducible_loss(self) -> float | None:
        """E, the loss the law approaches with infinite compute (None for a pure power law)."""
        e = self.form_impl.irreducible_loss(self.vector)
        return None if e is None else float(e[0])

    # -- use ------------------------------------------------------------------------------
    def predict(
        self,
        compute: ArrayLike | None = None,
        *,
        n: ArrayLike | None = None,
        d: ArrayLike | None = None,
    ) -> FloatArray:
        """Predicted loss: at ``compute`` (on the compute-optimal frontier for an (N, D)
        law), or at model sizes ``n`` and tokens ``d`` for an (N, D) law."""
        out: FloatArray = self._predict(self.vector, compute, n, d)[0]
        return out

    def predict_interval(
        self,
        compute: ArrayLike | None = None,
        *,
        n: ArrayLike | None = None,
        d: ArrayLike | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """The bootstrap band (low, high) of :meth:`predict` at the fit's confidence."""
        if self.samples.shape[0] < 2:
            raise AnalysisError("This fit has no bootstrap samples; refit with n_bootstrap > 1.")
        band = percentile_interval(self._predict(self.samples, compute, n, d), self.confidence)
        return band[0], band[1]

    def _predict(
        self,
        params: FloatArray,
        compute: ArrayLike | None,
        n: ArrayLike | None,
        d: ArrayLike | None,
    ) -> FloatArray:
        form = self.form_impl
        if n is not None or d is not None:
            if form.inputs != ("n", "d"):
                raise AnalysisError(f"A '{self.form}' law takes compute=, not n= and d=.")
            if n is None or d is None:
                raise AnalysisError("Give both n= (parameters) and d= (tokens).")
            nn, dd = np.broadcast_arrays(
                np.atleast_1d(np.asarray(n, dtype=np.float64)),
                np.atleast_1d(np.asarray(d, dtype=np.float64)),
            )
            data = FitData(loss=np.ones(nn.shape), n=nn.ravel(), d=dd.ravel())
            return np.atleast_2d(form.predict(np.atleast_2d(params), data))
        if compute is None:
            raise AnalysisError("Give compute= (FLOPs), or n= and d= for an (N, D) law.")
        c = np.atleast_1d(np.asarray(compute, dtype=np.float64))
        return form.loss_at_compute(np.atleast_2d(params), c)

    def compute_for_loss(self, loss: float) -> float:
        """The compute the law needs to reach ``loss`` (on the compute-optimal frontier
        for an (N, D) law). Raises when the loss is at or below the irreducible loss E."""
        c = float(self.form_impl.compute_for_loss(self.vector, float(loss))[0])
        if not math.isfinite(c):
            e = self.irreducible_loss
            if e is not None and loss <= e:
                raise AnalysisError(
                    f"Loss {loss:.4g} is at or below the fitted irreducible loss E = {e:.4g}; "
                    "no amount of compute reaches it under this law."
                )
            raise AnalysisError(
                f"This {self.form} law never reaches loss {loss:.4g} "
                "(its loss does not fall with compute)."
            )
        return c

    def compute_optimal(self, compute: float) -> ComputeOptimal:
        """Compute-optimal N and D for a FLOPs budget and the loss on the frontier."""
        form = self.form_impl
        if not isinstance(form, ChinchillaLaw):
            raise AnalysisError(
                "Compute-optimal N and D need an (N, D) law; fit form='chinchilla'."
            )
        if not (compute > 0 and math.isfinite(compute)):
            raise AnalysisError(f"The compute budget must be positive; got {compute}.")
        n_opt, d_opt = form.optimal_allocation(self.vector, compute)
        loss = form.loss_at_compute(self.vector, np.array([compute]))[0, 0]
        if not (np.isfinite(n_opt[0]) and n_opt[0] > 0):
            raise AnalysisError(
                "The fitted exponents do not give a compute-optimal allocation "
                "(alpha and beta must be positive)."
            )

        def band(x: FloatArray) -> tuple[float, float]:
            x = x[np.isfinite(x)]
            if x.size < 2:
                return (math.nan, math.nan)
            lo, hi = percentile_interval(x, self.confidence)
            return (float(lo), float(hi))

        if self.samples.shape[0] >= 2:
            ns, ds = form.optimal_allocation(self.samples, compute)
            ls = form.loss_at_compute(self.samples, np.array([compute]))[:, 0]
            n_ci, d_ci, l_ci = band(ns), band(ds), band(ls)
        else:
            n_ci = d_ci = l_ci = (math.nan, math.nan)
        return ComputeOptimal(
            compute=float(compute),
            n=float(n_opt[0]),
            d=float(d_opt[0]),
            loss=float(loss),
            tokens_per_param=float(d_opt[0] / n_opt[0]),
            n_ci=n_ci,
            d_ci=d_ci,
            loss_ci=l_ci,
            flops_per_param_token=form.flops_per_param_token,
        )


def _data(
    form: ScalingForm,
    compute: ArrayLike | None,
    n: ArrayLike | None,
    d: ArrayLike | None,
    loss: ArrayLike,
) -> FitData:
    y = as_float_array(loss, "loss")
    require_positive(y, "loss")

    def opt(x: ArrayLike | None, name: str) -> FloatArray | None:
        if x is None:
            return None
        arr = as_float_array(x, name)
        require_positive(arr, name)
        if arr.size != y.size:
            raise AnalysisError(
                f"{name} has {arr.size} values but loss has {y.size}; give one per run."
            )
        return arr

    data = FitData(loss=y, compute=opt(compute, "compute"), n=opt(n, "n"), d=opt(d, "d"))
    form.validate(data)
    return data


def fit_scaling_law(
    form: str | ScalingForm,
    *,
    compute: ArrayLike | None = None,
    n: ArrayLike | None = None,
    d: ArrayLike | None = None,
    loss: ArrayLike,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    holdout: int | None = None,
    seed: int | None = 0,
    flops_method: str = "given",
) -> ScalingFit:
    """Fit a scaling law to runs.

    ``form`` is ``"compute"`` (E + A·C^-α), ``"power"`` (a·C^b) or ``"chinchilla"``
    (E + A/N^α + B/D^β), or a :class:`ScalingForm` instance. ``holdout`` is how many of the
    largest-compute runs to hold out for the extrapolation check (default: about a fifth,
    at least one, when enough runs remain; ``0`` turns it off). ``flops_method`` records
    which FLOPs estimate ``compute`` came from (``"6ND"``, ``"kaplan"``, ``"measured"``).
    """
    impl = get_form(form)
    conf = check_confidence(confidence)
    if n_bootstrap < 0:
        raise AnalysisError(f"n_bootstrap must be 0 or more; got {n_bootstrap}.")
    data = _data(impl, compute, n, d, loss)
    split, note = _holdout_split(impl, data, holdout)
    main = impl.fit(data)
    best = main.params[0]
    if not np.all(np.isfinite(best)):
        raise AnalysisError(
            f"The '{impl.name}' fit did not converge to finite parameters; check the runs "
            "for outliers or fit a simpler form."
        )
    samples, failed = _bootstrap(impl, data, best, n_bootstrap, seed)
    check = None
    if split is not None:
        train, test = split
        check = _holdout_check(impl, data, test, impl.fit(data.subset(train)))
    samples.setflags(write=False)

    params = []
    for i, name in enumerate(impl.param_names):
        if samples.shape[0] >= 2:
            lo, hi = percentile_interval(samples[:, i], conf)
            with np.errstate(over="ignore"):  # refits far apart: an infinite spread
                se = float(samples[:, i].std(ddof=1))
        else:
            lo = hi = se = math.nan
        params.append(ParamEstimate(name, float(best[i]), float(lo), float(hi), se))

    fitted = impl.predict(best, data)
    resid = np.log(data.loss) - np.log(fitted)

    def tup(a: FloatArray | None) -> tuple[float, ...] | None:
        return None if a is None else tuple(float(v) for v in a)

    return ScalingFit(
        form=impl.name,
        formula=impl.formula,
        objective=impl.objective,
        params=tuple(params),
        n_points=data.size,
        loss=tuple(float(v) for v in data.loss),
        compute=tup(data.compute),
        n=tup(data.n),
        d=tup(data.d),
        fitted=tuple(float(v) for v in fitted),
        residuals=tuple(float(v) for v in resid),
        rmse_log=float(np.sqrt(np.mean(resid**2))),
        objective_value=float(main.objective[0]),
        n_starts=main.n_starts,
        confidence=conf,
        n_bootstrap=n_bootstrap,
        n_bootstrap_failed=failed,
        bootstrap_start="full-data optimum" if n_bootstrap else "none",
        seed=seed,
        holdout=check,
        holdout_note=note,
        flops_method=flops_method,
        form_impl=impl,
        samples=samples,
    )


def _bootstrap(
    form: ScalingForm, data: FitData, best: FloatArray, n_bootstrap: int, seed: int | None
) -> tuple[FloatArray, int]:
    """Refits of ``n_bootstrap`` resamples of the runs, all at once, each from the full-data
    optimum: the ones that came out finite, and how many did not."""
    if n_bootstrap == 0:
        return np.empty((0, form.n_params)), 0
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(
        data.size, np.full(data.size, 1.0 / data.size), size=n_bootstrap
    ).astype(np.float64)
    fit = form.fit(data, weights=weights, start=np.repeat(best[None, :], n_bootstrap, 0))
    ok = np.all(np.isfinite(fit.params), axis=1) & np.isfinite(fit.objective)
    return fit.params[ok], int((~ok).sum())


def _holdout_split(
    form: ScalingForm, data: FitData, holdout: int | None
) -> tuple[tuple[IntArray, IntArray] | None, str]:
    """The runs to refit on and the ones held out (largest compute), with the check's note;
    None where the check is off or cannot be made."""
    size = data.size
    if holdout == 0:
        return None, "hold-out check turned off (holdout=0)"
    k = max(1, round(0.2 * size)) if holdout is None else int(holdout)
    if k < 0:
        raise AnalysisError(f"holdout must be 0 or more; got {holdout}.")
    remaining = size - k
    if remaining < form.n_params + 1:
        msg = (
            f"hold-out skipped: holding out {k} of {size} runs leaves {remaining}, fewer than "
            f"the {form.n_params + 1} a {form.n_params}-parameter law needs to be checked"
        )
        if holdout is not None:
            raise AnalysisError(msg.capitalize() + "; hold out fewer runs or add runs.")
        return None, msg
    order = np.argsort(form.compute_of(data), kind="stable")
    train, test = order[:remaining], order[remaining:]
    try:
        form.validate(data.subset(train))
    except AnalysisError as exc:
        if holdout is not None:
            raise
        return None, f"hold-out skipped: the remaining runs cannot be fitted ({exc})"
    return (train, test), f"held out the {test.size} largest-compute run(s)"


def _holdout_check(form: ScalingForm, data: FitData, test: IntArray, sub: FormFit) -> HoldoutCheck:
    """How far the law refitted without the runs ``test`` misses them."""
    pred = form.predict(sub.params[0], data.subset(test))
    obs = data.loss[test]
    rel = pred / obs - 1.0
    return HoldoutCheck(
        n_held_out=int(test.size),
        compute=tuple(float(v) for v in form.compute_of(data)[test]),
        observed=tuple(float(v) for v in obs),
        predicted=tuple(float(v) for v in pred),
        relative_error=tuple(float(v) for v in rel),
        mean_abs_relative_error=float(np.mean(np.abs(rel))),
        max_abs_relative_error=float(np.max(np.abs(rel))),
    )
