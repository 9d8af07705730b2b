"""The batched L-BFGS minimiser on problems with known minima."""

from __future__ import annotations

import numpy as np
import pytest

from stepstone.analysis._optim import lbfgs_batch


def rosenbrock(x: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = x[:, 0], x[:, 1]
    f = (1 - a) ** 2 + 100 * (b - a**2) ** 2
    g = np.stack([-2 * (1 - a) - 400 * a * (b - a**2), 200 * (b - a**2)], axis=1)
    return f, g


def test_rosenbrock_from_many_starts() -> None:
    starts = np.array([[-1.2, 1.0], [0.0, 0.0], [2.0, 2.0], [-3.0, -3.0], [1.0, 1.0]])
    res = lbfgs_batch(rosenbrock, starts, max_iter=2000)
    assert res.converged.all()
    np.testing.assert_allclose(res.x, np.ones_like(starts), atol=1e-6)
    assert res.iterations[-1] == 0  # already at the minimum


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3], ids=["small", "unit", "large"])
def test_ill_conditioned_quadratics_per_problem(scale: float) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (50, 3))
    diag = np.array([1.0, 100.0, 1e4]) * scale

    def quad(x: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = x - centres[idx]
        return 0.5 * (d * d * diag).sum(axis=1), d * diag

    res = lbfgs_batch(quad, np.zeros((50, 3)))
    np.testing.assert_allclose(res.x, centres, atol=1e-5)


def test_keep_stops_all_but_the_best_starts_after_a_few_steps() -> None:
    centres = np.zeros((1, 2))

    def quad(x: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = x - centres
        scale = np.array([1.0, 1e3])
        return 0.5 * (d * d * scale).sum(axis=1), d * scale

    starts = np.array([[10.0, 10.0], [0.1, 0.1], [5.0, -5.0], [1.0, 1.0]])
    res = lbfgs_batch(quad, starts, keep=2, keep_after=2)
    assert res.converged.tolist() == [False, True, False, True]  # the two nearest went on
    assert res.iterations[[0, 2]].tolist() == [2, 2]
    np.testing.assert_allclose(res.x[[1, 3]], 0.0, atol=1e-6)
