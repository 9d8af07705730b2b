"""A batched Newton minimiser (internal).

Runs many independent smooth minimisations of a few parameters in lock-step with numpy, so
that the local searches of a scaling-law fit and a thousand bootstrap refits cost a few
array passes per step instead of one Python-level optimiser each.

Each step is Newton's, ``d = -H⁻¹g``, with the analytic gradient and Hessian the objective
returns, made safe for a Hessian that is not positive definite by taking the absolute
values of its eigenvalues, floored at ``1e-14`` of the largest (Nocedal & Wright,
*Numerical Optimization*, §3.4: a modified Newton method; near a minimum it is Newton's own
step, which converges quadratically). A step longer than ``max_step`` in any coordinate is
shortened to it, and a backtracking Armijo line search (halving, ``c1 = 1e-4``) takes it. A
problem stops when its gradient's largest entry is below ``gtol``, when one step lowers its
objective by less than ``ftol`` relative, when ``stall_window`` steps together lower it by
less than ``stall_tol`` relative (a search crawling along a flat valley), or when the line
search cannot lower it any more (it sits at the floating-point minimum).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._common import FloatArray

IntArray = npt.NDArray[np.intp]
Objective = Callable[[FloatArray, IntArray], tuple[FloatArray, FloatArray, FloatArray]]
"""``fun(x, idx) -> (f, g, H)``: x has shape (k, P) for problems ``idx``; f (k,), g (k, P),
H (k, P, P)."""


@dataclass(frozen=True)
class BatchResult:
    x: FloatArray
    f: FloatArray
    iterations: npt.NDArray[np.int64]
    converged: npt.NDArray[np.bool_]


def newton_batch(
    fun: Objective,
    x0: FloatArray,
    *,
    max_iter: int = 600,
    gtol: float = 1e-11,
    ftol: float = 1e-10,
    stall_window: int = 10,
    stall_tol: float = 0.0,
    max_step: float = 2.0,
    max_backtracks: int = 40,
) -> BatchResult:
    """Minimise ``fun`` from every row of ``x0`` (shape (S, P)) at once."""
    with np.errstate(all="ignore"):  # wild trial points give inf/NaN; the search rejects them
        return _newton(
            fun, x0, max_iter, gtol, ftol, stall_window, stall_tol, max_step, max_backtracks)


def _newton(
    fun: Objective,
    x0: FloatArray,
    max_iter: int,
    gtol: float,
    ftol: float,
    stall_window: int,
    stall_tol: float,
    max_step: float,
    max_backtracks: int,
) -> BatchResult:
    # The problems still running are held compactly (``act`` maps them to their rows of x
    # and f); a problem's state goes back to those rows when it stops.
    x = np.array(x0, dtype=np.float64, copy=True)
    n_prob = x.shape[0]
    f, g, h = fun(x, np.arange(n_prob))
    f = f.copy()
    iters = np.zeros(n_prob, dtype=np.int64)
    small = np.abs(g).max(axis=1) <= gtol
    converged = np.isfinite(f) & small
    act = np.flatnonzero(np.isfinite(f) & ~small)
    xa, fa, ga, ha = x[act], f[act], g[act], h[act]
    f_past = np.repeat(fa[:, None], stall_window, axis=1)  # ring of f, stall_window steps back
    for it in range(max_iter):
        if act.size == 0:
            break
        lam, vec = np.linalg.eigh(np.where(np.isfinite(ha), ha, 0.0))
        lam = np.abs(lam)
        lam = np.maximum(lam, np.maximum(1e-14 * lam.max(axis=1, keepdims=True), 1e-300))
        d = -(vec @ ((vec.transpose(0, 2, 1) @ ga[:, :, None])[:, :, 0] / lam)[:, :, None])
        d = d[:, :, 0]
        longest = np.abs(d).max(axis=1)
        d *= np.where(longest > max_step, max_step / longest, 1.0)[:, None]
        gd = np.einsum("ij,ij->i", ga, d)
        bad = ~(gd < 0)  # NaN included: fall back to steepest descent
        if bad.any():
            d[bad] = -ga[bad] * np.minimum(1.0, max_step / np.abs(ga[bad]).max(axis=1))[:, None]
            gd[bad] = np.einsum("ij,ij->i", ga[bad], d[bad])

        # backtracking Armijo line search, vectorised over the problems still searching
        t = np.ones(act.size)
        x_new, f_new, g_new, h_new = xa.copy(), fa.copy(), ga.copy(), ha.copy()
        done = np.zeros(act.size, dtype=bool)
        pending = np.arange(act.size)
        for _ in range(max_backtracks):
            xt = xa[pending] + t[pending, None] * d[pending]
            ft, gt, ht = fun(xt, act[pending])
            ok = np.isfinite(ft) & (ft <= fa[pending] + 1e-4 * t[pending] * gd[pending])
            acc = pending[ok]
            x_new[acc], f_new[acc], g_new[acc], h_new[acc] = xt[ok], ft[ok], gt[ok], ht[ok]
            done[acc] = True
            pending = pending[~ok]
            if pending.size == 0:
                break
            t[pending] *= 0.5

        iters[act] += 1
        scale = np.maximum(np.maximum(np.abs(fa), np.abs(f_new)), 1e-300)
        ring = it % stall_window
        crawl = (stall_tol > 0) & (it >= stall_window) & (
            (f_past[:, ring] - f_new) <= stall_tol * scale)
        f_past[:, ring] = f_new
        finished = (
            ~done
            | (np.abs(g_new).max(axis=1) <= gtol)
            | ((fa - f_new) <= ftol * scale)
            | crawl
        )
        xa, fa, ga, ha = x_new, f_new, g_new, h_new
        gone = act[finished]
        x[gone], f[gone] = xa[finished], fa[finished]
        converged[gone] = True
        on = ~finished
        act, xa, fa, ga, ha, f_past = act[on], xa[on], fa[on], ga[on], ha[on], f_past[on]

    x[act], f[act] = xa, fa
    return BatchResult(x=x, f=f, iterations=iters, converged=converged)
