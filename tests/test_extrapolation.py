"""Extrapolation error: the mixture density against closed forms, recovery of kappa, its use."""

import json

import numpy as np
import pytest
from conftest import FIXTURES, named_rng
from scipy.stats import norm
from scipy.stats import t as student_t

from forecast.inference.extrapolation import (
    KAPPA_MAX,
    calibrate,
    decades_beyond,
    estimate_kappa,
    extrapolation_noise,
    mixture_log_density,
)
from forecast.inference.fitting import Fit
from forecast.laws import get_law
from forecast.questions.predictive import model_draws
from forecast.runs import read_runs, runs_from_frame


def test_decades_beyond_is_zero_inside_and_log10_outside():
    np.testing.assert_allclose(decades_beyond(np.array([1e19, 1e20, 1e21, 3e22]), 1e20),
                               [0.0, 0.0, 1.0, np.log10(300.0)])


def test_mixture_with_unit_mixing_is_the_normal_of_summed_variances():
    # w = 1 (nu -> infinity): N(loc, sigma^2 + (kappa d)^2) exactly
    y, loc = np.array([0.10, -0.05, 0.30]), np.full((1, 3), 0.02)
    sigma, nu, d = np.array([[0.04]]), np.array([[1e9]]), np.array([0.0, 0.5, 2.0])
    got = mixture_log_density(y, loc, sigma, nu, d, 0.1, np.ones((1, 3)))
    want = norm.logpdf(y, 0.02, np.sqrt(0.04**2 + (0.1 * d) ** 2))
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_mixture_without_extrapolation_is_the_student_t():
    # 1/w ~ Gamma(nu/2, rate nu/2) makes N(0, sigma^2 w) a t_nu with scale sigma
    rng = named_rng("mixture-t")
    S, nu, sigma = 400_000, 2.5, 0.03
    w = 1.0 / rng.gamma(nu / 2, 2 / nu, size=(S, 1))
    y = np.array([0.0, 0.02, 0.1])
    got = [mixture_log_density(y[i:i + 1], np.zeros((S, 1)), np.full((S, 1), sigma),
                               np.full((S, 1), nu), np.zeros(1), 0.0, w)[0] for i in range(3)]
    np.testing.assert_allclose(got, student_t.logpdf(y, nu, scale=sigma), atol=0.02)


@pytest.mark.parametrize("kappa_true", [0.02, 0.1])
def test_estimate_kappa_recovers_the_simulated_extrapolation_error(kappa_true):
    rng = named_rng(f"kappa-{kappa_true}")
    m, S, sigma, nu = 3000, 200, 0.005, 4.0
    d = rng.uniform(0.0, 1.5, size=m)
    truth = rng.normal(0.7, 0.01, size=m)
    y = truth + kappa_true * d * rng.standard_normal(m) + sigma * rng.standard_t(nu, size=m)
    loc = np.broadcast_to(truth, (S, m))  # a posterior that knows the law exactly
    sig, nus = np.full((S, 1), sigma), np.full((S, 1), nu)
    got = estimate_kappa(y, loc, sig, nus, d, named_rng("kappa-w"))
    assert got == pytest.approx(kappa_true, rel=0.1)


def test_estimate_kappa_is_zero_when_the_law_extrapolates_exactly():
    rng = named_rng("kappa-zero")
    m, S, sigma, nu = 2000, 200, 0.01, 5.0
    d = rng.uniform(0.0, 1.0, size=m)
    truth = rng.normal(0.7, 0.01, size=m)
    y = truth + sigma * rng.standard_t(nu, size=m)
    got = estimate_kappa(y, np.broadcast_to(truth, (S, m)), np.full((S, 1), sigma),
                         np.full((S, 1), nu), d, named_rng("kappa-w0"))
    assert 0.0 <= got < 0.003 and got < KAPPA_MAX


def _fit_with(kappa, flops_max=1e20, n=4000):
    import arviz as az

    post = {"E": np.full((1, n), 1.0), "A": np.full((1, n), 1e3),
            "alpha": np.full((1, n), 0.3), "sigma": np.full((1, n), 1e-6),
            "nu": np.full((1, n), 1e6)}
    idata = az.from_dict(posterior=post)
    idata.attrs["extrapolation"] = json.dumps(
        {"method": "lfo", "kappa_per_decade": kappa, "flops_max": flops_max})
    return Fit(idata, get_law("power"), {"y": 1.0, "C": 1.0}, {}, "loss")


def test_new_runs_widen_by_kappa_per_decade_beyond_the_fitted_compute():
    import pandas as pd

    flops = np.array([1e19, 1e20, 1e21, 1e22, 1e22])
    runs = runs_from_frame(pd.DataFrame({"run_id": list("abcde"), "flops": flops,
                                         "loss": np.ones(5)}))
    mean, pred = model_draws(_fit_with(0.05), runs, named_rng("ext-draws"))
    spread = np.std(np.log(pred / mean), axis=0)
    # inside the fitted compute only the (here negligible) fitted noise; beyond, 0.05 per decade
    np.testing.assert_allclose(spread[:2], 0.0, atol=1e-5)
    np.testing.assert_allclose(spread[2:], [0.05, 0.10, 0.10], rtol=0.05)
    zero = extrapolation_noise({"kappa_per_decade": 0.0}, flops, (10, 5), named_rng("z"))
    assert not zero.any()


def test_calibrate_holds_out_the_largest_runs_and_finds_little_error_on_an_exact_law():
    from forecast.inference.fitting import fit

    runs = read_runs(FIXTURES / "synthetic_power.csv", law="power")
    from forecast.inference.sampling import SamplerSettings

    result = fit(runs, "power", settings=SamplerSettings(draws=200, tune=200, chains=2, seed=3))
    ext = result.summary["extrapolation"]
    assert ext == result.extrapolation
    assert ext["method"] == "lfo" and ext["n_inner_test"] == 5 and ext["n_inner_fit"] == 35
    assert ext["flops_max"] == pytest.approx(runs.flops.max())
    assert ext["inner_cutoff"] < runs.flops.max()
    # the data follow the fitted law exactly (plus noise): far below 1% per decade
    assert ext["kappa_per_decade"] < 0.01


def test_calibrate_skips_accuracy_laws_and_tiny_tables():
    import pandas as pd

    frame = pd.DataFrame({"run_id": [f"r{i}" for i in range(8)],
                          "flops": np.logspace(18, 21, 8), "loss": np.linspace(3, 2, 8)})
    runs = runs_from_frame(frame)

    def never(_):
        raise AssertionError("must not refit")

    out = calibrate(runs, get_law("power"), never, 0)
    assert out["method"] == "none" and out["kappa_per_decade"] == 0.0
    assert "too few runs (8)" in out["reason"]
    assert calibrate(runs, get_law("logistic"), never, 0)["method"] == "none"


def test_a_law_that_misses_its_own_largest_runs_gets_a_wide_error_and_a_warning():
    # the harness runs up to 1e11 FLOPs: a plateau, then the phase change in the last 10%
    from forecast.inference.fitting import fit
    from forecast.inference.sampling import SamplerSettings

    runs = read_runs(FIXTURES / "harness_addition.csv", law="power")
    below = runs.subset(runs.flops <= 1e11)
    result = fit(below, "power", settings=SamplerSettings(draws=200, tune=200, chains=2, seed=0))
    assert result.extrapolation["kappa_per_decade"] >= 0.99 * KAPPA_MAX
    assert any("does not extrapolate" in w for w in result.summary["warnings"])


def test_estimate_kappa_finds_the_global_optimum_when_a_few_runs_break_away():
    # the harness case: six held-out runs still on the plateau the refit predicts, three far
    # below it; the density has a local optimum at kappa = 0 and a better one at large kappa
    y = np.log([2.095, 1.612, 2.301, 1.861, 2.389, 2.309, 2.39, 2.309, 2.305])
    d = np.array([0.065, 0.171, 0.087, 0.192, 0.104, 0.209, 0.027, 0.132, 0.24])
    S = 400
    loc = np.full((S, 9), np.log(2.33)) + named_rng("plateau").normal(0, 0.005, (S, 1))
    sigma, nu = np.full((S, 1), 0.0155), np.full((S, 1), 3.9)
    got = estimate_kappa(y, loc, sigma, nu, d, named_rng("kappa-w2"))
    w = 1.0 / named_rng("kappa-w2").gamma(nu / 2, 2 / nu, size=loc.shape)

    def total(k):
        return float(np.sum(mixture_log_density(y, loc, sigma, nu, d, k, w)))

    dense = np.concatenate([[0.0], np.geomspace(1e-5, KAPPA_MAX, 400)])
    assert total(got) >= max(total(k) for k in dense) - 1e-6
    assert got > 0.5


def test_emergence_crossings_carry_the_extrapolation_error_in_closed_form():
    # L = A C^-alpha times exp(kappa (x - xm) z) beyond xm = log10 C_max; the exp link crosses
    # p* = 0.5 where L = ln 2: x = (ln A - ln l - kappa z xm) / (alpha ln 10 - kappa z)
    import arviz as az

    from forecast.questions.emergence import step_success

    n, A, alpha, kappa, xm = 2000, 1e3, 0.3, 0.05, 9.0
    post = {"E": np.zeros((1, n)), "A": np.full((1, n), A), "alpha": np.full((1, n), alpha),
            "sigma": np.full((1, n), 0.01), "nu": np.full((1, n), 5.0)}
    idata = az.from_dict(posterior=post)
    idata.attrs["extrapolation"] = json.dumps(
        {"method": "lfo", "kappa_per_decade": kappa, "flops_max": 10.0**xm})
    fit = Fit(idata, get_law("power"), {"y": 1.0, "C": 1.0}, {}, "step_loss",
              {"flops_range": [1e6, 10.0**xm]})
    steps = step_success(fit, "exp", seed=4)
    assert not steps.closed_form and any("extrapolation error" in n for n in steps.notes)
    z = steps.z[:, 0]
    level = np.log(2.0)
    want = (np.log(A) - np.log(level) - kappa * z * xm) / (alpha * np.log(10) - kappa * z)
    got = steps.crossing(0.5)
    np.testing.assert_allclose(got, want, atol=1e-4)
    # without the error every draw crosses at the law's own crossing, 10.53
    plain = (np.log(A) - np.log(level)) / (alpha * np.log(10))
    assert np.std(got) > 0.05 and abs(np.median(got) - plain) < 0.02
    again = step_success(fit, "exp", seed=4).crossing(0.5)
    np.testing.assert_array_equal(got, again)
