"""The reference-point geometry: its Jacobian, and the priors it must leave as they are.

``forecast.inference.geometry`` samples ``power`` and ``chinchilla`` at the data's reference point
and adds
the priors of the law's own parameters with a log Jacobian. Two checks that a wrong Jacobian
cannot pass: the Jacobian against central differences of the map, and the prior alone (a model
with no runs) sampled by the tool's own sampler against the priors' closed-form quantiles,
scored by z against the Monte Carlo standard error. The second check also rejects a variant
whose Jacobian is off by one power of the mean.
"""

import numpy as np
import pytest
from scipy import stats

from forecast.inference import geometry
from forecast.inference.model import ModelData, build_model
from forecast.inference.priors import resolve_priors
from forecast.laws import LAWS, Law

REFERENCE_LAWS = [LAWS["power"], LAWS["chinchilla"]]


def empty_data(law: Law, n: int = 0) -> ModelData:
    rng = np.random.default_rng(0)
    X = {k: np.exp(rng.normal(0, 1, n)) for k in law.covariates}
    return ModelData(X, np.ones(n), {"y": 1.0, **{k: 1.0 for k in law.covariates}})


def law_params(law: Law) -> list[str]:
    terms = law.terms
    return ["E_scaled", *(f"{a}_scaled" for a, _, _ in terms), *(e for _, e, _ in terms)]


@pytest.mark.parametrize("law", REFERENCE_LAWS, ids=lambda law: law.name)
def test_log_jacobian_matches_central_differences_of_the_map(law):
    import pymc as pm

    model = build_model(empty_data(law, 8), law, resolve_priors(law))
    free = [v for v in model.value_vars if v.name.startswith("ref_")]
    names = law_params(law)
    outs = model.replace_rvs_by_values([model[n] for n in names] + [model["reference_prior"]])
    fn = pm.pytensorf.compile(free, outs, on_unused_input="ignore")
    priors = resolve_priors(law)
    rng = np.random.default_rng(3)
    for _ in range(5):
        u = rng.normal([-0.3] + [0.0] * (len(free) - 1), 0.7)
        *theta, potential = (float(v) for v in fn(*u))
        h, J = 1e-6, np.empty((len(u), len(u)))
        for j in range(len(u)):
            e = np.zeros(len(u))
            e[j] = h
            J[:, j] = (np.array(fn(*(u + e))[:-1], float)
                       - np.array(fn(*(u - e))[:-1], float)) / (2 * h)
        log_prior = 0.0
        for name, value in zip(names, theta, strict=True):
            spec = dict(priors[name])
            dist = getattr(pm, spec.pop("dist"))
            log_prior += float(pm.logp(dist.dist(**spec), value).eval())
        assert potential - log_prior == pytest.approx(np.linalg.slogdet(J)[1], abs=1e-5)


def closed_form(spec: dict):
    spec = dict(spec)
    dist = spec.pop("dist")
    if dist == "HalfNormal":
        return stats.halfnorm(scale=spec["sigma"])
    if dist == "LogNormal":
        return stats.lognorm(s=spec["sigma"], scale=np.exp(spec["mu"]))
    raise AssertionError(dist)


def prior_z(law: Law, seed: int) -> dict[str, float]:
    """Largest |z| per parameter of the 5/25/50/75/95% quantiles of the sampled prior."""
    import arviz as az

    from forecast.inference.sampling import SamplerSettings, sample

    data = empty_data(law)
    priors = resolve_priors(law)
    model = build_model(data, law, priors)
    assert "reference_prior" in model.named_vars
    idata = sample(model, SamplerSettings(draws=2000, tune=1000, chains=4, seed=seed),
                   prior_model=build_model(data, law, priors, geometry="natural"))
    out = {}
    for name in law_params(law):
        ds = idata.posterior[[name]]
        x = ds[name].values.reshape(-1)
        zs = []
        for q in (0.05, 0.25, 0.5, 0.75, 0.95):
            mcse = float(az.mcse(ds, method="quantile", prob=q)[name])
            zs.append((np.quantile(x, q) - closed_form(priors[name]).ppf(q)) / mcse)
        out[name] = float(np.max(np.abs(zs)))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("law", REFERENCE_LAWS, ids=lambda law: law.name)
def test_sampled_at_the_reference_point_the_priors_are_those_of_docs_priors(law):
    z = prior_z(law, seed=1)
    assert max(z.values()) <= 5, z


@pytest.mark.slow
def test_the_prior_check_rejects_a_jacobian_off_by_one_power_of_the_mean(monkeypatch):
    """``m^(k-1)`` for ``m^k`` (forgetting that ``m`` is sampled as ``log m``): rejected."""
    from forecast.inference import compiled

    right = geometry.log_jacobian
    monkeypatch.setattr(geometry, "log_jacobian",
                        lambda log_mean, log_share_e, log_slopes:
                        right(log_mean, log_share_e, log_slopes) - log_mean)
    compiled.clear_cache()
    try:
        z = prior_z(LAWS["power"], seed=1)
    finally:
        compiled.clear_cache()
    assert max(z.values()) > 10, z
