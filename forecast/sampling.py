"""Sampling a built model: NUTS settings and the one function that runs the sampler.

Everything about *how* the posterior is drawn (sampler, initialisation, caching of compiled
code) lives here, so it can be changed without touching the model or the summary.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from forecast.errors import FitError

__all__ = ["SamplerSettings", "sample"]


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings; the command line feeds only these."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 0
    target_accept: float = 0.9
    progress: bool = False

    def as_dict(self) -> dict:
        """Return the settings that change the result (``progress`` does not)."""
        return {"draws": self.draws, "tune": self.tune, "chains": self.chains,
                "seed": self.seed, "target_accept": self.target_accept}


def sample(model, settings: SamplerSettings):
    """Draw the posterior, 500 prior draws and the posterior predictive of ``model``.

    Returns
    -------
    arviz.InferenceData
        Groups posterior, sample_stats, log_likelihood, prior, prior_predictive,
        posterior_predictive, observed_data and constant_data.

    Raises
    ------
    FitError
        If the sampler fails.
    """
    import pymc as pm

    try:
        with model, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = pm.sample(
                draws=settings.draws, tune=settings.tune, chains=settings.chains, cores=1,
                random_seed=settings.seed, progressbar=settings.progress,
                target_accept=settings.target_accept, compute_convergence_checks=False,
                idata_kwargs={"log_likelihood": True},
            )
            idata.extend(pm.sample_prior_predictive(draws=500, random_seed=settings.seed))
            pm.sample_posterior_predictive(idata, random_seed=settings.seed,
                                           extend_inferencedata=True, progressbar=False)
    except (ValueError, RuntimeError, FloatingPointError) as exc:
        raise FitError(f"sampling failed: {exc}") from exc
    return idata
