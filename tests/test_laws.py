"""The laws against hand-written closed forms, limits, and the raw/scaled conversion."""

import numpy as np
import pytensor.tensor as pt
import pytest

from forecast.laws import LAWS, compute_optimal, get_law, predict, to_raw


def test_power_closed_form():
    C = np.logspace(18, 22, 7)
    raw = {"E": 1.7, "A": 400.0, "alpha": 0.3}
    np.testing.assert_allclose(predict(LAWS["power"], raw, C=C), 1.7 + 400.0 * C**-0.3,
                               rtol=1e-12)


def test_pure_is_a_line_in_log_log():
    C = np.logspace(15, 25, 11)
    y = predict(LAWS["pure"], {"A": 50.0, "alpha": 0.2}, C=C)
    slope = np.diff(np.log(y)) / np.diff(np.log(C))
    np.testing.assert_allclose(slope, -0.2, rtol=1e-12)


def test_chinchilla_closed_form_hoffmann():
    N, D = np.array([1e8, 7e10]), np.array([2e9, 1.4e12])
    raw = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    want = 1.69 + 406.4 * N**-0.34 + 410.7 * D**-0.28
    np.testing.assert_allclose(predict(LAWS["chinchilla"], raw, N=N, D=D), want, rtol=1e-12)


def test_broken_matches_caballero_formula_and_limits():
    C = np.logspace(16, 24, 9)
    raw = {"E": 0.5, "A": 1e3, "alpha": 0.1, "delta": 0.3, "Cb": 1e20, "f": 0.4}
    want = 0.5 + 1e3 * C**-0.1 * (1 + (C / 1e20) ** (1 / 0.4)) ** (-0.3 * 0.4)
    np.testing.assert_allclose(predict(LAWS["broken"], raw, C=C), want, rtol=1e-10)
    # far below the break the slope of L - E is -alpha, far above it -(alpha + delta)
    far = np.array([1e10, 1e11, 1e29, 1e30])
    red = predict(LAWS["broken"], raw, C=far) - 0.5
    s_lo = np.log(red[1] / red[0]) / np.log(10)
    s_hi = np.log(red[3] / red[2]) / np.log(10)
    assert s_lo == pytest.approx(-0.1, abs=1e-3)
    assert s_hi == pytest.approx(-0.4, abs=1e-3)


def test_broken_with_no_change_of_slope_is_power():
    C = np.logspace(16, 24, 9)
    raw = {"E": 0.5, "A": 1e3, "alpha": 0.1, "delta": 0.0, "Cb": 1e20, "f": 0.4}
    np.testing.assert_allclose(predict(LAWS["broken"], raw, C=C),
                               predict(LAWS["power"], raw, C=C), rtol=1e-12)


def test_logistic_floor_midpoint_and_ceiling():
    raw = {"floor": 0.25, "s": 2.0, "C50": 1e21}
    y = predict(LAWS["logistic"], raw, C=np.array([1e10, 1e21, 1e32]))
    np.testing.assert_allclose(y, [0.25, 0.625, 1.0], atol=1e-9)


def test_cloglog_floor_midpoint_ceiling_and_its_skew():
    raw = {"floor": 0.25, "s": 2.0, "C50": 1e21}
    y = predict(LAWS["cloglog"], raw, C=np.array([1e10, 1e21, 1e32]))
    np.testing.assert_allclose(y, [0.25, 0.625, 1.0], atol=1e-9)
    # closed form: above the floor, 1 - 2^-(C/C50)^s; at C50 e^(1/s) it is 1 - 2^-e
    y = predict(LAWS["cloglog"], {**raw, "floor": 0.0}, C=np.array([1e21 * np.e ** 0.5]))
    np.testing.assert_allclose(y, 1 - 2.0 ** -np.e, rtol=1e-12)
    # the same midpoint and slope as the logistic, but skewed: lower far below C50, higher above
    low, high = np.array([1e19]), np.array([1e22])
    for c, sign in ((low, -1), (high, 1)):
        diff = predict(LAWS["cloglog"], raw, C=c) - predict(LAWS["logistic"], raw, C=c)
        assert sign * diff[0] > 0


def test_cloglog_crossing_inverts_the_law():
    from forecast.laws.compose import cloglog_crossing

    raw = {"floor": 0.1, "s": 1.3, "C50": 1e22}
    levels = np.array([0.2, 0.55, 0.9, 0.999])
    c = 10 ** cloglog_crossing(raw["floor"], raw["s"], raw["C50"], levels)
    np.testing.assert_allclose(predict(LAWS["cloglog"], raw, C=c), levels, rtol=1e-10)
    assert np.isneginf(cloglog_crossing(0.1, 1.3, 1e22, np.array([0.05])))[0]
    assert np.isposinf(cloglog_crossing(0.1, 1.3, 1e22, np.array([1.0])))[0]


@pytest.mark.parametrize("name", list(LAWS))
def test_numpy_and_pytensor_agree(name):
    law = get_law(name)
    theta = {"E": 0.3, "A": 0.7, "B": 0.4, "alpha": 0.35, "beta": 0.25, "delta": 0.2,
             "log_xb": 0.5, "f": 0.7, "floor": 0.1, "s": 1.3, "log_x50": -0.4}
    X = {k: np.array([0.01, 0.5, 1.0, 3.0, 80.0]) * (1.3 if k == "D" else 1.0)
         for k in law.covariates}
    got = law.mean(pt, {k: pt.as_tensor_variable(v) for k, v in X.items()}, theta).eval()
    np.testing.assert_allclose(got, law.mean(np, X, theta), rtol=1e-12)


@pytest.mark.parametrize("name", ["power", "pure", "chinchilla", "broken", "logistic",
                                  "cloglog"])
def test_to_raw_gives_the_same_curve_in_raw_units(name):
    law = get_law(name)
    refs = {"y": 2.7, "C": 3e19, "N": 4e8, "D": 9e9}
    theta = {"E": 0.6, "A": 0.4, "B": 0.3, "alpha": 0.3, "beta": 0.25, "delta": 0.15,
             "log_xb": 0.8, "f": 0.6, "floor": 0.2, "s": 1.1, "log_x50": 0.3}
    cov = {"C": np.logspace(18, 21, 5), "N": np.logspace(7, 10, 5), "D": np.logspace(9, 11, 5)}
    scaled = law.mean(np, {k: cov[k] / refs[k] for k in law.covariates}, theta)
    scaled = scaled * (refs["y"] if law.metric == "positive" else 1.0)
    raw = to_raw(law, theta, refs)
    assert set(raw) == set(law.params)
    np.testing.assert_allclose(predict(law, raw, **{k: cov[k] for k in law.covariates}), scaled,
                               rtol=1e-10)


def test_compute_optimal_satisfies_the_optimality_conditions():
    truth = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    raw = {k: np.array([[v]]) for k, v in truth.items()}
    C = np.logspace(20, 26, 7)
    N, D = compute_optimal(raw, C[None, :])
    np.testing.assert_allclose(6 * N * D, C[None, :], rtol=1e-12)
    a, b = truth["alpha"], truth["beta"]
    # Lagrange: alpha A N^-alpha = beta B D^-beta at the optimum
    np.testing.assert_allclose(a * truth["A"] * N ** -a, b * truth["B"] * D ** -b, rtol=1e-10)
    law = get_law("chinchilla")
    best = predict(law, truth, N=N[0], D=D[0])
    for f in (0.8, 1.25):
        assert np.all(best < predict(law, truth, N=N[0] * f, D=D[0] / f))
