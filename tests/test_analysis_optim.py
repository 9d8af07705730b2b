"""The batched Newton minimiser on problems with known minima."""

from __future__ import annotations

import numpy as np
import pytest

from stepstone.analysis._optim import newton_batch


def rosenbrock(x: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = x[:, 0], x[:, 1]
    f = (1 - a) ** 2 + 100 * (b - a**2) ** 2
    g = np.stack([-2 * (1 - a) - 400 * a * (b - a**2), 200 * (b - a**2)], axis=1)
    h = np.empty((x.shape[0], 2, 2))
    h[:, 0, 0] = 2 - 400 * (b - a**2) + 800 * a**2
    h[:, 0, 1] = h[:, 1, 0] = -400 * a
    h[:, 1, 1] = 200
    return f, g, h


def test_rosenbrock_from_many_starts() -> None:
    starts = np.array([[-1.2, 1.0], [0.0, 0.0], [2.0, 2.0], [-3.0, -3.0], [1.0, 1.0]])
    res = newton_batch(rosenbrock, starts)
    assert res.converged.all()
    np.testing.assert_allclose(res.x, np.ones_like(starts), atol=1e-8)
    assert res.iterations[-1] == 0  # already at the minimum
    assert res.iterations.max() < 40  # Newton's steps, not a gradient method's


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3], ids=["small", "unit", "large"])
def test_ill_conditioned_quadratics_in_one_step(scale: float) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 0.5, (50, 3))
    diag = np.array([1.0, 100.0, 1e4]) * scale

    def quad(x: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = x - centres[idx]
        return 0.5 * (d * d * diag).sum(axis=1), d * diag, np.broadcast_to(np.diag(diag),
                                                                             (len(idx), 3, 3))

    res = newton_batch(quad, np.zeros((50, 3)))
    np.testing.assert_allclose(res.x, centres, atol=1e-10)
    assert res.iterations.max() <= 2  # the step, then the check that nothing is left


def test_a_saddle_is_left_downhill_and_long_steps_are_cut() -> None:
    """f = x⁴/4 - x²/2 + y²/2 has a saddle at 0 (Hessian diag(-1, 1)) and minima at x = ±1:
    the modified step goes downhill from next to the saddle; from far away (x = 50) a step
    longer than ``max_step`` is cut to it."""

    def fun(x: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b = x[:, 0], x[:, 1]
        h = np.zeros((x.shape[0], 2, 2))
        h[:, 0, 0] = 3 * a**2 - 1
        h[:, 1, 1] = 1
        return a**4 / 4 - a**2 / 2 + b**2 / 2, np.stack([a**3 - a, b], axis=1), h

    res = newton_batch(fun, np.array([[1e-3, 0.5], [-1e-3, 0.5], [50.0, 1.0]]))
    np.testing.assert_allclose(res.x, [[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]], atol=1e-9)
    first = newton_batch(fun, np.array([[50.0, 1.0]]), max_iter=1, max_step=2.0)
    assert first.x[0, 0] == pytest.approx(48.0)  # Newton's own step would be 16.7


def test_stall_stops_a_search_that_crawls() -> None:
    """f = 1 + exp(x) has no minimum; its search crawls towards -inf, and the stall rule ends
    it once five steps gain less than 10% (with stall_tol=0 it runs until one step gains less
    than ftol)."""

    def fun(x: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        e = np.exp(x[:, 0])
        return 1 + e, e[:, None], e[:, None, None]

    crawl = newton_batch(fun, np.array([[0.0]]), stall_tol=1e-1, stall_window=5)
    full = newton_batch(fun, np.array([[0.0]]), stall_tol=0.0)
    assert crawl.converged[0] and full.converged[0]
    assert 5 <= crawl.iterations[0] <= 10 < 20 <= full.iterations[0]
