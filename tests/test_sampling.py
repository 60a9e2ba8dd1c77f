"""The sampler: nutpie's NUTS on targets of known moments, and sample() on the model of a law.

The battery runs :func:`forecast.inference.engine.run_chains` on NumPy densities whose means,
variances
and quantiles are known in closed form, and scores each estimate by z against its Monte Carlo
standard error: a correct sampler gives |z| <= 5 except with probability ~6e-7 per estimate,
while a sampler that is biased by a few tenths of a standard deviation fails. A test also checks
that the score rejects a target whose scale is 15% off (the score has power). The ``slow``
tests compile and sample the PyMC model of the power law on a few simulated runs.
"""

import arviz as az
import numpy as np
import pytest
from conftest import named_rng
from scipy import stats

from forecast.inference.engine import STATS, Pass, run_chains
from forecast.laws import LAWS

Z_MAX = 5.0


def gaussian_target(mean, cov):
    prec = np.linalg.inv(cov)

    def logp(x):
        d = x - mean
        return -0.5 * d @ prec @ d, -prec @ d

    sd = np.sqrt(np.diag(cov))
    return logp, mean, sd, [stats.norm(m, s) for m, s in zip(mean, sd, strict=True)]


def correlated_5d():
    rng = np.random.default_rng(5)
    L = rng.normal(size=(5, 5))
    return gaussian_target(np.arange(5.0) - 2.0, L @ L.T / 5 + 0.1 * np.eye(5))


def ill_conditioned():
    # scales from 0.01 to 10, rotated: condition number 1e6
    Q, _ = np.linalg.qr(np.random.default_rng(6).normal(size=(4, 4)))
    return gaussian_target(np.array([1.0, 0.0, -1.0, 3.0]),
                           Q @ np.diag([0.01, 0.3, 3.0, 10.0]) ** 2 @ Q.T)


def student_t(df=7.0, scale=(1.0, 2.0, 0.5)):
    scale = np.asarray(scale)

    def logp(x):
        z = x / scale
        return (float(np.sum(-(df + 1) / 2 * np.log1p(z**2 / df))),
                -(df + 1) * z / (df + z**2) / scale)

    sd = scale * np.sqrt(df / (df - 2))
    return logp, np.zeros(3), sd, [stats.t(df, 0, s) for s in scale]


def funnel():
    # a mild funnel: v ~ N(0, 1), x_i | v ~ N(0, sd = exp(v / 2)); E[x_i^2] = E[exp(v)] =
    # exp(1/2), so x_i's sd is exp(1/4) in closed form
    def logp(x):
        v, rest = x[0], x[1:]
        s2 = np.exp(v)
        lp = -0.5 * v**2 - 0.5 * np.sum(rest**2) / s2 - 0.5 * len(rest) * v
        g = np.concatenate([[-v + 0.5 * np.sum(rest**2) / s2 - 0.5 * len(rest)], -rest / s2])
        return lp, g

    sd = np.array([1.0, *[np.exp(1 / 4)] * 3])
    return logp, np.zeros(4), sd, [stats.norm(0, 1)]


def z_scores(draws, mean, sd, marginals):
    """|z| of each mean, each sd (through E[x^2]) and the 5/50/95% quantiles of the marginals."""
    out = []
    for i in range(draws.shape[2]):
        x = draws[:, :, i]
        d = az.convert_to_dataset({"x": x})
        out.append((float(x.mean()) - mean[i]) / float(az.mcse(d)["x"]))
        second = x**2
        d2 = az.convert_to_dataset({"x": second})
        out.append((float(second.mean()) - (sd[i] ** 2 + mean[i] ** 2)) / float(az.mcse(d2)["x"]))
        if i < len(marginals):
            for q in (0.05, 0.5, 0.95):
                se = float(az.mcse(d, method="quantile", prob=q)["x"])
                out.append((float(np.quantile(x, q)) - marginals[i].ppf(q)) / se)
    return np.abs(out)


def sample_target(logp, dim, seed, draws=2000):
    return run_chains(logp, lambda rng: rng.normal(size=dim), dim, 4,
                      Pass(draws=draws, tune=1000), seed=seed, cores=2)


@pytest.mark.parametrize("target", [correlated_5d, ill_conditioned, student_t, funnel])
def test_battery_means_variances_and_quantiles_within_their_monte_carlo_error(target):
    logp, mean, sd, marginals = target()
    draws, stats_ = sample_target(logp, len(mean), seed=11)
    z = z_scores(draws, mean, sd, marginals)
    assert z.max() <= Z_MAX, (target.__name__, np.round(z, 1))
    # a funnel's neck may cost a rare divergence (0-3 in 8,000 over seeds 11-18); none elsewhere
    assert stats_["diverging"].mean() < (1e-3 if target is funnel else 1e-12)


def test_battery_rejects_a_target_whose_scale_is_off():
    """The score has power: draws from a Gaussian 15% too wide fail against the true moments."""
    _, mean, sd, marginals = correlated_5d()
    wrong, *_ = gaussian_target(mean, np.diag((1.15 * sd) ** 2))
    draws, _ = sample_target(wrong, 5, seed=12)
    assert z_scores(draws, mean, sd, marginals).max() > Z_MAX


def test_stats_have_pymc_names_one_value_per_draw_and_lp_is_the_density():
    logp, mean, *_ = correlated_5d()
    draws, st = run_chains(logp, lambda rng: rng.normal(size=5), 5, 2,
                           Pass(draws=300, tune=200), seed=3)
    assert draws.shape == (2, 300, 5)
    assert set(st) == set(STATS)
    for k in STATS:
        assert st[k].shape == (2, 300), k
    lp = np.array([[logp(x)[0] for x in chain] for chain in draws])
    np.testing.assert_allclose(st["lp"], lp, rtol=1e-10, atol=1e-10)


def test_same_seed_same_draws_whatever_the_threads_other_seed_other_draws():
    logp, *_ = correlated_5d()

    def go(seed, cores):
        return run_chains(logp, lambda rng: rng.normal(size=5), 5, 3,
                          Pass(draws=100, tune=100), seed=seed, cores=cores)[0]

    a, b, c = go(1, 1), go(1, 3), go(2, 1)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_divergences_are_flagged_at_a_cliff():
    logp, *_ = correlated_5d()

    def cliff(x):  # a Gaussian cut off by a wall: trajectories that cross it diverge
        if x[0] > -2.0:
            return -np.inf, np.zeros(5)
        return logp(x)

    draws, st = run_chains(cliff, lambda rng: np.array([-3.0, -1, 0, 1, 2]), 5, 2,
                           Pass(draws=300, tune=200), seed=0)
    assert st["diverging"].any()
    assert (draws[:, :, 0] <= -2.0).all()


# --- sample() on the PyMC model ----------------------------------------------------------------

QUICK = dict(draws=200, tune=200, chains=2, retry=False)  # one pass: the sizes asked for


def power_model(n, seed, name="power"):
    from forecast.inference.model import build_model, model_data
    from forecast.inference.priors import resolve_priors
    from forecast.runs import runs_from_frame

    rng = named_rng(f"{name}-{seed}")
    import pandas as pd

    flops = np.geomspace(1e17, 1e21, n)
    loss = (1.8 + 1e19 ** 0.3 * flops ** -0.3) * np.exp(0.02 * rng.standard_normal(n))
    runs = runs_from_frame(pd.DataFrame({"flops": flops, "loss": loss}))
    data = model_data(runs, LAWS["power"])
    return build_model(data, LAWS["power"], resolve_priors(LAWS["power"])), data


def natural(data):
    """The same law and priors in the law's own parameters: the model the prior is drawn from."""
    from forecast.inference.model import build_model
    from forecast.inference.priors import resolve_priors

    return build_model(data, LAWS["power"], resolve_priors(LAWS["power"]), geometry="natural")


@pytest.mark.slow
def test_sample_groups_stats_and_pointwise_log_likelihood():
    from forecast.inference.sampling import SamplerSettings, sample

    model, data = power_model(12, 0)
    idata = sample(model, SamplerSettings(**QUICK, seed=4), prior_model=natural(data))
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
    from forecast.inference.sampling import SamplerSettings, sample

    model, data = power_model(10, 1)
    prior = natural(data)
    a = sample(model, SamplerSettings(**QUICK, seed=9, cores=1), prior_model=prior)
    b = sample(model, SamplerSettings(**QUICK, seed=9, cores=2), prior_model=prior)
    c = sample(model, SamplerSettings(**QUICK, seed=10, cores=2), prior_model=prior)
    for group in ("posterior", "log_likelihood", "posterior_predictive", "prior"):
        for name, value in a[group].data_vars.items():
            np.testing.assert_array_equal(value.values, b[group][name].values)
    assert not np.allclose(a.posterior["alpha"].values, c.posterior["alpha"].values)


@pytest.mark.slow
def test_a_second_model_of_the_same_structure_compiles_nothing(monkeypatch):
    from forecast.inference import compiled, sampling

    compiled.clear_cache()
    first, data1 = power_model(10, 2)
    second, data2 = power_model(15, 3)  # other runs, other number of runs: same structure
    assert compiled.structure_key(first) == compiled.structure_key(second)
    sampling.sample(first, sampling.SamplerSettings(**QUICK), prior_model=natural(data1))

    def fail(model):
        raise AssertionError("recompiled")

    monkeypatch.setattr(compiled, "_compile", fail)
    idata = sampling.sample(second, sampling.SamplerSettings(**QUICK),
                            prior_model=natural(data2))
    assert idata.log_likelihood["obs"].shape == (2, 200, 15)
    assert idata.observed_data["obs"].shape == (15,)


@pytest.mark.slow
def test_a_fixed_prior_becomes_a_constant_draw_by_draw():
    from forecast.inference.model import build_model
    from forecast.inference.priors import resolve_priors
    from forecast.inference.sampling import SamplerSettings, sample

    _, data = power_model(10, 4)
    priors = resolve_priors(LAWS["power"], {"E_scaled": {"dist": "Fixed", "value": 0.5}})
    # a fixed E: the law's own parameters are sampled, and the prior is drawn from the same model
    idata = sample(build_model(data, LAWS["power"], priors), SamplerSettings(**QUICK))
    assert idata.posterior["E_scaled"].shape == (2, 200)
    assert (idata.posterior["E_scaled"].values == 0.5).all()


def test_compiling_records_no_tag_traces_and_restores_the_flag(monkeypatch):
    import pytensor

    from forecast.inference import compiled

    before = pytensor.config.traceback__limit
    compiled.clear_cache()
    seen = []
    real = compiled._compile
    monkeypatch.setattr(compiled, "_compile",
                        lambda model: seen.append(pytensor.config.traceback__limit) or real(model))
    try:
        model, _ = power_model(8, 5)
        with model:
            comp = compiled.compiled(model)
    finally:
        compiled.clear_cache()
    assert seen == [0]  # no stack trace extracted for each of the ~17,000 nodes built
    assert pytensor.config.traceback__limit == before  # back after compiling
    assert np.isfinite(comp.logp_dlogp(comp.x0, *compiled.data_values(model, comp.data_names))[0])


def test_a_traceback_limit_the_user_set_is_kept(monkeypatch):
    import pytensor

    from forecast.inference import compiled

    compiled.clear_cache()
    seen = []
    monkeypatch.setattr(compiled, "_compile",
                        lambda model: seen.append(pytensor.config.traceback__limit))
    before = pytensor.config.traceback__limit
    pytensor.config.traceback__limit = 3  # set in code, as a user debugging a graph would
    try:
        model, _ = power_model(8, 6)
        with model:
            compiled.compiled(model)
    finally:
        pytensor.config.traceback__limit = before
        compiled.clear_cache()
    assert seen == [3]


@pytest.mark.slow
def test_a_pass_with_problems_is_retried_longer_and_recorded():
    """Five warmup steps leave a poor first pass; the fit samples again and says what it did."""
    import json

    from forecast.inference.sampling import SamplerSettings, ess_target, sample

    model, data = power_model(12, 7)
    idata = sample(model, SamplerSettings(draws=300, tune=5, chains=2, seed=1),
                   prior_model=natural(data))
    passes = json.loads(idata.attrs["sampling_passes"])
    assert len(passes) >= 2
    assert passes[0]["tune"] == 5 and passes[0]["troubles"]
    assert passes[1]["tune"] == 10
    first = passes[0]["troubles"]
    if any("divergences" in t for t in first):
        assert passes[1]["target_accept"] >= 0.95
    if any("ESS" in t or "R-hat" in t for t in first):
        assert 600 <= passes[1]["draws"] <= 1200
    assert all(p["draws"] <= 4 * 300 for p in passes)
    assert idata.posterior.sizes["draw"] == passes[-1]["draws"]
    assert ess_target(600) == 150 and ess_target(4000) == 400
    # asked not to retry, it keeps its one pass
    once = sample(model, SamplerSettings(draws=300, tune=5, chains=2, seed=1, retry=False),
                  prior_model=natural(data))
    assert len(json.loads(once.attrs["sampling_passes"])) == 1
