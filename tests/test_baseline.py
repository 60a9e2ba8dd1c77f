"""The point-fit baseline: Huber loss, recovery of known laws, bootstrap intervals."""

import numpy as np
import pandas as pd
import pytest
from conftest import named_rng, within_sd

from forecast.questions.baseline import DELTA, fit_baseline, huber
from forecast.runs import runs_from_frame


def test_huber_is_quadratic_inside_delta_and_linear_outside():
    r = np.array([0.0, 5e-4, -1e-3, 2e-3, -0.5])
    expected = [0.0, 0.5 * 5e-4**2, 0.5 * 1e-6, 1e-3 * (2e-3 - 5e-4), 1e-3 * (0.5 - 5e-4)]
    np.testing.assert_allclose(huber(r, 1e-3), expected, rtol=1e-12)
    # continuous at the threshold, from both sides
    assert huber(np.array([DELTA * (1 - 1e-9)]))[0] == pytest.approx(huber(np.array([DELTA]))[0])


def power_runs(noise, n=40, seed="baseline-power"):
    rng = named_rng(seed)
    truth = {"E": 1.8, "A": 1.2 * 1e19**0.3, "alpha": 0.3}
    flops = np.sort(10 ** rng.uniform(17, 21, n))
    loss = (truth["E"] + truth["A"] * flops ** -truth["alpha"]) * np.exp(rng.normal(0, noise, n))
    return runs_from_frame(pd.DataFrame({"flops": flops, "loss": loss})), truth


def test_power_law_recovered_exactly_without_noise():
    runs, truth = power_runs(noise=0.0)
    fit = fit_baseline(runs, "power", n_boot=0)
    for name, value in truth.items():
        assert fit.raw[name] == pytest.approx(value, rel=1e-4), name
    assert fit.objective < 1e-10
    np.testing.assert_allclose(fit.predict(runs), runs.y, rtol=1e-6)


def test_chinchilla_recovered_on_a_grid_without_noise():
    truth = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    N, D = np.meshgrid(np.logspace(7, 9.5, 7), np.logspace(9, 11.5, 6))
    N, D = N.ravel(), D.ravel()
    loss = truth["E"] + truth["A"] * N ** -truth["alpha"] + truth["B"] * D ** -truth["beta"]
    runs = runs_from_frame(pd.DataFrame({"params": N, "tokens": D, "loss": loss}),
                           law="chinchilla")
    fit = fit_baseline(runs, "chinchilla", n_boot=0)
    for name, value in truth.items():
        assert fit.raw[name] == pytest.approx(value, rel=1e-3), name


def test_bootstrap_intervals_cover_truth_and_are_reproducible():
    runs, truth = power_runs(noise=0.02)
    fit = fit_baseline(runs, "power", n_boot=60, seed=4)
    assert fit.boot["alpha"].shape == (60,)
    lo, hi = np.quantile(fit.boot["alpha"], [0.025, 0.975])
    assert within_sd(truth["alpha"], draws=fit.boot["alpha"])
    assert hi - lo > 0.005  # a bootstrap that refits the same runs would give zero width
    again = fit_baseline(runs, "power", n_boot=60, seed=4)
    np.testing.assert_array_equal(fit.boot["alpha"], again.boot["alpha"])
    # draws are bootstrap curves, one row per resample; noise needs an explicit generator
    assert fit.draws(runs).shape == (60, len(runs))
    with pytest.raises(ValueError, match="rng"):
        fit.draws(runs, noise=True)
    noisy = fit.draws(runs, rng=np.random.default_rng(0), noise=True)
    assert np.std(np.log(noisy / fit.draws(runs))) == pytest.approx(np.std(fit.residuals),
                                                                    rel=0.2)


def test_logistic_keeps_its_fixed_floor():
    rng = named_rng("baseline-logistic")
    flops = np.logspace(17, 21, 30)
    acc = 1 / (1 + (flops / 1e19) ** -0.8) + rng.normal(0, 0.01, 30)
    runs = runs_from_frame(pd.DataFrame({"flops": flops, "acc": np.clip(acc, 0, 1)}),
                           y="acc", law="logistic")
    fit = fit_baseline(runs, "logistic", n_boot=0)
    assert fit.raw["floor"] == 0.0
    assert fit.raw["s"] == pytest.approx(0.8, rel=0.1)
    assert fit.raw["C50"] == pytest.approx(1e19, rel=0.2)
