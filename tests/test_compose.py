"""The math layer: links, compositions, crossings, quantiles vs closed forms and Monte Carlo."""

import math

import numpy as np
import pytest
from scipy import stats

from forecast.laws.compose import (
    GUMBEL_WIDTH,
    Composition,
    at_least,
    at_least_steps,
    beta_moment,
    gumbel_shift_decades,
    gumbel_width_decades,
    heterogeneous,
    logistic_crossing,
    power_crossing,
    quantiles,
    root_crossing,
)
from forecast.laws.links import exp_link, exp_link_inverse, weibull_link, weibull_link_inverse


def power_draws(rng, n=500, E=0.07):
    alpha = rng.uniform(0.1, 0.6, n)
    A = rng.uniform(0.5, 3.0, n) * 10.0 ** (19 * alpha)
    return np.full(n, E) * rng.uniform(0.5, 1.5, n), A, alpha


def test_links_invert():
    loss = np.array([0.01, 0.3, 1.7, 5.0])
    np.testing.assert_allclose(exp_link_inverse(exp_link(loss)), loss, rtol=1e-12)
    kw = {"floor": 0.1, "s": 1.5, "L0": 0.8}
    acc = weibull_link(loss, **kw)
    assert np.all(np.diff(acc) < 0) and np.all((acc > 0.1) & (acc < 1))
    np.testing.assert_allclose(weibull_link_inverse(acc, **kw), loss, rtol=1e-9)
    assert weibull_link(0.8, **kw) == pytest.approx(0.1 + 0.9 / math.e)
    assert weibull_link(0.4, **kw) == pytest.approx(0.1 + 0.9 * math.exp(-(0.5**1.5)))
    # a loss of 0 is certain success; below the chance floor any loss will do
    assert weibull_link(0.0, **kw) == 1.0 and weibull_link_inverse(1.0, **kw) == 0.0
    assert weibull_link_inverse(0.05, **kw) == np.inf
    # near 0 the error rate is a power of the loss: 1 - p = (1 - floor) (L / L0)^s
    assert 1 - weibull_link(1e-3, **kw) == pytest.approx(0.9 * (1e-3 / 0.8) ** 1.5, rel=1e-4)
    # floor 0, L0 1, shape 1 is the exp link
    np.testing.assert_allclose(weibull_link(loss, floor=0.0, s=1.0, L0=1.0), exp_link(loss))


def test_average_text_loss_caps_success():
    """E = 1.7 nats (Chinchilla's floor) caps exp-link success at 0.18 at any compute."""
    assert exp_link(1.7) == pytest.approx(0.1827, abs=1e-4)
    assert power_crossing(np.array([1.7]), np.array([1e3]), np.array([0.3]),
                          exp_link_inverse(0.5))[0] == np.inf


def test_heterogeneous_is_the_product():
    ps = [np.array([0.9, 0.5]), np.array([0.8, 0.5]), np.array([1.0, 0.5])]
    np.testing.assert_allclose(heterogeneous(ps), [0.72, 0.125])


def test_beta_moment_matches_monte_carlo_and_limits(rng):
    for mean, phi, k in ((0.7, 2.0, 3), (0.9, 10.0, 8), (0.3, 0.5, 5)):
        a, b = mean * phi, (1 - mean) * phi
        p = rng.beta(a, b, 400_000)
        mc = np.mean(p**k)
        se = np.std(p**k) / math.sqrt(p.size)
        assert abs(beta_moment(mean, phi, k) - mc) < 4 * se, (mean, phi, k)
        by_hand = np.prod([(a + j) / (a + b + j) for j in range(k)])
        assert beta_moment(mean, phi, k) == pytest.approx(by_hand, rel=1e-12)
    # correlated steps lift long chains above mean^k; independent ones (phi -> inf) give mean^k
    assert beta_moment(0.8, 5.0, 8) == pytest.approx(1 / 3) and 1 / 3 > 0.8**8 * 1.9
    assert beta_moment(0.8, 1e9, 8) == pytest.approx(0.8**8, rel=1e-6)
    assert beta_moment(0.8, 5.0, 1) == pytest.approx(0.8)


def test_at_least_m_of_k(rng):
    p = np.array([0.3, 0.7, 0.95])
    by_hand = sum(math.comb(5, j) * p**j * (1 - p) ** (5 - j) for j in range(3, 6))
    np.testing.assert_allclose(at_least(p, 5, 3), by_hand, rtol=1e-12)
    np.testing.assert_allclose(at_least(p, 5, 5), p**5, rtol=1e-12)
    np.testing.assert_allclose(at_least(p, 5, 0), 1.0)
    # beta-binomial: at least 3 of 5 when per-item p ~ Beta(mean 0.7, phi 4), by Monte Carlo
    items = rng.beta(0.7 * 4, 0.3 * 4, 200_000)
    right = rng.binomial(5, items)
    assert at_least(0.7, 5, 3, phi=4.0) == pytest.approx(np.mean(right >= 3), abs=0.005)
    # Poisson binomial: equal steps reduce to the binomial, all-of-them to the product
    steps = [np.full(3, 0.8)] * 5
    np.testing.assert_allclose(at_least_steps(steps, 3), at_least(np.full(3, 0.8), 5, 3))
    mixed = [np.array(0.9), np.array(0.5), np.array(0.7)]
    assert at_least_steps(mixed, 3) == pytest.approx(0.9 * 0.5 * 0.7)
    flips = rng.random((200_000, 3)) < np.array([0.9, 0.5, 0.7])
    assert at_least_steps(mixed, 2) == pytest.approx(np.mean(flips.sum(1) >= 2), abs=0.005)


@pytest.mark.parametrize("comp", [Composition(), Composition(phi=3.0),
                                  Composition(allow_errors=1), Composition(2.0, 1)])
def test_step_level_inverts_the_composition(comp):
    for k in (2, 4, 8):
        p_star = comp.step_level(0.5, k)
        assert comp.success(np.array(p_star), k) == pytest.approx(0.5, abs=1e-9)
        assert comp.success(np.array(p_star * 0.99), k) < 0.5


def test_power_closed_form_agrees_with_root_finding(rng):
    E, A, alpha = power_draws(rng)
    for k in (1, 2, 5, 8):
        p_star = 0.5 ** (1 / k)
        closed = power_crossing(E, A, alpha, exp_link_inverse(p_star))

        def success(log10_c, k=k):
            return exp_link(E[:, None] + A[:, None] * (10.0 ** log10_c) ** -alpha[:, None]) ** k

        root = root_crossing(success, 0.5)
        finite = np.isfinite(closed)
        assert finite.sum() > 100 and ((~finite).sum() > 10 or k < 8)
        np.testing.assert_array_equal(np.isposinf(closed), np.isposinf(root))
        # relative 1e-6 on the compute itself
        np.testing.assert_allclose(10 ** (root[finite] - closed[finite]), 1.0, rtol=1e-6, atol=0)


def test_never_is_exactly_where_the_loss_floor_is_too_high():
    E = np.array([0.1, 0.2, 0.3])
    out = power_crossing(E, np.array([10.0] * 3), np.array([0.3] * 3), np.array(0.2))
    assert np.isfinite(out[0]) and np.isposinf(out[1]) and np.isposinf(out[2])


def test_logistic_closed_form_agrees_with_root_finding(rng):
    n = 300
    floor, s, c50 = rng.uniform(0, 0.2, n), rng.uniform(0.3, 2.0, n), 10 ** rng.uniform(19, 24, n)

    def acc(log10_c):
        z = s[:, None] * (np.log(10.0) * log10_c - np.log(c50[:, None]))
        return floor[:, None] + (1 - floor[:, None]) / (1 + np.exp(-z))

    closed = logistic_crossing(floor, s, c50, 0.6)
    np.testing.assert_allclose(10 ** (root_crossing(acc, 0.6) - closed), 1.0, rtol=1e-6)
    assert np.all(np.isneginf(logistic_crossing(np.array([0.3]), s[:1], c50[:1], 0.2)))


def test_root_finding_returns_the_least_crossing():
    """Draw 0 rises above 0.5 near 21 decades, dips, and is 1 from 30 on: the least crossing is
    the first. Draw 1 peaks at 0.4 near 21 and jumps to 1 at 30. Draw 2 never gets there."""
    def success(log10_c):
        bump = np.exp(-((log10_c - 21.0) ** 2))
        late = np.where(log10_c >= 30, 1.0, 0.0)
        return np.maximum(np.array([[1.0], [0.4], [0.4]]) * bump,
                          late * np.array([[1.0], [1.0], [0.0]]))

    out = root_crossing(success, 0.5)
    assert out[0] == pytest.approx(21 - math.sqrt(math.log(2)), abs=1e-9)
    assert out[1] == pytest.approx(30.0, abs=1e-9)
    assert np.isposinf(out[2])


def test_gumbel_width_and_shift_closed_form():
    """E = 0: P_k = exp(-k A C^-alpha); the 10-90% width does not depend on k, the curve moves."""
    alpha, A = np.array([0.25]), np.array([3.0e4])
    width = gumbel_width_decades(0.25)
    assert GUMBEL_WIDTH == pytest.approx(3.0844, abs=1e-4)
    assert width == pytest.approx(3.08 / (0.25 * math.log(10)), rel=2e-3)
    mids = []
    for k in (1, 2, 4, 8):
        at = {lvl: power_crossing(0.0, A, alpha, exp_link_inverse(lvl ** (1 / k)))[0]
              for lvl in (0.1, 0.5, 0.9)}
        assert at[0.9] - at[0.1] == pytest.approx(width, rel=1e-9)
        mids.append(at[0.5])
    np.testing.assert_allclose(np.array(mids) - mids[0],
                               [gumbel_shift_decades(k, 0.25) for k in (1, 2, 4, 8)], rtol=1e-9)


def test_gumbel_width_against_monte_carlo_coin_chains(rng):
    """Flip k coins of success exp(-A C^-alpha) per item, at many computes: the 10%-90% width
    of the empirical all-right rate matches 3.08/(alpha ln 10) for every k."""
    alpha, A = 0.5, 1e9
    grid = np.linspace(14, 24, 501)
    p = np.exp(-A * (10.0**grid) ** -alpha)
    for k in (1, 3, 8):
        right = rng.binomial(20_000, p**k) / 20_000  # items whose k coins all came up right
        lo, hi = (grid[np.argmax(right >= lvl)] for lvl in (0.1, 0.9))
        assert hi - lo == pytest.approx(gumbel_width_decades(alpha), abs=0.06)
        mid = grid[np.argmax(right >= 0.5)]
        assert mid - 18 - gumbel_shift_decades(k, alpha) == pytest.approx(
            math.log10(1 / math.log(2)) / alpha, abs=0.05)


def test_quantiles_survive_never_crossing_draws(rng):
    x = rng.normal(20, 1, 1000)
    np.testing.assert_allclose(list(quantiles(x).values()),
                               np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95]), rtol=1e-12)
    # 30% never: the finite quantiles are the same order statistics as if they were huge, the
    # ones among the never-crossing draws are None
    y = np.concatenate([x[:700], np.full(300, np.inf)])
    huge = np.concatenate([x[:700], np.full(300, 1e9)])
    q = quantiles(y)
    assert q["q95"] is None and q["q75"] is None
    for name, level in (("q05", 0.05), ("q25", 0.25), ("median", 0.5)):
        assert q[name] == pytest.approx(np.quantile(huge, level))
    assert quantiles(np.array([np.inf] * 4))["q05"] is None
    assert quantiles(np.array([1.0, 2.0, 3.0, np.inf]))["median"] == 2.5
    with pytest.raises(ValueError):
        quantiles(np.array([1.0, np.nan]))


def test_weibull_link_crossing_through_the_loss_threshold(rng):
    """P_k >= tau iff L <= L*(tau^(1/k)): the power closed form through the weibull link."""
    E, A, alpha = power_draws(rng, 200, E=0.02)
    floor, s, L0 = 0.1, rng.uniform(0.5, 4, 200), rng.uniform(0.3, 1.0, 200)
    k, tau = 4, 0.5
    level = weibull_link_inverse(tau ** (1 / k), floor=floor, s=s, L0=L0)
    closed = power_crossing(E, A, alpha, level)

    def success(log10_c):
        loss = E[:, None] + A[:, None] * (10.0**log10_c) ** -alpha[:, None]
        return weibull_link(loss, floor=floor, s=s[:, None], L0=L0[:, None]) ** k

    root = root_crossing(success, tau)
    ok = np.isfinite(closed)
    assert ok.sum() > 50
    np.testing.assert_allclose(10 ** (root[ok] - closed[ok]), 1.0, rtol=1e-6)
    assert stats.spearmanr(closed[ok], L0[ok]).statistic < 0  # a higher L0 crosses sooner
