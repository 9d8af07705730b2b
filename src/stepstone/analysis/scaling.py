"""Scaling-law forms behind one interface.

Each form is a :class:`ScalingForm`: it names its parameters, fits them to runs (many fits
at once, for the local searches and for bootstrap resamples), predicts, and inverts the law
(the compute needed to reach a loss). :func:`stepstone.analysis.fit_scaling_law` drives them.

Forms shipped here (``FORMS``; add one with :func:`register_form`):

``compute``     ``L(C) = E + A·C^(-α)``. Fitted like Chinchilla's Approach 3 below with one
                reducible term: ``log L = LSE(e, a - α·log C)``, ``E = e^e``, ``A = e^a``.
``power``       ``L(C) = a·C^b``. Ordinary least squares of ``log L`` on ``log C``
                (closed form), no irreducible term.
``chinchilla``  ``L(N, D) = E + A/N^α + B/D^β`` (Hoffmann et al. 2022, eq. 2), fitted as in
                their Approach 3: minimise ``Σ Huber_δ(LSE(a - α·log N, b - β·log D, e) - log L)``
                with ``δ = 1e-3``, keeping the lowest minimum found from many starts. The
                Huber terms are **summed**, not averaged: averaging shrinks the gradient so
                much that a gradient method stops early, the flaw Besiroglu et al. (2024,
                "Chinchilla Scaling: A replication attempt") found in the published fit.
                Published values: E = 1.69, A = 406.4, B = 410.7, α = 0.34, β = 0.28.

Compute-optimal frontier of the (N, D) law under ``C = k·N·D`` (``k = 6`` by default;
Hoffmann et al. eq. 4): ``N_opt = G·(C/k)^(β/(α+β))``, ``D_opt = (C/k)/N_opt`` with
``G = (αA / (βB))^(1/(α+β))``, and ``L_opt(C) = E + K·(C/k)^(-γ)`` where
``γ = αβ/(α+β)`` and ``K = A·G^(-α) + B·G^β``, so the compute that reaches a loss ``L > E``
is ``C = k·(K/(L - E))^(1/γ)``.

How the minimum is found (the objective is Approach 3's; only the path to its minimum is
engineered; ``docs/analysis.md`` gives the evidence):

* the search works on centred logs (``log N - mean log N``; the intercepts are shifted back
  afterwards), which conditions the problem far better without moving its minimum;
* **scan**: the exponents on a grid (:data:`EXPONENTS` for each: ±0.01 to ±64, 6,400 pairs
  for Chinchilla's form). Given the exponents the law is linear in E, A and B, so each
  point's coefficients are solved for (positive least squares of the relative errors:
  variable projection), and the point is scored by the Huber objective there;
* **search**: the best point of each of 64 regions of the scan starts a Newton search
  (analytic gradient and Hessian, ``_optim.newton_batch``) of at most 30 steps, stopping
  early when it crawls (ten steps gain less than 0.01%); the best five are then polished
  to full convergence, and the lowest is the fit;
* bootstrap refits (and any fit given ``start``) run Newton from their starts to
  convergence, all at once.
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
from ._optim import IntArray, newton_batch

HUBER_DELTA = 1e-3
_SCALE = np.geomspace(0.01, 64.0, 40)
EXPONENTS = np.concatenate([-_SCALE[::-1], _SCALE])
"""The exponents scanned for starting points: ±0.01 to ±64, 40 a sign, evenly in log."""
SEARCH_STEPS = 30  # Newton steps of each local search before the best few are polished
STALL = 1e-4  # a local search stops when ten steps lower it by less than this, relative
_BLOCK = 32  # rows evaluated together (a block stays in the CPU cache, and its one matrix
# product stays below the size at which OpenBLAS starts threads)


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
    if arr.min() == arr.max():  # not np.unique, which imports numpy.ma
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

    local_searches: int = 64
    polish: int = 5

    def __init__(self, *, huber_delta: float | None = HUBER_DELTA, max_iter: int = 600) -> None:
        self.huber_delta = huber_delta
        self.max_iter = max_iter
        loss = "squared error" if huber_delta is None else f"Huber(δ={huber_delta:g})"
        self.objective = (
            f"sum of {loss} on log L; Newton from the best starts of a scan of the exponents"
        )

    @abc.abstractmethod
    def _logx(self, data: FitData) -> FloatArray:
        """(K, n) logs of the inputs."""

    @abc.abstractmethod
    def exponent_axes(self) -> list[FloatArray]:
        """The exponents scanned for starting points, one axis per term: every combination
        is a start."""

    def _evaluate(
        self,
        x: FloatArray,
        idx: IntArray,
        design: _Design,
        y: FloatArray,
        weights: FloatArray | None,
        derivatives: bool = True,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        # L = e^e + Σ_k t_k with t_k = exp(a_k - α_k·x_k), and r = log L - y. No max-shift:
        # the centred inputs keep the exponents moderate, and a trial point that overflows
        # gets f = inf, which the line search rejects. The gradient and Hessian are sums
        # over the runs (see :class:`_Design`), all of a block's one matrix product. Rows go
        # in blocks that stay in the CPU's cache. Without ``derivatives``, f only (g and H
        # empty).
        k = self.n_terms
        p = 1 + 2 * k
        delta = self.huber_delta
        logx = design.logx
        rows = x.shape[0]
        f = np.empty(rows)
        g = np.empty((rows if derivatives else 0, p))
        h = np.empty((rows if derivatives else 0, p * p))
        for lo in range(0, rows, _BLOCK):
            hi = min(lo + _BLOCK, rows)
            xs = x[lo:hi]
            v = np.empty((1 + k, hi - lo, y.size))  # term-major: each term's rows contiguous
            v[0] = np.exp(xs[:, :1])
            for j in range(k):
                t = v[1 + j]
                np.multiply(xs[:, 1 + k + j, None], logx[j], out=t)
                np.subtract(xs[:, 1 + j, None], t, out=t)
                np.exp(t, out=t)
            s = v.sum(axis=0)
            r = np.log(s)
            r -= y
            psi = r.copy() if delta is None else np.clip(r, -delta, delta)
            hub = psi * r
            hub -= 0.5 * psi * psi  # Huber's loss: ψ·r - ψ²/2
            w = None if weights is None else weights[idx[lo:hi]]
            if w is None:
                f[lo:hi] = hub.sum(axis=1)
            else:
                f[lo:hi] = np.einsum("ij,ij->i", w, hub)
                psi *= w
            if not derivatives:
                continue
            v /= s
            # the factors summed: ψ·v_j, then (ψ' - ψ)·v_i·v_j (ψ' is 1 inside ±δ)
            prods = np.empty((1 + k + len(design.pairs), hi - lo, y.size))
            np.multiply(v, psi, out=prods[: 1 + k])
            c = np.ones_like(r) if delta is None else (np.abs(r) <= delta) * 1.0
            if w is not None:
                c *= w
            c -= psi
            cv = v * c
            for m, (i, j) in enumerate(design.pairs):
                np.multiply(cv[i], v[j], out=prods[1 + k + m])
            sums = (prods.reshape(-1, y.size) @ design.moments).reshape(
                prods.shape[0], hi - lo, -1).transpose(1, 0, 2).reshape(hi - lo, -1)
            g[lo:hi] = sums[:, : design.to_grad.shape[0]] @ design.to_grad
            h[lo:hi] = sums @ design.to_hess
        return f, g, h.reshape(-1, p, p)

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

    def _projected_starts(self, logx: FloatArray, loss: FloatArray) -> FloatArray:
        """One internal start per point of the product of :meth:`exponent_axes`: given its
        exponents the law is linear in E and the A_k, so they are the least-squares solution
        of the relative errors ``(L̂ - L)/L`` with every coefficient positive (variable
        projection, Golub & Pereyra 1973): of the unconstrained solutions of each subset of
        the coefficients, the best one whose coefficients are all positive, the terms left
        out set to at most a millionth of the mean loss. A term's column depends on its own
        exponent only, so every Gram matrix of the scan comes from one product of columns
        per pair of terms; each column is scaled to its largest value first (so that no
        exponent overflows) and the equations to unit columns."""
        k = self.n_terms
        axes = self.exponent_axes()
        shape = tuple(ax.size for ax in axes)
        inv = 1.0 / loss
        cols, top = [], []
        for j, ax in enumerate(axes):
            z = -ax[:, None] * logx[j]
            top.append(z.max(axis=1))
            cols.append(np.exp(z - top[-1][:, None]) * inv)

        def spread(v: FloatArray, *dims: int) -> FloatArray:
            """``v`` (one axis per term in ``dims``) broadcast over the scan's grid."""
            return np.broadcast_to(
                np.expand_dims(v, [d for d in range(k) if d not in dims]), shape)

        gram = np.empty((*shape, 1 + k, 1 + k))
        rhs = np.empty((*shape, 1 + k))  # the target is 1: L̂/L = 1
        gram[..., 0, 0] = inv @ inv
        rhs[..., 0] = inv.sum()
        for j in range(k):
            gram[..., 0, 1 + j] = gram[..., 1 + j, 0] = spread(cols[j] @ inv, j)
            rhs[..., 1 + j] = spread(cols[j].sum(axis=1), j)
            gram[..., 1 + j, 1 + j] = spread(np.einsum("ij,ij->i", cols[j], cols[j]), j)
            for i in range(j + 1, k):
                gram[..., 1 + j, 1 + i] = gram[..., 1 + i, 1 + j] = spread(
                    cols[j] @ cols[i].T, j, i)
        gram = gram.reshape(-1, 1 + k, 1 + k)
        rhs = rhs.reshape(-1, 1 + k)
        norm = np.sqrt(np.einsum("ijj->ij", gram))  # solved on unit columns
        gram = gram / (norm[:, :, None] * norm[:, None, :])
        rhs = rhs / norm
        vanish = math.log(1e-6 * float(loss.mean()))
        best = np.full(gram.shape[0], np.inf)
        logc = np.full((gram.shape[0], 1 + k), vanish)
        for subset in itertools.product((False, True), repeat=1 + k):
            on = np.flatnonzero(subset)
            if on.size == 0:
                continue
            gs = gram[:, on][:, :, on] + 1e-12 * np.eye(on.size)
            bs = rhs[:, on]
            with np.errstate(all="ignore"):
                c = np.linalg.solve(gs, bs[:, :, None])[:, :, 0]
                # squared error Σ(1 - L̂/L)², less the constant n
                sse = np.einsum("ij,ijk,ik->i", c, gs, c) - 2.0 * np.einsum("ij,ij->i", c, bs)
                ok = np.all(c > 0, axis=1) & np.isfinite(sse) & (sse < best)
                best[ok] = sse[ok]
                logc[np.ix_(ok, on)] = np.log(c[ok] / norm[np.ix_(ok, on)])
            logc[np.ix_(ok, np.flatnonzero(~np.asarray(subset)))] = vanish
        exps = _grid(*axes)
        for j in range(k):  # undo the scaling of the columns to their largest value
            logc[:, 1 + j] -= spread(top[j], j).reshape(-1)
        return np.column_stack([logc, exps])

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
        if weights is not None and (start is None or weights.shape[0] != start.shape[0]):
            raise ValueError("weights and start must have one row per problem")

        design = _Design.of(logx)

        def fun(x: FloatArray, idx: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
            return self._evaluate(x, idx, design, y, weights)

        if start is None:
            # the exponents scanned, each start ranked by the objective at its projected
            # coefficients; the best start of each region of the scan is searched, and the
            # best few of those searches polished to convergence
            x0 = self._projected_starts(logx, data.loss)
            with np.errstate(all="ignore"):
                f0 = self._evaluate(x0, np.arange(x0.shape[0]), design, y, None, False)[0]
            shape = tuple(ax.size for ax in self.exponent_axes())
            picked = _regions(np.where(np.isfinite(f0), f0, np.inf), shape, self.local_searches)
            search = newton_batch(fun, x0[picked], max_iter=SEARCH_STEPS, stall_tol=STALL)
            f = np.where(np.isfinite(search.f), search.f, np.inf)
            lead = np.argsort(f, kind="stable")[: self.polish]
            res = newton_batch(fun, search.x[lead], max_iter=self.max_iter)
            f = np.where(np.isfinite(res.f), res.f, np.inf)
            best = int(np.argmin(f))
            internal, objective = res.x[best : best + 1], f[best : best + 1]
            n_starts = int(x0.shape[0])
            steps = int(search.iterations.max() + res.iterations.max())
        else:
            res = newton_batch(fun, self._to_internal(start, centre), max_iter=self.max_iter)
            internal = res.x
            objective = np.where(np.isfinite(res.f), res.f, np.inf)
            n_starts = int(start.shape[0])
            steps = int(res.iterations.max())
        return FormFit(
            params=self._to_natural(internal, centre),
            objective=objective,
            n_starts=n_starts,
            iterations=steps,
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


@dataclass(frozen=True)
class _Design:
    """The sums over the runs that the gradient and Hessian of a sum-of-exponentials law are
    made of, for centred logs ``logx`` (K, n).

    With v = (e^e, t_1..t_K)/L, r = log L - y and ψ = clip(r, ±δ) Huber's derivative, the
    derivatives of r are ∂r/∂e = v_0, ∂r/∂a_k = v_k and ∂r/∂α_k = -x_k·v_k, so the gradient is
    Σ w·ψ·∂r and the Hessian Σ w·(ψ' - ψ)·∂r·∂rᵀ + Σ w·ψ·(∂²L)/L, where ∂²L/∂e² = e^e,
    ∂²L/∂a_k² = t_k, ∂²L/∂a_k∂α_k = -x_k·t_k and ∂²L/∂α_k² = x_k²·t_k. Every entry is thus a
    sum of one of the factors w·ψ·v_j or w·(ψ' - ψ)·v_i·v_j (i <= j, in ``pairs``) against one
    of the ``moments`` 1, x_k, x_i·x_j; ``to_grad`` and ``to_hess`` map those sums (factor
    major) to the gradient and to the flattened Hessian.
    """

    logx: FloatArray
    moments: FloatArray  # (n, C)
    pairs: tuple[tuple[int, int], ...]
    to_grad: FloatArray  # ((1 + K)·C, P)
    to_hess: FloatArray  # ((1 + K + len(pairs))·C, P·P)

    @classmethod
    def of(cls, logx: FloatArray) -> _Design:
        k = logx.shape[0]
        cols = [np.ones(logx.shape[1]), *logx]
        square = np.zeros((k + 1, k + 1), dtype=np.intp)  # moment column of x_i·x_j
        for i in range(1, k + 1):
            for j in range(i, k + 1):
                square[i, j] = square[j, i] = len(cols)
                cols.append(logx[i - 1] * logx[j - 1])
        pairs = tuple((i, j) for i in range(k + 1) for j in range(i, k + 1))
        n_c, p = len(cols), 1 + 2 * k
        # the maps are linear: build them by assembling every unit sum
        unit = np.eye((1 + k + len(pairs)) * n_c).reshape(-1, 1 + k + len(pairs), n_c)
        g = np.zeros((unit.shape[0], p))
        h = np.zeros((unit.shape[0], p, p))
        for j in range(k + 1):
            g[:, j] = unit[:, j, 0]  # Σ ψ·v_j
        for j in range(1, k + 1):
            g[:, k + j] = -unit[:, j, j]  # Σ ψ·v_j·(-x_j)
        for m, (i, j) in enumerate(pairs):
            q = unit[:, 1 + k + m]  # Σ (ψ' - ψ)·v_i·v_j against each moment
            h[:, i, j] = h[:, j, i] = q[:, 0]
            for a, b in ((i, j), (j, i)):
                if a >= 1:  # α_a against e or a_b: the -x_a of ∂r/∂α_a
                    h[:, k + a, b] = h[:, b, k + a] = -q[:, a]
            if i >= 1:
                h[:, k + i, k + j] = h[:, k + j, k + i] = q[:, square[i, j]]
        h[:, 0, 0] += g[:, 0]  # the ψ·(∂²L)/L terms
        for j in range(1, k + 1):
            h[:, j, j] += g[:, j]
            h[:, j, k + j] += g[:, k + j]
            h[:, k + j, j] += g[:, k + j]
            h[:, k + j, k + j] += unit[:, j, square[j, j]]
        return cls(logx, np.stack(cols, axis=1), pairs, g[: (1 + k) * n_c], h.reshape(-1, p * p))


def _regions(f: FloatArray, shape: tuple[int, ...], count: int) -> IntArray:
    """The best point (lowest ``f``, finite) of each region of a grid of ``shape`` (flat
    values ``f``) cut into about ``count`` regions, equally many along each axis."""
    per_axis = max(1, round(count ** (1.0 / len(shape))))
    cut = [np.arange(n) * per_axis // n for n in shape]  # the region of each cell, per axis
    region = np.ravel_multi_index(np.meshgrid(*cut, indexing="ij"), (per_axis,) * len(shape))
    order = np.lexsort((f, region.ravel()))  # by region, then by f
    first = np.ones(order.size, dtype=bool)
    first[1:] = region.ravel()[order[1:]] != region.ravel()[order[:-1]]
    best = order[first]
    return best[np.isfinite(f[best])]


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

    def exponent_axes(self) -> list[FloatArray]:
        return [EXPONENTS]

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
        max_iter: int = 600,
        flops_per_param_token: float = 6.0,
        grid: Mapping[str, tuple[float, ...]] | None = None,
    ) -> None:
        super().__init__(huber_delta=huber_delta, max_iter=max_iter)
        self.flops_per_param_token = flops_per_param_token
        self.grid = dict(grid or {})
        if not set(self.grid) <= {"alpha", "beta"}:
            raise AnalysisError(
                f"grid= sets the exponents scanned, 'alpha' and 'beta'; got {sorted(self.grid)}."
            )

    def validate(self, data: FitData) -> None:
        hint = "The 'chinchilla' form needs n= (parameters) and d= (tokens) for every run."
        _require_varied(data.n, "model size N", hint)
        _require_varied(data.d, "token count D", hint)
        super().validate(data)

    def _logx(self, data: FitData) -> FloatArray:
        assert data.n is not None and data.d is not None
        return np.log(np.stack([data.n, data.d]))

    def exponent_axes(self) -> list[FloatArray]:
        """α and β each on :data:`EXPONENTS` (override an axis with
        ``grid={"alpha": (...), "beta": (...)}``)."""
        return [np.asarray(self.grid.get(name, EXPONENTS), dtype=np.float64)
                for name in ("alpha", "beta")]

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
