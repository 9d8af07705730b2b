"""A batched L-BFGS minimiser (internal).

Runs many independent smooth minimisations in lock-step with numpy, so that a grid of
thousands of starting points (Hoffmann et al. 2022, Approach 3) or a thousand bootstrap
refits cost a few array passes per iteration instead of one Python-level optimiser each.

The method is textbook L-BFGS (Nocedal & Wright, *Numerical Optimization*, Alg. 7.4/7.5):
memory ``m`` curvature pairs, the two-loop recursion, initial scaling
``γ = sᵀy / yᵀy``, and a backtracking Armijo line search (quadratic interpolation,
``c1 = 1e-4``). Curvature pairs with ``sᵀy <= 0`` are skipped, so every direction is a
descent direction. A problem stops when its gradient's largest entry is below ``gtol``,
when one step lowers its objective by less than ``ftol`` relative, when ``stall_window``
steps together lower it by less than ``stall_tol`` relative (a start crawling along a flat
valley far from the best basin), or when the line search cannot lower it any more (it sits
at the floating-point minimum). With ``keep`` (a multi-start search), after ``keep_after``
steps only the ``keep`` problems with the lowest objective go on; the others stop where
they are, not converged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._common import FloatArray

IntArray = npt.NDArray[np.intp]
Objective = Callable[[FloatArray, IntArray], tuple[FloatArray, FloatArray]]
"""``fun(x, idx) -> (f, g)``: x has shape (k, P) for problems ``idx``; f (k,), g (k, P)."""


@dataclass(frozen=True)
class BatchResult:
    x: FloatArray
    f: FloatArray
    iterations: npt.NDArray[np.int64]
    converged: npt.NDArray[np.bool_]


def lbfgs_batch(
    fun: Objective,
    x0: FloatArray,
    *,
    max_iter: int = 1000,
    memory: int = 10,
    gtol: float = 1e-11,
    ftol: float = 1e-10,
    stall_window: int = 25,
    stall_tol: float = 0.0,
    max_backtracks: int = 40,
    keep: int | None = None,
    keep_after: int = 10,
) -> BatchResult:
    """Minimise ``fun`` from every row of ``x0`` (shape (S, P)) at once."""
    with np.errstate(all="ignore"):  # wild trial points give inf/NaN; the search rejects them
        return _lbfgs(
            fun, x0, max_iter, memory, gtol, ftol, stall_window, stall_tol, max_backtracks,
            keep, keep_after,
        )


def _lbfgs(
    fun: Objective,
    x0: FloatArray,
    max_iter: int,
    memory: int,
    gtol: float,
    ftol: float,
    stall_window: int,
    stall_tol: float,
    max_backtracks: int,
    keep: int | None,
    keep_after: int,
) -> BatchResult:
    # The problems still running are held compactly (``act`` maps them to their rows in x, f,
    # g); a problem's state goes back to those rows when it stops, and the compact arrays
    # shrink, so each step's array passes cover the running problems only.
    x = np.array(x0, dtype=np.float64, copy=True)
    n_prob, n_par = x.shape
    f, g = fun(x, np.arange(n_prob))
    f = f.copy()
    g = g.copy()
    iters = np.zeros(n_prob, dtype=np.int64)
    converged = np.zeros(n_prob, dtype=bool)
    running = np.isfinite(f) & (np.abs(g).max(axis=1) > gtol)
    converged[~running & np.isfinite(f)] = True
    act = np.flatnonzero(running)
    xa, fa, ga = x[act], f[act], g[act]
    s_hist = np.zeros((memory, act.size, n_par))  # slot-major: one slot is one block
    y_hist = np.zeros((memory, act.size, n_par))
    rho = np.zeros((memory, act.size))
    gamma = np.zeros(act.size)  # 0 means "no curvature yet"
    f_past = np.repeat(fa[:, None], stall_window, axis=1)  # ring of f, stall_window steps back

    def stop(done: npt.NDArray[np.bool_]) -> None:
        """Write the problems ``done`` back and drop them from the compact arrays."""
        nonlocal act, xa, fa, ga, s_hist, y_hist, rho, gamma, f_past
        gone = act[done]
        x[gone], f[gone], g[gone] = xa[done], fa[done], ga[done]
        on = ~done
        act, xa, fa, ga = act[on], xa[on], fa[on], ga[on]
        s_hist, y_hist, rho = s_hist[:, on], y_hist[:, on], rho[:, on]
        gamma, f_past = gamma[on], f_past[on]

    for it in range(max_iter):
        if keep is not None and it == keep_after and keep < n_prob:
            f[act] = fa
            ranked = np.argsort(np.where(np.isfinite(f), f, np.inf), kind="stable")
            kept = np.zeros(n_prob, dtype=bool)
            kept[ranked[:keep]] = True
            stop(~kept[act])  # the rest stop where they are
        if act.size == 0:
            break
        # two-loop recursion, newest pair first; slot order is shared by all problems
        order = [(it - 1 - j) % memory for j in range(min(it, memory))]
        q = ga.copy()
        alphas = np.zeros((memory, act.size))
        for slot in order:
            a_j = rho[slot] * np.einsum("ij,ij->i", s_hist[slot], q)
            alphas[slot] = a_j
            q -= a_j[:, None] * y_hist[slot]
        first = gamma == 0.0
        gnorm = np.sqrt(np.einsum("ij,ij->i", ga, ga))
        gam = np.where(first, 1.0 / np.maximum(gnorm, 1e-300), gamma)
        r = gam[:, None] * q
        for slot in reversed(order):
            b_j = rho[slot] * np.einsum("ij,ij->i", y_hist[slot], r)
            r += s_hist[slot] * (alphas[slot] - b_j)[:, None]
        d = -r
        gd = np.einsum("ij,ij->i", ga, d)
        bad = ~(gd < 0) | ~np.isfinite(gd)
        if bad.any():  # not a descent direction: restart from steepest descent
            d[bad] = -ga[bad] / np.maximum(gnorm[bad], 1e-300)[:, None]
            gd[bad] = np.einsum("ij,ij->i", ga[bad], d[bad])
            rho[:, bad] = 0.0
            gamma[bad] = 0.0

        # backtracking Armijo line search, vectorised over the problems still searching
        t = np.ones(act.size)
        x_new = xa.copy()
        f_new = fa.copy()
        g_new = ga.copy()
        done = np.zeros(act.size, dtype=bool)
        pending = np.arange(act.size)
        for _ in range(max_backtracks):
            xt = xa[pending] + t[pending, None] * d[pending]
            ft, gt = fun(xt, act[pending])
            ok = np.isfinite(ft) & (ft <= fa[pending] + 1e-4 * t[pending] * gd[pending])
            acc = pending[ok]
            x_new[acc], f_new[acc], g_new[acc] = xt[ok], ft[ok], gt[ok]
            done[acc] = True
            pending = pending[~ok]
            if pending.size == 0:
                break
            tp = t[pending]
            fp = ft[~ok]
            denom = 2.0 * (fp - fa[pending] - gd[pending] * tp)
            t_int = -gd[pending] * tp * tp / denom
            t_int = np.where(np.isfinite(t_int), t_int, 0.5 * tp)
            t[pending] = np.clip(t_int, 0.1 * tp, 0.5 * tp)

        iters[act] += 1
        stalled = ~done
        s = x_new - xa
        y = g_new - ga
        sy = np.einsum("ij,ij->i", s, y)
        yy = np.einsum("ij,ij->i", y, y)
        good = done & (yy > 0) & (sy > 1e-12 * np.sqrt(np.einsum("ij,ij->i", s, s) * yy))
        slot = it % memory
        s_hist[slot] = np.where(good[:, None], s, 0.0)
        y_hist[slot] = np.where(good[:, None], y, 0.0)
        rho[slot] = np.where(good, 1.0 / sy, 0.0)
        gamma[good] = sy[good] / yy[good]

        f_old = fa
        xa, fa, ga = x_new, f_new, g_new
        small_g = np.abs(g_new).max(axis=1) <= gtol
        scale = np.maximum(np.maximum(np.abs(f_old), np.abs(f_new)), 1e-300)
        small_f = done & ((f_old - f_new) <= ftol * scale)
        ring = it % stall_window
        crawl = (
            (stall_tol > 0)
            & (it >= stall_window)
            & ((f_past[:, ring] - f_new) <= stall_tol * scale)
        )
        f_past[:, ring] = f_new
        finished = stalled | small_g | small_f | crawl
        converged[act[finished]] = True
        if finished.any():
            stop(finished)

    x[act], f[act], g[act] = xa, fa, ga
    return BatchResult(x=x, f=f, iterations=iters, converged=converged)
