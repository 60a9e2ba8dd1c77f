"""The whole pipeline of `forecast.fit` against long reference runs of the same posteriors.

`benchmarks/reference_posteriors.py` sampled two short ladders (8 power-law runs, a 16-run
chinchilla grid with short spans) with PyMC's own NUTS on the law's own parameters, long; its
numbers are in `tests/reference/posteriors.json`. Here `forecast.fit` (the reference-point
geometry, nutpie, the scaling and the raw-unit conversion) fits the same runs with its defaults,
and each raw-unit parameter's mean and 5/25/50/75/95% quantiles are scored by
``z = (fit - reference) / sqrt(mcse_fit^2 + mcse_reference^2)``; |z| <= 5 must hold for all.
Two broken variants must fail the same score: a raw-unit scale off by 5% and a Jacobian that
drops the shares' term.
"""

import importlib.util
import json

import numpy as np
import pytest
from conftest import ROOT

REFERENCE = json.loads((ROOT / "tests/reference/posteriors.json").read_text())


def _load():
    spec = importlib.util.spec_from_file_location(
        "reference_posteriors", ROOT / "benchmarks" / "reference_posteriors.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load()
SHORT = {"draws": 300, "tune": 300, "retry": False}


def max_z(name: str, short: bool = False) -> tuple[float, str]:
    """Largest |z| over the case's parameters and statistics, and where it was.

    ``short``: one pass of 300 draws after 300 warmup steps, for the broken variants, which
    need not be sampled well to fail (the MCSE in z accounts for the shorter run).
    """
    from forecast.inference.fitting import fit
    from forecast.inference.sampling import SamplerSettings

    case = REFERENCE["cases"][name]
    runs = ref.case_runs(case["csv"], case["law"], case["rows"])
    result = fit(runs, case["law"], settings=SamplerSettings(seed=1, **(SHORT if short else {})),
                 extrapolation="none")
    post = result.idata.posterior
    mine = ref.summarise({k: np.asarray(post[k]) for k in case["stats"]})
    worst, where = 0.0, ""
    for param, stats in case["stats"].items():
        for stat, (value, mcse) in stats.items():
            got, got_mcse = mine[param][stat]
            z = abs(got - value) / np.hypot(mcse, got_mcse)
            if z > worst:
                worst, where = z, f"{param} {stat}: {got:.6g} vs reference {value:.6g}"
    return worst, where


def test_the_reference_runs_themselves_converged():
    for case in REFERENCE["cases"].values():
        assert case["max_r_hat"] <= 1.01 and case["min_ess_bulk"] >= 2000
        assert case["divergences"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REFERENCE["cases"]))
def test_fit_matches_the_long_reference_run(name):
    z, where = max_z(name)
    assert z <= 5, where


@pytest.mark.slow
def test_a_raw_unit_scale_off_by_five_percent_fails(monkeypatch):
    import forecast.inference.fitting
    from forecast.laws import to_raw

    def wrong(law, theta, refs):
        return to_raw(law, theta, {**refs, "y": 1.05 * refs["y"]})

    monkeypatch.setattr(forecast.inference.fitting, "to_raw", wrong)
    z, where = max_z("power8", short=True)
    assert z > 10, where


@pytest.mark.slow
def test_a_jacobian_without_the_shares_term_fails(monkeypatch):
    from forecast.inference import compiled, geometry

    right = geometry.log_jacobian
    monkeypatch.setattr(geometry, "log_jacobian",
                        lambda log_mean, log_share_e, log_slopes:
                        right(log_mean, 0.0, log_slopes))
    compiled.clear_cache()
    try:
        z, where = max_z("chinchilla16", short=True)
    finally:
        compiled.clear_cache()
    assert z > 10, where
