"""Backtests: fit on the runs at or below a compute cutoff, forecast the runs above, score.

Scores (the same for the Bayesian model and for the point-fit baseline of
:mod:`forecast.baseline`):

- ``median_ape``: median over held-out runs of ``|point - y| / y``, in percent; the model's point
  is the posterior median of the law's mean, the baseline's its best fit;
- ``coverage``: the fraction of held-out runs inside the central 50/80/90/95% interval of the
  predictive draws;
- ``crps``: the continuous ranked probability score from the draws, averaged over runs, in the
  metric's units (lower is better; it equals the absolute error for a point forecast).

The model's predictive draws are for a *new run*, not for the mean: at each posterior draw the
law's mean times ``exp(sigma * t_nu)`` (the Student-t noise in log space of the fitted model;
a Beta draw for accuracy laws). The baseline's are the bootstrap percentile intervals of the
curve, as the usual procedure reports them, and, as ``baseline_noise``, the same with a
resampled residual of the fit added (a predictive interval for it too).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from forecast.baseline import covariates, fit_baseline
from forecast.errors import InputError
from forecast.laws import get_law, predict
from forecast.runs import Runs

__all__ = ["LEVELS", "backtest", "crps", "model_draws", "score", "split_runs", "sweep"]

LEVELS = (50, 80, 90, 95)


def split_runs(runs: Runs, cutoff: float, law: str) -> tuple[Runs, Runs]:
    """Split runs into those with compute at or below ``cutoff`` (to fit) and above (to test).

    Raises
    ------
    InputError
        If the cutoff leaves too few runs to fit the law, or none to test.
    """
    spec = get_law(law)
    if not (np.isfinite(cutoff) and cutoff > 0):
        raise InputError(f"--cutoff {cutoff}: must be a positive number of FLOPs, e.g. 1e21")
    below = runs.flops <= cutoff
    n_fit, n_test = int(below.sum()), int((~below).sum())
    lo, hi = runs.flops.min(), runs.flops.max()
    need = spec.n_params + 2
    if n_fit < need:
        raise InputError(
            f"{runs.source}: --cutoff {cutoff:g} leaves {n_fit} run(s) at or below it; law "
            f"'{law}' needs at least {need} to fit; raise the cutoff (compute spans "
            f"{lo:.3g} .. {hi:.3g} FLOPs)"
        )
    if n_test == 0:
        raise InputError(
            f"{runs.source}: --cutoff {cutoff:g} leaves no run above it to test; lower the "
            f"cutoff below the largest compute, {hi:.3g} FLOPs"
        )
    fit_runs = runs.subset(below)
    if np.unique(fit_runs.flops).size < 2 or (
        "N" in spec.covariates
        and (np.unique(fit_runs.params).size < 2 or np.unique(fit_runs.tokens).size < 2)
    ):
        raise InputError(
            f"{runs.source}: the runs at or below --cutoff {cutoff:g} do not vary enough in "
            f"compute (or params and tokens) to fit law '{law}'; raise the cutoff"
        )
    return fit_runs, runs.subset(~below)


def crps(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS of each column of ``draws`` (shape ``(S, n)``) against ``y`` (shape ``(n,)``).

    Uses ``CRPS = E|X - y| - E|X - X'| / 2`` over the empirical distribution of the draws, with
    ``E|X - X'|`` from the sorted draws in ``O(S log S)``.
    """
    x = np.sort(np.asarray(draws, dtype=float), axis=0)
    s = x.shape[0]
    first = np.mean(np.abs(x - y[None, :]), axis=0)
    weights = (2 * np.arange(1, s + 1) - s - 1)[:, None]
    spread = 2.0 * np.sum(weights * x, axis=0) / (s * s)
    return first - 0.5 * spread


def score(draws: np.ndarray, y: np.ndarray, point: np.ndarray | None = None) -> dict:
    """Score predictive draws ``(S, n)`` of held-out runs against their observed ``y``.

    Parameters
    ----------
    draws : numpy.ndarray
        Predictive draws, one column per held-out run.
    y : numpy.ndarray
        Observed metric of the held-out runs.
    point : numpy.ndarray, optional
        The point forecast (default: the median of the draws).

    Returns
    -------
    dict
        ``median_ape`` (percent), ``coverage`` (``{"50", "80", "90", "95"}`` fractions) and
        ``crps`` (mean, in the metric's units).
    """
    y = np.asarray(y, dtype=float)
    point = np.median(draws, axis=0) if point is None else np.asarray(point, dtype=float)
    coverage = {}
    for level in LEVELS:
        lo, hi = np.quantile(draws, [0.5 - level / 200, 0.5 + level / 200], axis=0)
        coverage[str(level)] = float(np.mean((y >= lo) & (y <= hi)))
    return {"median_ape": float(np.median(np.abs(point - y) / np.abs(y)) * 100),
            "coverage": coverage, "crps": float(np.mean(crps(draws, y)))}


def model_draws(result, runs: Runs, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Posterior draws of the mean and posterior predictive draws for new runs at ``runs``.

    Parameters
    ----------
    result : forecast.fitting.Fit
        A fitted law.
    runs : Runs
        Where to predict (their covariates; their metric is not read).
    rng : numpy.random.Generator
        Source of the predictive noise.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The law's mean and a new run's metric, each of shape ``(draws, len(runs))``.
    """
    law = result.law
    raw = {k: v[:, None] for k, v in result.raw().items()}
    mean = predict(law, raw, **covariates(runs, law))
    if law.metric == "positive":
        sigma, nu = result.draws("sigma")[:, None], result.draws("nu")[:, None]
        noise = sigma * rng.standard_t(np.broadcast_to(nu, mean.shape))
        return mean, mean * np.exp(noise)
    kappa = result.draws("kappa")[:, None]
    m = np.clip(mean, 1e-3, 1 - 1e-3)
    return mean, rng.beta(m * kappa, (1 - m) * kappa)


def _per_run(test: Runs, mean: np.ndarray, pred: np.ndarray, base_point: np.ndarray,
             base_draws: np.ndarray) -> list[dict]:
    q = np.quantile(pred, [0.05, 0.95], axis=0)
    bq = np.quantile(base_draws, [0.05, 0.95], axis=0)
    ids = test.frame["run_id"] if "run_id" in test.frame else np.arange(len(test)).astype(str)
    med = np.median(mean, axis=0)
    return [{"run_id": str(ids[i]), "flops": float(test.flops[i]), "y": float(test.y[i]),
             "model": {"median": float(med[i]), "q05": float(q[0, i]), "q95": float(q[1, i])},
             "baseline": {"point": float(base_point[i]), "q05": float(bq[0, i]),
                          "q95": float(bq[1, i])}}
            for i in range(len(test))]


def backtest(runs: Runs, law: str, cutoff: float, *, settings=None, priors: dict | None = None,
             n_boot: int = 200, seed: int = 0) -> dict:
    """Fit the model and the baseline below ``cutoff`` and score both on the runs above it.

    Parameters
    ----------
    runs : Runs
        All runs, read for ``law``.
    law : str
        The law to fit.
    cutoff : float
        Compute in FLOPs: runs at or below it are fitted, the rest forecast.
    settings : forecast.sampling.SamplerSettings, optional
        Sampler settings of the Bayesian fit.
    priors : dict, optional
        User priors of the Bayesian fit.
    n_boot : int
        Bootstrap resamples of the baseline.
    seed : int
        Seed of the predictive noise and of the bootstrap.

    Returns
    -------
    dict
        ``cutoff``, ``law``, ``n_fit``, ``n_test``, ``model`` and ``baseline`` scores (see
        :func:`score`), ``baseline_noise``, the fit's ``params`` (median, q05, q95), ``noise``
        (median sigma and nu), ``baseline_params``, ``seconds`` (fit and baseline),
        ``divergences`` and ``warnings``, and ``runs`` (per held-out run: observed, model median
        and 90% interval, baseline).

    Raises
    ------
    InputError
        If the cutoff leaves too few runs to fit or none to test.
    """
    from forecast.fitting import fit

    fit_runs, test = split_runs(runs, cutoff, law)
    t0 = time.perf_counter()
    result = fit(fit_runs, law, priors=priors, settings=settings)
    t1 = time.perf_counter()
    rng = np.random.default_rng(seed)
    mean, pred = model_draws(result, test, rng)
    base = fit_baseline(fit_runs, law, n_boot=n_boot, seed=seed)
    t2 = time.perf_counter()
    noise = [n for n in ("sigma", "nu") if n in result.idata.posterior]
    base_point = base.predict(test)
    base_draws = base.draws(test)
    return {
        "cutoff": float(cutoff), "law": law, "y": runs.y_name, "source": runs.source,
        "n_fit": len(fit_runs), "n_test": len(test),
        "model": score(pred, test.y, np.median(mean, axis=0)),
        "baseline": score(base_draws, test.y, base_point),
        "baseline_noise": score(base.draws(test, rng=rng, noise=True), test.y, base_point),
        "params": {k: {q: p[q] for q in ("median", "q05", "q95")}
                   for k, p in result.summary["params"].items()},
        "noise": {n: float(np.median(result.draws(n))) for n in noise},
        "baseline_params": base.raw,
        "seconds": {"fit": t1 - t0, "baseline": t2 - t1},
        "divergences": result.summary["divergences"],
        "warnings": result.summary["warnings"],
        "runs": _per_run(test, mean, pred, base_point, base_draws),
    }


def sweep(runs: Runs, law: str, cutoffs: Sequence[float], **kwargs) -> list[dict]:
    """Backtest at several cutoffs (one :func:`backtest` each; fits reuse compiled code).

    All cutoffs are checked before any fit, so a bad one fails at once.
    """
    for c in cutoffs:
        split_runs(runs, c, law)
    return [backtest(runs, law, c, **kwargs) for c in cutoffs]
