"""Scaling-law forms behind one interface.

Each form is a :class:`ScalingForm`: it names its parameters, fits them to runs (many fits
at once, for the starting grid and for bootstrap resamples), predicts, and inverts the law
(the compute needed to reach a loss). :func:`stepstone.analysis.fit_scaling_law` drives them.

Forms shipped here (``FORMS``; add one with :func:`register_form`):

``compute``     ``L(C) = E + A·C^(-α)``. Fitted like Chinchilla's Approach 3 below with one
                reducible term: ``log L = LSE(e, a - α·log C)``, ``E = e^e``, ``A = e^a``.
``power``       ``L(C) = a·C^b``. Ordinary least squares of ``log L`` on ``log C``
                (closed form), no irreducible term.
``chinchilla``  ``L(N, D) = E + A/N^α + B/D^β`` (Hoffmann et al. 2022, eq. 2), fitted as in
                their Approach 3: minimise ``Σ Huber_δ(LSE(a - α·log N, b - β·log D, e) - log L)``
                with ``δ = 1e-3``, L-BFGS from the grid ``α, β ∈ {0, 0.5, …, 2}``,
                ``e ∈ {-1, -0.5, …, 1}``, ``a, b ∈ {0, 5, …, 25}`` (4,500 starts), keeping the
                best. The Huber terms are **summed**, not averaged: averaging shrinks the
                gradient so much that L-BFGS stops early, the flaw Besiroglu et al. (2024,
                "Chinchilla Scaling: A replication attempt") found in the published fit.
                Published values: E = 1.69, A = 406.4, B = 410.7, α = 0.34, β = 0.28.

Compute-optimal frontier of the (N, D) law under ``C = k·N·D`` (``k = 6`` by default;
Hoffmann et al. eq. 4): ``N_opt = G·(C/k)^(β/(α+β))``, ``D_opt = (C/k)/N_opt`` with
``G = (αA / (βB))^(1/(α+β))``, and ``L_opt(C) = E + K·(C/k)^(-γ)`` where
``γ = αβ/(α+β)`` and ``K = A·G^(-α) + B·G^β``, so the compute that reaches a loss ``L > E``
is ``C = k·(K/(L - E))^(1/γ)``.

Numerics (the minimum is the textbook one; only the path to it is engineered): the
optimiser works on centred logs (``log N - mean log N``; the intercepts are shifted back
afterwards), which makes the problem far better conditioned without moving its minimum,
and it runs every start in lock-step (``_optim.lbfgs_batch``). After ten steps only the best
tenth of the grid starts (by objective) go on: on Chinchilla's data about 500 of the 4,500
starts end in the best basin, and a third of those kept are among them. Grid starts stop
when they converge or crawl (less than 0.01% progress in 25 steps, a flat valley far from
the best basin); the best five are then polished to full convergence.
"""

from __future__ import annotations

import abc
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from stepstone.errors import AnalysisError

from ._common import FloatArray
from ._optim import IntArray, lbfgs_batch

HUBER_DELTA = 1e-3
GRID_KEEP = 0.1  # the share of grid starts that go on after GRID_KEEP_AFTER steps
GRID_KEEP_AFTER = 10
_BLOCK = 128  # rows evaluated together (a block's arrays stay in the CPU's cache)


@dataclass(frozen=True)
class FitData:
    """Validated inputs of a fit: positive, finite, equal-length arrays."""

    loss: FloatArray
    compute: FloatArray | None = None
    n: FloatArray | None = None
    d: FloatArray | None = None

    def subset(self, idx: IntArray) -> FitData:
        def pick(a: FloatArray | None) -> FloatArray | None:
            return None if a is None else a[idx]

        return FitData(self.loss[idx], pick(self.compute), pick(self.n), pick(self.d))

    @property
    def size(self) -> int:
        return int(self.loss.size)


@dataclass(frozen=True)
class FormFit:
    """Raw output of :meth:`ScalingForm.fit`: natural parameters, one row per problem."""

    params: FloatArray  # (B, P)
    objective: FloatArray  # (B,)
    n_starts: int
    iterations: int
    converged: int


class ScalingForm(abc.ABC):
    """One functional form of a scaling law. Subclass it and :func:`register_form` it."""

    name: ClassVar[str]
    formula: ClassVar[str]
    param_names: ClassVar[tuple[str, ...]]
    inputs: ClassVar[tuple[str, ...]]  # ("compute",) or ("n", "d")
    objective: str = ""

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def validate(self, data: FitData) -> None:
        """Refuse input this form cannot identify (raise AnalysisError)."""
        if data.size < self.n_params:
            raise AnalysisError(
                f"A '{self.name}' law has {self.n_params} parameters "
                f"({', '.join(self.param_names)}), so it needs at least {self.n_params} runs; "
                f"got {data.size}. Add runs at more sizes or fit a form with fewer parameters."
            )

    @abc.abstractmethod
    def fit(
        self,
        data: FitData,
        *,
        weights: FloatArray | None = None,
        start: FloatArray | None = None,
    ) -> FormFit:
        """Fit; ``weights`` (B, n) gives B resampled problems, ``start`` (B, P) their starts.

        Without ``start`` the form uses its own starting grid and returns the best fit (B=1).
        """

    @abc.abstractmethod
    def predict(self, params: FloatArray, data: FitData) -> FloatArray:
        """Loss predicted at the inputs of ``data``; params (P,) -> (n,), (B, P) -> (B, n)."""

    @abc.abstractmethod
    def loss_at_compute(self, params: FloatArray, compute: FloatArray) -> FloatArray:
        """Loss reached with ``compute`` FLOPs (on the compute-optimal frontier for (N, D))."""

    @abc.abstractmethod
    def compute_for_loss(self, params: FloatArray, loss: float | FloatArray) -> FloatArray:
        """Compute needed to reach ``loss`` (a number, or one per row), one per parameter row;
        NaN where the law never reaches it."""

    @abc.abstractmethod
    def compute_exponent(self, params: FloatArray) -> FloatArray:
        """The exponent of the loss's reducible part in compute (α, γ or -b)."""

    def irreducible_loss(self, params: FloatArray) -> FloatArray | None:
        """E per parameter row, or None where the form has no irreducible term."""
        return None

    def compute_of(self, data: FitData) -> FloatArray:
        """The compute of each run (used to order runs for the hold-out check)."""
        if data.compute is None:
            raise AnalysisError(f"The '{self.name}' form needs compute= (FLOPs per run).")
        return data.compute


FORMS: dict[str, type[ScalingForm]] = {}


def register_form(cls: type[ScalingForm]) -> type[ScalingForm]:
    """Make a form available by name to :func:`fit_scaling_law` (usable as a decorator)."""
    FORMS[cls.name] = cls
    return cls


def get_form(form: str | ScalingForm) -> ScalingForm:
    """A form instance from its name (``compute``, ``power``, ``chinchilla``) or itself."""
    if isinstance(form, ScalingForm):
        return form
    try:
        return FORMS[form]()
    except KeyError:
        raise AnalysisError(
            f"Unknown scaling-law form {form!r}; choose one of {', '.join(sorted(FORMS))}."
        ) from None


def _as_2d(params: FloatArray) -> FloatArray:
    return np.atleast_2d(np.asarray(params, dtype=np.float64))


def _require_varied(arr: FloatArray | None, what: str, hint: str) -> FloatArray:
    if arr is None:
        raise AnalysisError(hint)
    if np.unique(arr).size < 2:
        raise AnalysisError(
            f"All runs have the same {what} ({arr[0]:.4g}); the law cannot be fitted from one "
            f"size. Add runs at other {what} values."
        )
    return arr


class _LogSumExpForm(ScalingForm):
    """``L = E + Σ_k A_k·x_k^(-α_k)`` fitted as ``log L = LSE(e, a_k - α_k log x_k)``.

    Natural parameter order: E, A_1..A_K, α_1..α_K. Internal order: e, a'_1..a'_K,
    α_1..α_K where ``a'_k = a_k - α_k·c_k`` and ``c_k`` the mean of ``log x_k``.
    """

    n_terms: ClassVar[int]

    polish: int = 5

    def __init__(self, *, huber_delta: float | None = HUBER_DELTA, max_iter: int = 1000) -> None:
        self.huber_delta = huber_delta
        self.max_iter = max_iter
        loss = "squared error" if huber_delta is None else f"Huber(δ={huber_delta:g})"
        self.objective = f"sum of {loss} on log L; L-BFGS from a grid of starts"

    @abc.abstractmethod
    def _logx(self, data: FitData) -> FloatArray:
        """(K, n) logs of the inputs."""

    @abc.abstractmethod
    def start_grid(self) -> FloatArray:
        """Starting points as internal (uncentred) rows: e, a_1..a_K, α_1..α_K."""

    def _evaluate(
        self,
        x: FloatArray,
        idx: IntArray,
        design: list[FloatArray],
        y: FloatArray,
        weights: FloatArray | None,
    ) -> tuple[FloatArray, FloatArray]:
        # L = e^e + Σ_k exp(a_k - α_k·x_k). No max-shift: the centred inputs keep the
        # exponents moderate, and a trial point that overflows gets f = inf, which the line
        # search rejects (a grid start always has e^e >= e^-1 > 0, so log never sees 0).
        # Rows go in blocks that stay in the CPU's cache; each term's exponent is one matrix
        # product (a_k, α_k)·design_k with design_k = (1, -x_k), and its two gradient
        # entries another.
        k = self.n_terms
        delta = self.huber_delta
        f = np.empty(x.shape[0])
        g = np.empty_like(x)
        for lo in range(0, x.shape[0], _BLOCK):
            hi = min(lo + _BLOCK, x.shape[0])
            xs = x[lo:hi]
            te = np.exp(xs[:, 0])
            terms = []
            for j in range(k):
                t = xs[:, [1 + j, 1 + k + j]] @ design[j]
                terms.append(np.exp(t, out=t))
            s = terms[0] + terms[1] if k > 1 else terms[0].copy()
            for t in terms[2:]:
                s += t
            s += te[:, None]
            r = np.log(s)
            r -= y
            # Huber: psi = clip(r, ±δ) is its derivative, and the loss is psi·r - psi²/2
            psi = r.copy() if delta is None else np.clip(r, -delta, delta)
            if weights is not None:
                psi *= weights[idx[lo:hi]]
            fb = np.einsum("ij,ij->i", psi, r)
            if delta is not None:
                np.clip(r, -delta, delta, out=r)
            fb -= 0.5 * np.einsum("ij,ij->i", psi, r)
            f[lo:hi] = fb
            psi /= s  # d f / d log-term, per point, divided by L
            g[lo:hi, 0] = te * psi.sum(axis=1)
            for j, t in enumerate(terms):
                t *= psi
                both = t @ design[j].T
                g[lo:hi, 1 + j] = both[:, 0]
                g[lo:hi, 1 + k + j] = both[:, 1]
        return f, g

    def _to_internal(self, natural: FloatArray, centre: FloatArray) -> FloatArray:
        k = self.n_terms
        nat = _as_2d(natural)
        out = np.empty_like(nat)
        out[:, 0] = np.log(nat[:, 0])
        out[:, 1 + k :] = nat[:, 1 + k :]
        out[:, 1 : 1 + k] = np.log(nat[:, 1 : 1 + k]) - nat[:, 1 + k :] * centre
        return out

    def _to_natural(self, internal: FloatArray, centre: FloatArray) -> FloatArray:
        k = self.n_terms
        out = np.empty_like(internal)
        with np.errstate(over="ignore"):  # a refit that ran off gives inf: counted as failed
            out[:, 0] = np.exp(internal[:, 0])
            out[:, 1 : 1 + k] = np.exp(internal[:, 1 : 1 + k] + internal[:, 1 + k :] * centre)
        out[:, 1 + k :] = internal[:, 1 + k :]
        return out

    def fit(
        self,
        data: FitData,
        *,
        weights: FloatArray | None = None,
        start: FloatArray | None = None,
    ) -> FormFit:
        logx_raw = self._logx(data)
        centre = logx_raw.mean(axis=1)
        logx = logx_raw - centre[:, None]
        y = np.log(data.loss)
        k = self.n_terms
        if start is None:
            x0 = self.start_grid().copy()
            x0[:, 1 : 1 + k] -= x0[:, 1 + k :] * centre  # uncentred a_k -> centred a'_k
        else:
            x0 = self._to_internal(start, centre)
        if weights is not None and weights.shape[0] != x0.shape[0]:
            raise ValueError("weights and start must have one row per problem")

        design = [np.stack([np.ones_like(row), -row]) for row in logx]

        def fun(x: FloatArray, idx: IntArray) -> tuple[FloatArray, FloatArray]:
            return self._evaluate(x, idx, design, y, weights)

        if start is None:
            # every grid start runs until it converges or crawls (less than 0.01% progress
            # in 25 steps: a valley far from the best basin); the best few are then
            # polished to full convergence
            keep = max(self.polish, math.ceil(GRID_KEEP * x0.shape[0]))
            res = lbfgs_batch(fun, x0, max_iter=self.max_iter, stall_tol=1e-4, keep=keep,
                              keep_after=GRID_KEEP_AFTER)
            f = np.where(np.isfinite(res.f), res.f, np.inf)
            top = np.argsort(f, kind="stable")[: self.polish]
            fine = lbfgs_batch(fun, res.x[top], max_iter=self.max_iter, stall_tol=0.0)
            ff = np.where(np.isfinite(fine.f), fine.f, np.inf)
            best = int(np.argmin(ff))
            internal, objective = fine.x[best : best + 1], ff[best : best + 1]
            iterations = int(res.iterations.max() + fine.iterations.max())
        else:
            res = lbfgs_batch(fun, x0, max_iter=self.max_iter, stall_tol=0.0)
            internal = res.x
            objective = np.where(np.isfinite(res.f), res.f, np.inf)
            iterations = int(res.iterations.max())
        return FormFit(
            params=self._to_natural(internal, centre),
            objective=objective,
            n_starts=int(x0.shape[0]),
            iterations=iterations,
            converged=int(res.converged.sum()),
        )

    def _reducible(self, params: FloatArray, logx: FloatArray) -> FloatArray:
        p = _as_2d(params)
        k = self.n_terms
        log_a = np.log(p[:, 1 : 1 + k])
        al = p[:, 1 + k :]
        terms = np.exp(log_a[:, :, None] - al[:, :, None] * logx[None, :, :])
        return np.asarray(terms.sum(axis=1), dtype=np.float64)

    def predict(self, params: FloatArray, data: FitData) -> FloatArray:
        p = np.asarray(params, dtype=np.float64)
        out = _as_2d(p)[:, :1] + self._reducible(p, self._logx(data))
        return out[0] if p.ndim == 1 else out

    def irreducible_loss(self, params: FloatArray) -> FloatArray | None:
        return np.asarray(_as_2d(params)[:, 0], dtype=np.float64)


def _grid(*axes: FloatArray) -> FloatArray:
    return np.array(list(itertools.product(*axes)), dtype=np.float64)


@register_form
class ComputeLaw(_LogSumExpForm):
    """``L(C) = E + A·C^(-α)``: loss against training compute with an irreducible loss."""

    name = "compute"
    formula = "L(C) = E + A·C^(-alpha)"
    param_names = ("E", "A", "alpha")
    inputs = ("compute",)
    n_terms = 1

    def validate(self, data: FitData) -> None:
        _require_varied(data.compute, "compute", "The 'compute' form needs compute= (FLOPs).")
        super().validate(data)

    def _logx(self, data: FitData) -> FloatArray:
        return np.log(self.compute_of(data))[None, :]

    def start_grid(self) -> FloatArray:
        e = np.arange(-1.0, 1.01, 0.5)
        a = np.arange(0.0, 26.0, 5.0)
        alpha = np.array([0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0])
        return _grid(e, a, alpha)

    def loss_at_compute(self, params: FloatArray, compute: FloatArray) -> FloatArray:
        p = _as_2d(params)
        logc = np.log(np.asarray(compute, dtype=np.float64))[None, :]
        return np.asarray(p[:, :1] + self._reducible(p, logc), dtype=np.float64)

    def compute_for_loss(self, params: FloatArray, loss: float | FloatArray) -> FloatArray:
        p = _as_2d(params)
        e, a, al = p[:, 0], p[:, 1], p[:, 2]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            c = np.exp((np.log(a) - np.log(loss - e)) / al)
        ok = (loss > e) & (al > 0) & np.isfinite(c)
        return np.where(ok, c, np.nan)

    def compute_exponent(self, params: FloatArray) -> FloatArray:
        return np.asarray(_as_2d(params)[:, 2], dtype=np.float64)


@register_form
class ChinchillaLaw(_LogSumExpForm):
    """``L(N, D) = E + A/N^α + B/D^β`` (Hoffmann et al. 2022), fitted by their Approach 3.

    ``flops_per_param_token`` is the k in ``C = k·N·D`` used for the compute-optimal
    frontier and for ordering runs by compute when no compute is given (6 by default).
    """

    name = "chinchilla"
    formula = "L(N, D) = E + A/N^alpha + B/D^beta"
    param_names = ("E", "A", "B", "alpha", "beta")
    inputs = ("n", "d")
    n_terms = 2

    def __init__(
        self,
        *,
        huber_delta: float | None = HUBER_DELTA,
        max_iter: int = 1000,
        flops_per_param_token: float = 6.0,
        grid: Mapping[str, tuple[float, ...]] | None = None,
    ) -> None:
        super().__init__(huber_delta=huber_delta, max_iter=max_iter)
        self.flops_per_param_token = flops_per_param_token
        self.grid = dict(grid or {})

    def validate(self, data: FitData) -> None:
        hint = "The 'chinchilla' form needs n= (parameters) and d= (tokens) for every run."
        _require_varied(data.n, "model size N", hint)
        _require_varied(data.d, "token count D", hint)
        super().validate(data)

    def _logx(self, data: FitData) -> FloatArray:
        assert data.n is not None and data.d is not None
        return np.log(np.stack([data.n, data.d]))

    def start_grid(self) -> FloatArray:
        """Hoffmann et al.'s grid (override an axis with ``grid={"alpha": (...), ...}``)."""
        g = self.grid
        alpha = np.asarray(g.get("alpha", np.arange(0.0, 2.01, 0.5)), dtype=np.float64)
        beta = np.asarray(g.get("beta", np.arange(0.0, 2.01, 0.5)), dtype=np.float64)
        e = np.asarray(g.get("e", np.arange(-1.0, 1.01, 0.5)), dtype=np.float64)
        a = np.asarray(g.get("a", np.arange(0.0, 26.0, 5.0)), dtype=np.float64)
        b = np.asarray(g.get("b", np.arange(0.0, 26.0, 5.0)), dtype=np.float64)
        return _grid(e, a, b, alpha, beta)

    def compute_of(self, data: FitData) -> FloatArray:
        if data.compute is not None:
            return data.compute
        assert data.n is not None and data.d is not None
        return self.flops_per_param_token * data.n * data.d

    def _frontier(self, params: FloatArray) -> tuple[FloatArray, ...]:
        p = _as_2d(params)
        e, a, b, al, be = (p[:, i] for i in range(5))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            g = (al * a / (be * b)) ** (1.0 / (al + be))
            gamma = al * be / (al + be)
            kk = a * g ** (-al) + b * g**be
        return e, al, be, g, gamma, kk

    def optimal_allocation(
        self, params: FloatArray, compute: float
    ) -> tuple[FloatArray, FloatArray]:
        """Compute-optimal (N, D) for a budget, one per parameter row (Hoffmann eq. 4)."""
        _, al, be, g, _, _ = self._frontier(params)
        x = compute / self.flops_per_param_token
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            n_opt = g * x ** (be / (al + be))
        return n_opt, x / n_opt

    def loss_at_compute(self, params: FloatArray, compute: FloatArray) -> FloatArray:
        e, _, _, _, gamma, kk = self._frontier(params)
        x = np.asarray(compute, dtype=np.float64)[None, :] / self.flops_per_param_token
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = e[:, None] + kk[:, None] * x ** (-gamma[:, None])
        return np.asarray(out, dtype=np.float64)

    def compute_for_loss(self, params: FloatArray, loss: float | FloatArray) -> FloatArray:
        e, al, be, _, gamma, kk = self._frontier(params)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            c = self.flops_per_param_token * np.exp(np.log(kk / (loss - e)) / gamma)
        ok = (loss > e) & (al > 0) & (be > 0) & np.isfinite(c)
        return np.where(ok, c, np.nan)

    def tokens_for_loss(self, params: FloatArray, loss: float | FloatArray, n: float) -> FloatArray:
        """Tokens a model of ``n`` parameters needs to reach ``loss``; NaN if it never does."""
        p = _as_2d(params)
        e, a, b, al, be = (p[:, i] for i in range(5))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            rest = loss - e - a * n ** (-al)
            d = (b / rest) ** (1.0 / be)
        return np.where((rest > 0) & (be > 0) & np.isfinite(d), d, np.nan)

    def compute_exponent(self, params: FloatArray) -> FloatArray:
        return self._frontier(params)[4]


@register_form
class PowerLaw(ScalingForm):
    """``L(C) = a·C^b``: a straight line in log–log, fitted by least squares on log L."""

    name = "power"
    formula = "L(C) = a·C^b"
    param_names = ("a", "b")
    inputs = ("compute",)
    objective = "ordinary least squares of log L on log C (closed form)"

    def validate(self, data: FitData) -> None:
        _require_varied(data.compute, "compute", "The 'power' form needs compute= (FLOPs).")
        super().validate(data)

    def fit(
        self,
        data: FitData,
        *,
        weights: FloatArray | None = None,
        start: FloatArray | None = None,
    ) -> FormFit:
        x = np.log(self.compute_of(data))
        y = np.log(data.loss)
        w = np.ones((1, x.size)) if weights is None else weights
        sw = w.sum(axis=1)
        xm = (w * x).sum(axis=1) / sw
        ym = (w * y).sum(axis=1) / sw
        dx = x[None, :] - xm[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            b = (w * dx * (y[None, :] - ym[:, None])).sum(axis=1) / (w * dx * dx).sum(axis=1)
        loga = ym - b * xm
        resid = y[None, :] - (loga[:, None] + b[:, None] * x[None, :])
        obj = 0.5 * (w * resid * resid).sum(axis=1)
        params = np.stack([np.exp(loga), b], axis=1)
        return FormFit(params=params, objective=obj, n_starts=1, iterations=0, converged=len(b))

    def predict(self, params: FloatArray, data: FitData) -> FloatArray:
        p = np.asarray(params, dtype=np.float64)
        out = self.loss_at_compute(p, self.compute_of(data))
        return out[0] if p.ndim == 1 else out

    def loss_at_compute(self, params: FloatArray, compute: FloatArray) -> FloatArray:
        p = _as_2d(params)
        logc = np.log(np.asarray(compute, dtype=np.float64))
        return np.asarray(p[:, :1] * np.exp(p[:, 1:2] * logc[None, :]), dtype=np.float64)

    def compute_for_loss(self, params: FloatArray, loss: float | FloatArray) -> FloatArray:
        p = _as_2d(params)
        a, b = p[:, 0], p[:, 1]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            c = np.exp((np.log(loss) - np.log(a)) / b)
        return np.where((b < 0) & np.isfinite(c), c, np.nan)

    def compute_exponent(self, params: FloatArray) -> FloatArray:
        return np.asarray(-_as_2d(params)[:, 1], dtype=np.float64)
