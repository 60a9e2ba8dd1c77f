"""Extrapolation error: how far a law's forecasts stray beyond the compute it was fitted on.

The likelihood's noise (``sigma``, ``nu``) measures how far runs scatter around the law *where
there are runs*. It says nothing about how wrong the law's shape becomes beyond them, which is
what a forecast at 10x the compute mostly suffers from (on the Chinchilla runs the held-out
errors are systematic, of order 1-2%, several times the fitted scatter; see docs/backtest.md).

Model. A new run at compute ``C`` above the largest fitted compute ``C_max`` has

    log y = log L(x) + kappa * d * z + sigma * t_nu,   d = log10(C / C_max),  z ~ N(0, 1)

with ``d = 0`` at or below ``C_max`` (interpolation is left to the fitted noise). ``kappa`` is
the law's extrapolation error in log units (about a relative error) per decade of compute.

Estimate (leave-future-out on the fitted runs themselves, before any run above them is seen):

1. hold out the largest-compute :data:`HOLDOUT` of the runs (at least :data:`MIN_HELD`);
2. refit the same model to the rest, by its Laplace approximation
   (:func:`forecast.inference.sampling.laplace_draws`: no MCMC, the compiled model is reused);
3. choose ``kappa`` in [0, :data:`KAPPA_MAX`] to maximise the held-out runs' log predictive
   density of ``log y`` under that refit, each at its own ``d`` beyond the inner fit.

The Student-t is written as a scale mixture of normals (``t_nu = N(0, w)``, ``1/w ~ Gamma(nu/2,
rate nu/2)``), so given a draw and ``w`` the predictive is normal with variance ``sigma^2 w +
(kappa d)^2``; the density is the average over draws and ``w``. A law that extrapolates well
gets ``kappa`` near 0 and intervals as before. Only loss-like laws (``metric == "positive"``)
are calibrated; accuracy laws get ``kappa = 0``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from forecast.errors import InputError
from forecast.laws import Law, predict, to_raw
from forecast.runs import Runs

__all__ = ["HOLDOUT", "KAPPA_MAX", "MIN_HELD", "calibrate", "decades_beyond", "estimate_kappa",
           "extrapolation_noise", "lfo_cutoff", "mixing_variances", "mixture_log_density",
           "uncalibrated"]

HOLDOUT = 0.1  # share of the fitted runs (largest compute) held out by the inner refit
MIN_HELD = 5  # at least this many held out
MIN_FIT = 10  # and at least this many left to refit, or no calibration
DRAWS = 2000  # Laplace draws of the inner refit
KAPPA_MAX = 1.0  # log units per decade: a factor e of error per decade is the most we allow
_GRID = 41  # log-spaced kappa values from 1e-4 to KAPPA_MAX searched before refining


def lfo_cutoff(runs: Runs, holdout: float = 0.2) -> float:
    """Return the compute below which ``1 - holdout`` of the runs lie (the default cutoff)."""
    if not 0 < holdout < 1:
        raise InputError(f"--holdout {holdout}: must be a fraction between 0 and 1, e.g. 0.2")
    flops = np.sort(runs.flops)
    return float(flops[max(int(np.floor((1 - holdout) * len(flops))) - 1, 0)])


def decades_beyond(flops: np.ndarray, flops_max: float) -> np.ndarray:
    """``log10(C / C_max)`` where positive, else 0: how far a run lies beyond the fitted runs."""
    return np.maximum(np.log10(np.asarray(flops, dtype=float) / flops_max), 0.0)


def extrapolation_noise(extrapolation: dict | None, flops: np.ndarray, shape: tuple,
                        rng: np.random.Generator) -> np.ndarray:
    """Draws of ``kappa d z`` (log units), shape ``shape`` = (draws, len(flops))."""
    kappa = float((extrapolation or {}).get("kappa_per_decade", 0.0))
    if kappa == 0.0:
        return np.zeros(shape)
    d = decades_beyond(flops, extrapolation["flops_max"])
    return kappa * d[None, :] * rng.standard_normal(shape)


def mixing_variances(nu: np.ndarray, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Draws of ``w`` with ``1/w ~ Gamma(nu/2, rate nu/2)``: ``N(0, w)`` is then a ``t_nu``."""
    return 1.0 / rng.gamma(nu / 2, 2 / nu, size=shape)


def mixture_log_density(y: np.ndarray, loc: np.ndarray, sigma: np.ndarray, nu: np.ndarray,
                        d: np.ndarray, kappa: float, w: np.ndarray) -> np.ndarray:
    """Log predictive density of each ``y`` (log units) under draws of the model above.

    Parameters
    ----------
    y : numpy.ndarray
        Observed ``log y``, shape ``(m,)``.
    loc : numpy.ndarray
        ``log L(x)`` per draw and run, shape ``(S, m)``.
    sigma, nu : numpy.ndarray
        Noise scale and degrees of freedom per draw, shape ``(S, 1)``.
    d : numpy.ndarray
        Decades beyond the fitted runs, shape ``(m,)``.
    kappa : float
        Extrapolation error per decade.
    w : numpy.ndarray
        Mixing variances of the Student-t, ``1/w ~ Gamma(nu/2, rate nu/2)``, shape ``(S, m)``.

    Returns
    -------
    numpy.ndarray
        ``log mean_s N(y | loc, sigma^2 w + (kappa d)^2)``, shape ``(m,)``.
    """
    from scipy.special import logsumexp

    var = sigma**2 * w + (kappa * d[None, :]) ** 2
    with np.errstate(all="ignore"):
        lp = -0.5 * (np.log(2 * np.pi * var) + (y[None, :] - loc) ** 2 / var)
    lp = np.where(np.isfinite(lp), lp, -np.inf)
    return logsumexp(lp, axis=0) - np.log(lp.shape[0])


def estimate_kappa(y: np.ndarray, loc: np.ndarray, sigma: np.ndarray, nu: np.ndarray,
                   d: np.ndarray, rng: np.random.Generator) -> float:
    """Return the ``kappa`` in [0, KAPPA_MAX] maximising the summed mixture_log_density.

    The objective can have several local optima (a small ``kappa`` that hardly matters next to
    the noise, a large one that explains a few runs far off the law), so it is searched on a
    grid of :data:`_GRID` values, 0 included, and the best grid point refined by Brent's method
    between its neighbours.
    """
    from scipy.optimize import minimize_scalar

    w = mixing_variances(nu, loc.shape, rng)

    def neg(kappa: float) -> float:
        return -float(np.sum(mixture_log_density(y, loc, sigma, nu, d, kappa, w)))

    grid = np.concatenate([[0.0], np.geomspace(1e-4, KAPPA_MAX, _GRID)])
    values = np.array([neg(k) for k in grid])
    best = int(np.argmin(values))
    if best == 0:
        return 0.0
    lo, hi = np.log(grid[max(best - 1, 1)]), np.log(grid[min(best + 1, len(grid) - 1)])
    res = minimize_scalar(lambda t: neg(np.exp(t)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-3})
    return float(np.exp(res.x)) if res.fun < values[best] else float(grid[best])


def uncalibrated(runs: Runs, reason: str) -> dict:
    """Return the record of a fit without extrapolation error (``kappa_per_decade`` 0)."""
    return {"method": "none", "kappa_per_decade": 0.0, "flops_max": float(np.max(runs.flops)),
            "reason": reason}


def calibrate(runs: Runs, law: Law, build: Callable, seed: int, group: str | None = None,
              run: str | None = None) -> dict:
    """Estimate the extrapolation error ``kappa`` of a law on ``runs`` by leave-future-out.

    Parameters
    ----------
    runs : Runs
        The runs being fitted.
    law : Law
        The law.
    build : callable
        ``build(runs) -> (pymc.Model, ModelData)``: the same model as the main fit, on other runs.
    seed : int
        Seed of the Laplace draws and of the mixture.
    group : str, optional
        The fit's ``--group`` column: each held-out run's compute is shifted by its group's
        offset in the inner refit (a draw from the population for a group it lacks).
    run : str, optional
        The fit's ``--run`` column: each held-out checkpoint takes its training run's level in
        the inner refit (a draw from the population for a run it lacks).

    Returns
    -------
    dict
        ``method`` ("lfo", or "none" with a ``reason``), ``kappa_per_decade``, ``flops_max`` (the
        largest fitted compute, where ``d`` starts), and for "lfo" ``inner_cutoff``,
        ``n_inner_fit``, ``n_inner_test`` and ``max_decades_tested``.
    """
    from forecast.inference.sampling import laplace_draws

    if law.metric != "positive":
        return uncalibrated(runs, "only loss-like laws are calibrated")
    n = len(runs)
    holdout = max(HOLDOUT, MIN_HELD / n)
    cut = lfo_cutoff(runs, holdout) if holdout < 1 else -np.inf
    below = runs.flops <= cut
    if below.sum() < MIN_FIT or (~below).sum() < MIN_HELD:
        return uncalibrated(runs, f"too few runs ({n}) to hold out {MIN_HELD} and refit "
                                  f"{MIN_FIT}")
    inner, held = runs.subset(below), runs.subset(~below)
    model, data = build(inner)
    post = laplace_draws(model, DRAWS, seed)
    theta = {k.removesuffix("_scaled"): np.asarray(v) for k, v in post.items()}
    raw = {k: v[:, None] for k, v in to_raw(law, theta, data.refs).items()}
    rng = np.random.default_rng([seed, 1])
    cov = held.covariates(law)
    from forecast.inference.groups import offset_draws

    if group is not None:
        cov["C"] = cov["C"] * np.exp(offset_draws(theta["offset"], list(data.group_names),
                                                  theta["tau_group"], held.labels(group), rng))
    with np.errstate(all="ignore"):
        loc = np.log(predict(law, raw, **cov))
    if run is not None:
        loc = loc + offset_draws(theta["run_level"], list(data.run_names), theta["sigma_run"],
                                 held.labels(run), rng)
    sigma, nu = theta["sigma"][:, None], theta["nu"][:, None]
    ok = np.all(np.isfinite(loc), axis=1) & np.isfinite(sigma[:, 0]) & np.isfinite(nu[:, 0])
    if ok.sum() < DRAWS // 2:
        return uncalibrated(runs, "the inner refit failed (non-finite predictions)")
    d = decades_beyond(held.flops, float(np.max(inner.flops)))
    kappa = estimate_kappa(np.log(held.y), loc[ok], sigma[ok], nu[ok], d, rng)
    return {"method": "lfo", "kappa_per_decade": kappa, "flops_max": float(np.max(runs.flops)),
            "inner_cutoff": float(cut),
            "n_inner_fit": int(below.sum()), "n_inner_test": int((~below).sum()),
            "max_decades_tested": float(d.max())}
