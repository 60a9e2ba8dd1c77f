"""The sampler: NUTS on known densities, and sample() on the PyMC model of a law.

Fast tests run forecast.nuts on Gaussians written in NumPy (known mean and covariance); the
``slow`` ones compile and sample the model of the power law on a few simulated runs.
"""

import numpy as np
import pytest
from conftest import named_rng
from scipy import stats

from forecast.nuts import STATS, nuts_chain

MEAN = np.array([1.0, -2.0, 0.5])
COV = np.array([[1.0, 0.8, 0.1], [0.8, 1.0, 0.2], [0.1, 0.2, 0.25]])  # positive definite
PREC = np.linalg.inv(COV)


def gaussian(x):
    d = x - MEAN
    return -0.5 * d @ PREC @ d, -PREC @ d


def run(seed, B=None, tune=400, draws=1500, logp=gaussian):
    return nuts_chain(logp, np.zeros(3), np.zeros(3), np.eye(3) if B is None else B,
                      tune=tune, draws=draws, rng=np.random.default_rng(seed))


def test_nuts_recovers_a_correlated_gaussian_from_an_identity_metric():
    chains = [run(seed) for seed in range(4)]
    x = np.concatenate([c.draws for c in chains])
    # 6000 draws, ESS in the thousands: the mean within ~4 standard errors, covariance within 10%
    assert np.all(np.abs(x.mean(axis=0) - MEAN) < 4 * np.sqrt(np.diag(COV) / 1500))
    np.testing.assert_allclose(np.cov(x, rowvar=False), COV, atol=0.1)
    assert not any(c.stats["diverging"].any() for c in chains)
    # warmup learnt the correlation: short trajectories after it
    assert np.mean([c.stats["tree_depth"].mean() for c in chains]) < 3.5
    accept = np.mean([c.stats["acceptance_rate"].mean() for c in chains])
    assert 0.8 < accept < 0.98


def test_nuts_stats_have_pymc_names_and_one_value_per_draw():
    res = run(1, tune=50, draws=30)
    assert set(res.stats) == set(STATS)
    assert all(len(v) == 30 for v in res.stats.values())
    assert res.draws.shape == (30, 3)
    # energy and lp agree with the draws: lp is the log density at the kept point
    lp = np.array([gaussian(x)[0] for x in res.draws])
    np.testing.assert_allclose(res.stats["lp"], lp)


def test_nuts_same_seed_same_draws_other_seed_other_draws():
    a, b, c = run(5, tune=50, draws=50), run(5, tune=50, draws=50), run(6, tune=50, draws=50)
    np.testing.assert_array_equal(a.draws, b.draws)
    assert not np.allclose(a.draws, c.draws)


def test_nuts_flags_divergences_at_a_cliff():
    def cliff(x):  # a Gaussian cut off by a wall: trajectories that cross it diverge
        if x[0] > 0.5:
            return -np.inf, np.zeros(3)
        return gaussian(x)

    res = nuts_chain(cliff, np.array([-1.0, -2.0, 0.5]), np.zeros(3), np.eye(3), tune=100,
                     draws=300, rng=np.random.default_rng(0))
    assert res.stats["diverging"].any()
    assert (res.draws[:, 0] <= 0.5).all()


# --- sample() on the PyMC model ----------------------------------------------------------------

QUICK = dict(draws=200, tune=200, chains=2)


def power_model(n, seed, name="power"):
    from forecast.model import build_model, model_data
    from forecast.priors import resolve_priors
    from forecast.runs import runs_from_frame

    rng = named_rng(f"{name}-{seed}")
    import pandas as pd

    flops = np.geomspace(1e17, 1e21, n)
    loss = (1.8 + 1e19 ** 0.3 * flops ** -0.3) * np.exp(0.02 * rng.standard_normal(n))
    runs = runs_from_frame(pd.DataFrame({"flops": flops, "loss": loss}))
    data = model_data(runs, "power")
    return build_model(data, "power", resolve_priors("power")), data


@pytest.mark.slow
def test_sample_groups_stats_and_pointwise_log_likelihood():
    from forecast.sampling import SamplerSettings, sample

    model, data = power_model(12, 0)
    idata = sample(model, SamplerSettings(**QUICK, seed=4))
    for group in ("posterior", "sample_stats", "log_likelihood", "prior", "prior_predictive",
                  "posterior_predictive", "observed_data", "constant_data"):
        assert group in idata.groups(), group
    post = idata.posterior
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 200
    assert idata.sample_stats["diverging"].dtype == bool
    assert idata.prior.sizes["draw"] == 500
    # the log-likelihood is the StudentT density of log(y / y0), draw by draw, run by run
    ll = idata.log_likelihood["obs"]
    assert ll.shape == (2, 200, 12)
    p = {k: post[k].values[..., None] for k in ("E_scaled", "A_scaled", "alpha", "nu", "sigma")}
    mu = np.log(p["E_scaled"] + p["A_scaled"] * data.X["C"] ** -p["alpha"])
    y = np.log(data.y / data.refs["y"])
    expect = stats.t.logpdf(y, df=p["nu"], loc=mu, scale=p["sigma"])
    np.testing.assert_allclose(ll.values, expect, rtol=1e-8, atol=1e-10)
    # the posterior predictive scatters around the data like the fitted noise
    pp = idata.posterior_predictive["obs"].values
    assert pp.shape == (2, 200, 12)
    assert np.all(np.abs(np.median(pp, axis=(0, 1)) - y) < 0.1)
    assert not np.allclose(pp[0, 0], pp[0, 1])
    # recovery: alpha near its true 0.3
    assert 0.2 < float(post["alpha"].median()) < 0.4


@pytest.mark.slow
def test_sample_same_seed_identical_and_cores_do_not_matter():
    from forecast.sampling import SamplerSettings, sample

    model, _ = power_model(10, 1)
    a = sample(model, SamplerSettings(**QUICK, seed=9, cores=1))
    b = sample(model, SamplerSettings(**QUICK, seed=9, cores=2))
    c = sample(model, SamplerSettings(**QUICK, seed=10, cores=2))
    for group in ("posterior", "log_likelihood", "posterior_predictive", "prior"):
        for name, value in a[group].data_vars.items():
            np.testing.assert_array_equal(value.values, b[group][name].values)
    assert not np.allclose(a.posterior["alpha"].values, c.posterior["alpha"].values)


@pytest.mark.slow
def test_a_second_model_of_the_same_structure_compiles_nothing(monkeypatch):
    from forecast import sampling

    sampling.clear_cache()
    first, _ = power_model(10, 2)
    second, _ = power_model(15, 3)  # other runs, other number of runs: same structure
    assert sampling.structure_key(first) == sampling.structure_key(second)
    sampling.sample(first, sampling.SamplerSettings(**QUICK))

    def fail(model):
        raise AssertionError("recompiled")

    monkeypatch.setattr(sampling, "_compile", fail)
    idata = sampling.sample(second, sampling.SamplerSettings(**QUICK))
    assert idata.log_likelihood["obs"].shape == (2, 200, 15)
    assert idata.observed_data["obs"].shape == (15,)


@pytest.mark.slow
def test_a_fixed_prior_becomes_a_constant_draw_by_draw():
    from forecast.model import build_model
    from forecast.priors import resolve_priors
    from forecast.sampling import SamplerSettings, sample

    _, data = power_model(10, 4)
    priors = resolve_priors("power", {"E_scaled": {"dist": "Fixed", "value": 0.5}})
    idata = sample(build_model(data, "power", priors), SamplerSettings(**QUICK))
    assert idata.posterior["E_scaled"].shape == (2, 200)
    assert (idata.posterior["E_scaled"].values == 0.5).all()


def test_compiling_records_no_tag_traces_and_restores_the_flag(monkeypatch):
    import pytensor

    from forecast import sampling

    before = pytensor.config.traceback__limit
    sampling.clear_cache()
    seen = []
    real = sampling._compile
    monkeypatch.setattr(sampling, "_compile",
                        lambda model: seen.append(pytensor.config.traceback__limit) or real(model))
    try:
        model, _ = power_model(8, 5)
        with model:
            comp = sampling._compiled(model)
    finally:
        sampling.clear_cache()
    assert seen == [0]  # no stack trace extracted for each of the ~17,000 nodes built
    assert pytensor.config.traceback__limit == before  # back after compiling
    assert np.isfinite(comp.logp_dlogp(comp.x0, *sampling._data_values(model, comp.data_names))[0])


def test_a_traceback_limit_the_user_set_is_kept(monkeypatch):
    import pytensor

    from forecast import sampling

    sampling.clear_cache()
    seen = []
    monkeypatch.setattr(sampling, "_compile",
                        lambda model: seen.append(pytensor.config.traceback__limit))
    before = pytensor.config.traceback__limit
    pytensor.config.traceback__limit = 3  # set in code, as a user debugging a graph would
    try:
        model, _ = power_model(8, 6)
        with model:
            sampling._compiled(model)
    finally:
        pytensor.config.traceback__limit = before
        sampling.clear_cache()
    assert seen == [3]


def test_scalar_logaddexp_matches_numpy_including_infinities():
    from forecast.nuts import _logaddexp

    inf = float("inf")
    for a, b in [(0.0, 0.0), (-3.5, 2.25), (700.0, -700.0), (-inf, 1.5), (1.5, -inf),
                 (-inf, -inf), (-1e-300, 1e-300), (-745.0, -744.0)]:
        assert _logaddexp(a, b) == pytest.approx(float(np.logaddexp(a, b)), rel=1e-15, abs=0)
