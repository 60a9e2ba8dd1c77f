"""Predictive draws of a fitted law for new runs: the forecast that backtests and reports score.

A new run's loss is the law's mean times ``exp(sigma t_nu + kappa d z)`` (the fitted Student-t
noise plus the fit's extrapolation error ``d`` decades beyond its largest compute); a new run's
accuracy a Beta draw around the mean, or, for a fit with ``--trials``, a logit deviation and a
binomial count of its items. A fit with ``--group`` shifts each run's compute by its group's
offset (a draw from the population of offsets for a group it has not seen); a fit with ``--run``
scales each row's loss, or an accuracy law's compute, by its training run's level.
"""

from __future__ import annotations

import numpy as np

from forecast.inference.extrapolation import extrapolation_noise
from forecast.inference.groups import chance_level
from forecast.runs import Runs

__all__ = ["model_draws"]


def model_draws(result, runs: Runs, rng: np.random.Generator,
                levels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Posterior draws of the mean and posterior predictive draws for new runs at ``runs``.

    A new run's loss is the mean times ``exp(sigma t_nu + kappa d z)``: the fitted Student-t
    noise plus the fit's extrapolation error ``d`` decades beyond its largest compute
    (:func:`forecast.inference.extrapolation.extrapolation_noise`). A new run's accuracy is a
    Beta draw around the mean; for a fit with ``--trials``, a deviation of ``sigma_logit`` in
    log-odds, then a binomial count of its items.
    For a fit with ``--group`` each run's compute is shifted by its group's offset, or, for a
    group the fit has not seen, by a draw from the population of offsets
    (:meth:`forecast.inference.fitting.Fit.offsets`); for a fit with ``--run`` each row's mean
    is its training run's (:meth:`forecast.inference.result.Fit.mean`), a new run's drawn from
    the population of runs; for a fit of several tasks (``--task``) each row is its task's
    (:meth:`forecast.inference.result.Fit.task_view`).

    Parameters
    ----------
    result : forecast.inference.fitting.Fit
        A fitted law.
    runs : Runs
        Where to predict (their covariates and groups; their metric is not read).
    rng : numpy.random.Generator
        Source of the predictive noise.
    levels : numpy.ndarray, optional
        Each row's training-run level (``--run``; :meth:`forecast.inference.result.Fit.run_levels`
        by default).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The law's mean and a new run's metric, each of shape ``(draws, len(runs))``.
    """
    if levels is None:  # a new training run's level, drawn once for all its rows
        levels = result.run_levels(runs, rng)
    if result.task_column is not None:  # several tasks: each task's view on its rows
        return result.by_task(runs, lambda view, some, mine: model_draws(view, some, rng, mine),
                              levels)
    law = result.law
    mean = result.mean(runs, rng, levels)
    if law.metric == "positive":
        sigma, nu = result.draws("sigma")[:, None], result.draws("nu")[:, None]
        noise = sigma * rng.standard_t(np.broadcast_to(nu, mean.shape))
        noise += extrapolation_noise(result.extrapolation, runs.flops, mean.shape, rng)
        return mean, mean * np.exp(noise)
    if result.trials:
        return mean, _binomial_draws(result, runs, mean, rng)
    kappa = result.draws("kappa")[:, None]
    m = np.clip(mean, 1e-3, 1 - 1e-3)
    return mean, rng.beta(m * kappa, (1 - m) * kappa)


def _binomial_draws(result, runs: Runs, mean: np.ndarray, rng: np.random.Generator):
    """Draw a new run's accuracy under ``--trials``: a logit deviation, then a binomial count."""
    chance = chance_level(result.priors)
    q = np.clip((mean - chance) / (1.0 - chance), 1e-9, 1 - 1e-9)
    eta = np.log(q) - np.log1p(-q) + result.draws("sigma_logit")[:, None] * \
        rng.standard_normal(mean.shape)
    p = chance + (1.0 - chance) / (1.0 + np.exp(-eta))
    n = np.broadcast_to(result.trial_counts(runs)[None, :], p.shape).astype(np.int64)
    return rng.binomial(n, p) / n
