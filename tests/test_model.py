"""The PyMC model without NUTS: structure, scaling, and prior-predictive coverage."""

import numpy as np
import pymc as pm
import pytest

from forecast.inference.model import build_model, data_priors, model_data
from forecast.inference.priors import resolve_priors
from forecast.laws import LAWS
from forecast.runs import read_runs


@pytest.fixture
def power_runs(fixtures_dir):
    return read_runs(fixtures_dir / "synthetic_power.csv")


def test_reference_scales_are_median_and_geometric_mean(power_runs):
    data = model_data(power_runs, LAWS["power"])
    assert data.refs["y"] == pytest.approx(np.median(power_runs.y))
    assert data.refs["C"] == pytest.approx(np.exp(np.log(power_runs.flops).mean()))
    assert np.exp(np.log(data.X["C"]).mean()) == pytest.approx(1.0)


def test_model_has_the_law_parameters_and_data_containers(power_runs):
    data = model_data(power_runs, LAWS["power"])
    natural = build_model(data, LAWS["power"], resolve_priors(LAWS["power"]), geometry="natural")
    assert {v.name for v in natural.free_RVs} == {"E_scaled", "A_scaled", "alpha", "sigma", "nu"}
    # by default the law is sampled at the data's reference point; its parameters keep their
    # names as deterministics
    model = build_model(data, LAWS["power"], resolve_priors(LAWS["power"]))
    assert {v.name for v in model.free_RVs} == {"ref_log_mean", "ref_logit_A", "ref_log_slope_C",
                                                "sigma", "nu"}
    assert {"E_scaled", "A_scaled", "alpha"} <= {v.name for v in model.deterministics}
    assert set(model.named_vars) >= {"x_C", "y_obs", "obs"}
    np.testing.assert_allclose(model["y_obs"].get_value(),
                               np.log(power_runs.y / data.refs["y"]))


def test_chinchilla_model_reads_params_and_tokens(fixtures_dir):
    runs = read_runs(fixtures_dir / "synthetic_chinchilla.csv", law="chinchilla")
    data = model_data(runs, LAWS["chinchilla"])
    law = LAWS["chinchilla"]
    model = build_model(data, law, resolve_priors(law), geometry="natural")
    assert {"x_N", "x_D"} <= set(model.named_vars)
    assert {"B_scaled", "beta"} <= {v.name for v in model.free_RVs}


def test_broken_break_prior_spans_the_data(power_runs):
    data = model_data(power_runs, LAWS["broken"])
    span = np.ptp(np.log(power_runs.flops))
    assert data_priors(data, LAWS["broken"])["log_xb"]["sigma"] == pytest.approx(span)


def test_prior_predictive_covers_the_data_without_being_absurd(power_runs):
    """The central 90% of prior-predictive curves contains every run, within a factor 100."""
    data = model_data(power_runs, LAWS["power"])
    model = build_model(data, LAWS["power"], resolve_priors(LAWS["power"]), geometry="natural")
    with model:
        prior = pm.sample_prior_predictive(draws=2000, random_seed=1)
    log_y = np.asarray(prior.prior_predictive["obs"]).reshape(-1, len(power_runs))
    lo, hi = np.quantile(log_y, [0.05, 0.95], axis=0)
    observed = np.log(power_runs.y / data.refs["y"])
    assert np.all((lo < observed) & (observed < hi))
    assert np.all(hi - lo < np.log(100.0))


def test_logistic_model_uses_a_beta_likelihood():
    import pandas as pd

    from forecast.runs import runs_from_frame

    frame = pd.DataFrame({"flops": np.logspace(19, 23, 12), "acc": np.linspace(0.02, 0.9, 12)})
    runs = runs_from_frame(frame, y="acc", law="logistic")
    data = model_data(runs, LAWS["logistic"])
    model = build_model(data, LAWS["logistic"], resolve_priors(LAWS["logistic"]))
    assert model["obs"].owner.op.name == "beta"
    assert data.refs["y"] == 1.0
