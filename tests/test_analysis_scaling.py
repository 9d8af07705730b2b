"""Scaling-law forms and fits: known laws recovered, published Chinchilla values, refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from stepstone.analysis import ScalingForm, fit_scaling_law, register_form
from stepstone.analysis.scaling import FORMS, ChinchillaLaw, ComputeLaw, FitData, get_form
from stepstone.errors import AnalysisError

CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
# a scan of one pair of exponents in the usual basin keeps the tests cheap; the full scan is
# tested too
SMALL_GRID = {"alpha": (0.5,), "beta": (0.5,)}


def chinchilla_loss(n: np.ndarray, d: np.ndarray, p: dict[str, float] = CHINCHILLA) -> np.ndarray:
    return p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"]


def ladder() -> tuple[np.ndarray, np.ndarray]:
    n = np.repeat(np.logspace(7.5, 10.0, 6), 5)
    d = np.tile(np.logspace(9.5, 11.5, 5), 6)
    return n, d


def test_chinchilla_published_values_round_trip_with_full_scan() -> None:
    n, d = ladder()
    fit = fit_scaling_law(
        "chinchilla", n=n, d=d, loss=chinchilla_loss(n, d), n_bootstrap=0, holdout=0
    )
    assert fit.n_starts == 80 * 80  # α and β each ±0.01 to ±64, 40 values a sign
    for name, value in CHINCHILLA.items():
        assert fit.values[name] == pytest.approx(value, rel=1e-6)
    assert max(abs(r) for r in fit.residuals) < 1e-9


def test_chinchilla_noisy_truth_inside_bootstrap_intervals() -> None:
    rng = np.random.default_rng(7)
    n = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), 120))
    d = np.exp(rng.uniform(np.log(5e9), np.log(5e11), 120))
    loss = chinchilla_loss(n, d) * np.exp(rng.normal(0.0, 0.01, n.size))
    fit = fit_scaling_law(
        ChinchillaLaw(grid=SMALL_GRID), n=n, d=d, loss=loss, n_bootstrap=300, seed=1, holdout=0
    )
    for name, value in CHINCHILLA.items():
        p = fit.param(name)
        assert p.ci_low <= value <= p.ci_high, (name, p)
        assert p.ci_low <= p.value <= p.ci_high
    assert fit.n_bootstrap_failed == 0
    assert fit.bootstrap_start == "full-data optimum"


def test_compute_law_noise_free_exact() -> None:
    c = np.logspace(18, 22, 12)
    fit = fit_scaling_law("compute", compute=c, loss=1.8 + 300.0 * c**-0.08, n_bootstrap=50)
    assert fit.values == pytest.approx({"E": 1.8, "A": 300.0, "alpha": 0.08}, rel=1e-7)
    assert fit.holdout is not None
    assert fit.holdout.n_held_out == 2
    assert fit.holdout.max_abs_relative_error < 1e-9
    assert fit.irreducible_loss == pytest.approx(1.8)


def test_holdout_refit_alongside_the_bootstrap_is_the_full_fit_of_the_runs_it_keeps() -> None:
    """The hold-out refit runs beside the full fit and its bootstrap (another thread): it is
    the full procedure, grid included, on the smaller-compute runs, and the bootstrap comes
    out as without it."""
    rng = np.random.default_rng(5)
    n = np.exp(rng.uniform(np.log(7e7), np.log(1.6e10), 60))
    d = np.exp(rng.uniform(np.log(5e9), np.log(5e11), 60))
    loss = chinchilla_loss(n, d) * np.exp(rng.normal(0.0, 0.01, n.size))
    law = ChinchillaLaw(grid=SMALL_GRID)
    fit = fit_scaling_law(law, n=n, d=d, loss=loss, n_bootstrap=100, seed=2)
    alone = fit_scaling_law(law, n=n, d=d, loss=loss, n_bootstrap=100, seed=2, holdout=0)
    np.testing.assert_array_equal(fit.samples, alone.samples)
    assert fit.values == alone.values
    assert fit.holdout is not None and fit.holdout.n_held_out == 12
    keep = np.argsort(6.0 * n * d, kind="stable")[:48]
    sub = law.fit(FitData(loss=loss[keep], n=n[keep], d=d[keep]))
    held = np.setdiff1d(np.arange(60), keep)
    predicted = law.predict(sub.params[0], FitData(loss=loss[held], n=n[held], d=d[held]))
    assert sorted(fit.holdout.predicted) == sorted(float(v) for v in predicted)


def test_compute_law_noisy_within_interval() -> None:
    rng = np.random.default_rng(3)
    c = np.logspace(18, 22, 16)
    loss = (1.8 + 300.0 * c**-0.08) * np.exp(rng.normal(0, 0.004, c.size))
    fit = fit_scaling_law("compute", compute=c, loss=loss, n_bootstrap=400, seed=0)
    for name, value in {"E": 1.8, "A": 300.0, "alpha": 0.08}.items():
        p = fit.param(name)
        assert p.ci_low <= value <= p.ci_high, p
    assert fit.holdout is not None and fit.holdout.max_abs_relative_error < 0.02


def test_power_law_closed_form_and_ci() -> None:
    c = np.logspace(17, 21, 9)
    fit = fit_scaling_law("power", compute=c, loss=3.0 * c**-0.05, n_bootstrap=100)
    assert fit.values == pytest.approx({"a": 3.0, "b": -0.05})
    assert fit.irreducible_loss is None
    assert fit.compute_for_loss(3.0 * 1e19**-0.05) == pytest.approx(1e19, rel=1e-9)
    rng = np.random.default_rng(0)
    noisy = 3.0 * c**-0.05 * np.exp(rng.normal(0, 0.01, c.size))
    fit = fit_scaling_law("power", compute=c, loss=noisy, n_bootstrap=500)
    b = fit.param("b")
    assert b.ci_low <= -0.05 <= b.ci_high


def test_predict_and_compute_for_loss_invert() -> None:
    c = np.logspace(18, 22, 10)
    fit = fit_scaling_law("compute", compute=c, loss=2.0 + 50.0 * c**-0.06, n_bootstrap=0)
    target = float(fit.predict(3e20)[0])
    assert fit.compute_for_loss(target) == pytest.approx(3e20, rel=1e-8)
    with pytest.raises(AnalysisError, match="irreducible loss"):
        fit.compute_for_loss(1.99)
    with pytest.raises(AnalysisError, match="bootstrap"):
        fit.predict_interval(1e21)


def test_chinchilla_compute_optimal_matches_closed_form_and_numeric_minimum() -> None:
    n, d = ladder()
    fit = fit_scaling_law(
        ChinchillaLaw(grid=SMALL_GRID),
        n=n,
        d=d,
        loss=chinchilla_loss(n, d),
        n_bootstrap=20,
        holdout=0,
    )
    budget = 5.76e23  # Gopher's compute
    opt = fit.compute_optimal(budget)
    # Hoffmann et al. Table 2, Approach 3: N_opt ∝ C^0.46, D_opt ∝ C^0.54
    a = CHINCHILLA["beta"] / (CHINCHILLA["alpha"] + CHINCHILLA["beta"])
    assert a == pytest.approx(0.46, abs=0.01)
    opt10 = fit.compute_optimal(budget * 10)
    assert math.log10(opt10.n / opt.n) == pytest.approx(a, rel=1e-6)
    assert opt.n * opt.d * 6 == pytest.approx(budget, rel=1e-9)
    # numeric check: no other split of the budget gives a lower loss
    grid_n = opt.n * np.logspace(-1, 1, 401)
    losses = chinchilla_loss(grid_n, budget / (6 * grid_n))
    assert losses.min() >= opt.loss - 1e-12
    assert grid_n[np.argmin(losses)] == pytest.approx(opt.n, rel=0.02)
    assert float(fit.predict(n=opt.n, d=opt.d)[0]) == pytest.approx(opt.loss)
    on_grid = fit.predict(n=[1e8, 1e9], d=2e10)  # d broadcasts against n
    assert on_grid == pytest.approx(chinchilla_loss(np.array([1e8, 1e9]), np.array([2e10] * 2)))
    low, high = fit.predict_interval(n=[1e9], d=[2e10])
    assert low[0] <= fit.predict(n=1e9, d=2e10)[0] <= high[0]
    assert float(fit.predict(budget)[0]) == pytest.approx(opt.loss)
    # frontier inverse
    assert fit.compute_for_loss(opt.loss) == pytest.approx(budget, rel=1e-8)


def test_compute_optimal_needs_nd_law() -> None:
    c = np.logspace(18, 22, 8)
    fit = fit_scaling_law("compute", compute=c, loss=2 + 50 * c**-0.06, n_bootstrap=0)
    with pytest.raises(AnalysisError, match="chinchilla"):
        fit.compute_optimal(1e21)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param(
            {"compute": [1e18, 1e19], "loss": [3.0, 2.5]},
            "at least 3 runs",
            id="fewer-points-than-params",
        ),
        pytest.param(
            {"compute": [1e18, 1e19, 1e20], "loss": [3.0, 0.0, 2.0]}, "positive", id="zero-loss"
        ),
        pytest.param(
            {"compute": [1e18, -1e19, 1e20], "loss": [3.0, 2.5, 2.0]},
            "positive",
            id="negative-compute",
        ),
        pytest.param(
            {"compute": [1e18, 1e19, 1e20], "loss": [3.0, float("nan"), 2.0]},
            "non-finite",
            id="nan-loss",
        ),
        pytest.param(
            {"compute": [1e19] * 4, "loss": [3.0, 2.9, 2.8, 2.7]}, "same compute", id="one-size"
        ),
        pytest.param(
            {"compute": [1e18, 1e19, 1e20], "loss": [3.0, 2.0]}, "one per run", id="length-mismatch"
        ),
        pytest.param({"loss": [3.0, 2.5, 2.0]}, "compute=", id="no-compute"),
    ],
)
def test_compute_law_refusals(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        fit_scaling_law("compute", n_bootstrap=0, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("n", "d", "message"),
    [
        pytest.param([1e8] * 6, [1e9, 2e9, 3e9, 4e9, 5e9, 6e9], "same model size N", id="one-N"),
        pytest.param([1e8, 2e8, 3e8, 4e8, 5e8, 6e8], [1e9] * 6, "same token count D", id="one-D"),
        pytest.param([1e8, 2e8, 3e8, 4e8], [1e9, 2e9, 3e9, 4e9], "at least 5 runs", id="4-runs"),
    ],
)
def test_chinchilla_refusals(n: list[float], d: list[float], message: str) -> None:
    loss = chinchilla_loss(np.array(n), np.array(d))
    with pytest.raises(AnalysisError, match=message):
        fit_scaling_law("chinchilla", n=n, d=d, loss=loss, n_bootstrap=0)


def test_unknown_form_and_bad_holdout() -> None:
    with pytest.raises(AnalysisError, match="Unknown scaling-law form"):
        fit_scaling_law("nope", compute=[1, 2, 3], loss=[3, 2, 1])
    c = np.logspace(18, 22, 5)
    with pytest.raises(AnalysisError, match="hold out fewer"):
        fit_scaling_law("compute", compute=c, loss=2 + 50 * c**-0.06, holdout=3, n_bootstrap=0)
    c = c[:4]
    fit = fit_scaling_law("compute", compute=c, loss=2 + 50 * c**-0.06, n_bootstrap=0)
    assert fit.holdout is None and "skipped" in fit.holdout_note


def test_fit_to_dict_is_json_and_records_flops_method() -> None:
    c = np.logspace(18, 22, 8)
    fit = fit_scaling_law(
        "compute", compute=c, loss=2 + 50 * c**-0.06, n_bootstrap=30, flops_method="6ND"
    )
    out = fit.to_dict()
    text = json.dumps(out, allow_nan=False)
    assert "samples" not in out and "form_impl" not in out
    assert out["flops_method"] == "6ND"
    assert [p["name"] for p in out["params"]] == ["E", "A", "alpha"]
    assert json.loads(text)["form"] == "compute"
    with pytest.raises(AnalysisError, match="no parameter"):
        fit.param("beta")


def test_register_form_extends_the_interface() -> None:
    class Shifted(ComputeLaw):
        name = "shifted-test"

    try:
        register_form(Shifted)
        assert isinstance(get_form("shifted-test"), ScalingForm)
        c = np.logspace(18, 21, 6)
        fit = fit_scaling_law("shifted-test", compute=c, loss=2 + 9 * c**-0.05, n_bootstrap=0)
        assert fit.form == "shifted-test"
    finally:
        FORMS.pop("shifted-test", None)


def test_fitdata_subset() -> None:
    data = FitData(loss=np.array([3.0, 2.0, 1.0]), compute=np.array([1.0, 2.0, 3.0]))
    sub = data.subset(np.array([2, 0]))
    assert sub.size == 2 and sub.compute is not None and sub.compute.tolist() == [3.0, 1.0]


def huber(r: np.ndarray, delta: float) -> np.ndarray:
    """Huber's loss by its textbook definition: r²/2 inside ±δ, δ(|r| - δ/2) outside."""
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def test_chinchilla_objective_is_the_summed_huber_loss_with_delta_1e_3() -> None:
    """Approach 3 as the issue pins it: δ = 1e-3 on log L, the losses summed (not averaged)."""
    rng = np.random.default_rng(3)
    n, d = ladder()
    # noise of 0.3%: some residuals inside ±δ (quadratic), most outside (linear)
    loss = chinchilla_loss(n, d) * np.exp(rng.normal(0.0, 0.003, n.size))
    law = ChinchillaLaw(grid=SMALL_GRID)
    assert law.huber_delta == 1e-3
    fit = fit_scaling_law(law, n=n, d=d, loss=loss, n_bootstrap=0, holdout=0)
    r = np.log(np.asarray(fit.fitted)) - np.log(loss)
    assert (np.abs(r) < 1e-3).any() and (np.abs(r) > 1e-3).any()
    summed = float(huber(r, 1e-3).sum())
    assert fit.objective_value == pytest.approx(summed, rel=1e-6)
    assert fit.objective_value != pytest.approx(summed / n.size, rel=0.5)  # not the mean
    assert fit.objective_value != pytest.approx(float(huber(r, 1e-2).sum()), rel=0.05)
    assert "sum of Huber(δ=0.001)" in fit.objective


def epoch_chinchilla() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chinchilla's runs as Epoch AI extracted them from the paper's Figure 4 (Besiroglu et al.
    2024, github.com/epoch-research/analyzing-chinchilla, data/svg_extracted_data.csv), with
    D = C / (6N), less the five of highest loss, as Epoch's refit drops them: 240 runs."""
    path = Path(__file__).parent / "data" / "chinchilla_epoch.csv"
    n, c, loss = np.loadtxt(path, delimiter=",", skiprows=1, unpack=True)
    keep = loss < np.sort(loss)[-5]
    return n[keep], c[keep] / (6.0 * n[keep]), loss[keep]


def test_epochs_refit_of_chinchilla_comes_out_at_its_published_optimum() -> None:
    """The scan of the exponents, searched from the best start of each of its 64 regions,
    finds the optimum that every one of Hoffmann et al.'s 4,500 grid starts run to
    convergence by L-BFGS finds on these data."""
    n, d, loss = epoch_chinchilla()
    assert n.size == 240
    fit = fit_scaling_law("chinchilla", n=n, d=d, loss=loss, n_bootstrap=0, holdout=0)
    assert fit.n_starts == 6400
    assert fit.values == pytest.approx(
        {"E": 1.817, "A": 477.8, "B": 2143.0, "alpha": 0.3473, "beta": 0.3672}, abs=0, rel=5e-4)


def test_projected_start_at_the_true_exponents_is_the_true_law() -> None:
    """Given α and β the law is linear in E, A and B: at the true exponents the scan's start
    is the law itself (noise-free data), and where a coefficient would come out negative the
    best law without that term is taken, the term left vanishing."""
    n, d = ladder()
    law = ChinchillaLaw(grid={"alpha": (0.34,), "beta": (0.28,)})
    data = FitData(loss=chinchilla_loss(n, d), n=n, d=d)
    logx = law._logx(data)
    centre = logx.mean(axis=1)
    start = law._projected_starts(logx - centre[:, None], data.loss)
    truth = law._to_internal(np.array([[1.69, 406.4, 410.7, 0.34, 0.28]]), centre)
    np.testing.assert_allclose(start, truth, rtol=1e-9)
    # a law with no irreducible loss scanned at a smaller α: the unconstrained E is negative
    no_e = FitData(loss=406.4 / n**0.34 + 410.7 / d**0.28, n=n, d=d)
    low = ChinchillaLaw(grid={"alpha": (0.25,), "beta": (0.28,)})
    start = low._projected_starts(logx - centre[:, None], no_e.loss)
    assert np.exp(start[0, 0]) == pytest.approx(1e-6 * no_e.loss.mean())
    assert np.all(np.exp(start[0, 1:3]) > 1e-3)


def test_each_region_of_the_scan_gives_its_best_start() -> None:
    from stepstone.analysis.scaling import _regions

    f = np.arange(64.0)[::-1].reshape(8, 8)  # 4 regions of 4 x 4, each best at its far corner
    f[:4, :4] = np.inf  # no finite start: the region gives none
    assert sorted(_regions(f.ravel(), (8, 8), 4)) == [3 * 8 + 7, 7 * 8 + 3, 7 * 8 + 7]
    assert _regions(f.ravel(), (8, 8), 64).size == 64 - 16  # one a cell


def test_chinchilla_grid_sets_the_exponents_scanned_only() -> None:
    assert ChinchillaLaw(grid={"alpha": (0.3, 0.5)}).exponent_axes()[0].tolist() == [0.3, 0.5]
    with pytest.raises(AnalysisError, match="'alpha' and 'beta'"):
        ChinchillaLaw(grid={"e": (0.0,)})


@pytest.mark.parametrize("weighted", [False, True], ids=["plain", "resampled"])
@pytest.mark.parametrize("form", [ChinchillaLaw(), ComputeLaw()], ids=["chinchilla", "compute"])
def test_gradient_and_hessian_match_finite_differences(form: ScalingForm, weighted: bool) -> None:
    """The Newton searches use the analytic gradient and Hessian of the summed Huber loss:
    central differences agree, with residuals on both sides of ±δ."""
    from stepstone.analysis.scaling import _Design

    rng = np.random.default_rng(4)
    n, d = ladder()
    loss = chinchilla_loss(n, d) * np.exp(rng.normal(0.0, 0.01, n.size))
    data = FitData(loss=loss, n=n, d=d, compute=6 * n * d)
    logx = form._logx(data)  # type: ignore[attr-defined]
    design = _Design.of(logx - logx.mean(axis=1, keepdims=True))
    centre = logx.mean(axis=1)
    best = form.fit(data).params  # near it, residuals on both sides of ±δ
    x = form._to_internal(best, centre) + rng.normal(0.0, 1e-3, (2, form.n_params))  # type: ignore[attr-defined]
    weights = rng.poisson(1.0, (2, n.size)).astype(float) if weighted else None
    idx = np.arange(2)

    def fun(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return form._evaluate(z, idx, design, np.log(loss), weights)  # type: ignore[attr-defined]

    f, g, h = fun(x)
    r = np.log(form.predict(form._to_natural(x, centre), data)) - np.log(loss)  # type: ignore[attr-defined]
    assert (np.abs(r) < 1e-3).any() and (np.abs(r) > 1e-3).any()
    eye = 1e-6 * np.eye(x.shape[1])
    g_num = np.stack([(fun(x + e)[0] - fun(x - e)[0]) / 2e-6 for e in eye], axis=1)
    h_num = np.stack([(fun(x + e)[1] - fun(x - e)[1]) / 2e-6 for e in eye], axis=1)
    np.testing.assert_allclose(g, g_num, rtol=1e-6, atol=1e-9 * np.abs(g).max())
    np.testing.assert_allclose(h, h_num, rtol=1e-5, atol=1e-7 * np.abs(h).max())
    only_f = form._evaluate(x, idx, design, np.log(loss), weights, False)[0]  # type: ignore[attr-defined]
    assert np.array_equal(f, only_f)
