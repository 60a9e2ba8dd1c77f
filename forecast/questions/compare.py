"""Law comparison: PSIS-LOO, a leave-future-out score, stacking weights, and a choice.

Every law is fitted to the same metric with the same likelihood (``log y`` Student-t around the
law's log mean), so pointwise log-likelihoods are comparable across laws:

- **PSIS-LOO** (``az.loo``/``az.compare`` on the ``log_likelihood`` group of each fit): how well a
  law predicts a run left out at random, i.e. *interpolation*;
- **leave-future-out** (LFO): the law is refitted on the runs at or below a compute cutoff and
  scored on the runs above it by the log predictive density of their ``log y`` (summed), plus the
  backtest scores of :mod:`forecast.questions.backtest`; this is *extrapolation*, what forecasts
  need;
- **stacking weights** of the LOO predictive distributions (Yao et al. 2018).

The chosen law is the one with the best LFO score: LOO favours flexible laws that bend to the
runs in hand, which need not extrapolate.
"""

from __future__ import annotations

import warnings

import numpy as np

from forecast.errors import InputError
from forecast.inference.extrapolation import (
    decades_beyond,
    lfo_cutoff,
    mixing_variances,
    mixture_log_density,
)
from forecast.laws import get_law
from forecast.questions.backtest import score, split_runs
from forecast.questions.predictive import model_draws
from forecast.runs import Runs

__all__ = ["candidate_laws", "compare_laws", "lfo_cutoff", "log_predictive_density"]


def candidate_laws(columns) -> list[str]:
    """Laws of loss that a table's columns allow (``chinchilla`` needs params and tokens)."""
    has = set(columns)
    laws = ["power", "pure", "broken"]
    if "params" in has and ({"tokens", "flops"} & has):
        laws.append("chinchilla")
    return laws


def log_predictive_density(result, test: Runs, rng: np.random.Generator | None = None
                           ) -> np.ndarray:
    """Log predictive density of each held-out run's ``log y`` under a fit (loss laws).

    ``log( mean over draws of p(log y | log L(x), sigma, nu, kappa d) )``, one value per run: the
    Student-t noise, plus the fit's extrapolation error (:mod:`forecast.inference.extrapolation`)
    when it has one, through the normal scale mixture (``rng`` draws its mixing variances).
    """
    from scipy.special import logsumexp
    from scipy.stats import t as student_t

    rng = rng or np.random.default_rng(0)
    with np.errstate(all="ignore"):
        loc = np.log(result.mean(test, rng))
    sigma, nu = result.draws("sigma")[:, None], result.draws("nu")[:, None]
    y = np.log(test.y)
    ext = result.extrapolation
    if ext["kappa_per_decade"] > 0:
        w = mixing_variances(nu, loc.shape, rng)
        d = decades_beyond(test.flops, ext["flops_max"])
        return mixture_log_density(y, loc, sigma, nu, d, ext["kappa_per_decade"], w)
    lp = student_t.logpdf(y[None, :], nu, loc=loc, scale=sigma)
    lp = np.where(np.isfinite(lp), lp, -np.inf)
    return logsumexp(lp, axis=0) - np.log(lp.shape[0])


def compare_laws(runs_by_law: dict[str, Runs], *, cutoff: float | None = None,
                 settings=None, seed: int = 0, extrapolation: str = "lfo",
                 scheduler: str | None = None, group: str | None = None) -> dict:
    """Fit each law on all runs and below a cutoff; rank by PSIS-LOO and leave-future-out.

    Parameters
    ----------
    runs_by_law : dict of str to Runs
        The same runs, read for each law to compare (loss laws only).
    cutoff : float, optional
        LFO cutoff in FLOPs (default: :func:`lfo_cutoff` of the first law's runs).
    settings : forecast.inference.sampling.SamplerSettings, optional
        Sampler settings of every fit.
    scheduler : str, optional
        A Dask scheduler's address: the laws' fits run on its workers
        (:func:`forecast.cluster.map_tasks`), with the same results; scoring stays here.
    seed : int
        Seed of the predictive draws of the LFO scores.
    extrapolation : {"lfo", "none"}
        Whether each fit estimates its extrapolation error (see
        :func:`forecast.inference.fitting.fit`).
    group : str, optional
        A column of groups: every law is fitted with a compute offset per group (``--group``).

    Returns
    -------
    dict
        ``laws``: one row per law with ``elpd_loo``, ``se``, ``p_loo``, ``rank_loo``,
        ``weight`` (stacking), ``pareto_k_bad`` (runs with k > 0.7), ``elpd_lfo`` (summed log
        predictive density of the held-out runs), ``rank_lfo``, ``median_ape`` and
        ``coverage_90`` of the LFO forecast, ``divergences``; ``chosen`` (best LFO),
        ``best_loo``, ``cutoff``, ``n_fit``, ``n_test``.
    """
    import functools

    import arviz as az

    from forecast.cluster import map_tasks

    if not runs_by_law:
        raise InputError("no law to compare; give at least two with --laws")
    laws = {name: get_law(name) for name in runs_by_law}
    for name, law in laws.items():
        if law.metric != "positive":
            raise InputError(f"law '{name}' models an accuracy; compare laws of loss only")
    first = next(iter(runs_by_law.values()))
    cutoff = lfo_cutoff(first) if cutoff is None else float(cutoff)
    splits = {law: split_runs(runs, cutoff, laws[law]) for law, runs in runs_by_law.items()}
    rng = np.random.default_rng(seed)
    jobs = [(runs, laws[law], splits[law][0]) for law, runs in runs_by_law.items()]
    pairs = map_tasks(functools.partial(_fit_pair, settings, extrapolation, group), jobs,
                      scheduler=scheduler)
    fits, rows = {}, {}
    for law, (fits[law], future) in zip(runs_by_law, pairs, strict=True):
        test = splits[law][1]
        mean, pred = model_draws(future, test, rng)
        s = score(pred, test.y, np.median(mean, axis=0))
        loo = az.loo(fits[law].idata, pointwise=True)
        rows[law] = {
            "law": law, "elpd_loo": float(loo.elpd_loo), "se": float(loo.se),
            "p_loo": float(loo.p_loo), "pareto_k_bad": int((loo.pareto_k.values > 0.7).sum()),
            "elpd_lfo": float(log_predictive_density(future, test, rng).sum()),
            "median_ape": s["median_ape"], "coverage_90": s["coverage"]["90"],
            "divergences": fits[law].summary["divergences"] + future.summary["divergences"],
        }
    if len(fits) > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas deprecations inside ArviZ
            table = az.compare({law: f.idata for law, f in fits.items()}, ic="loo",
                               method="stacking")
        for law in fits:
            rows[law]["rank_loo"] = int(table.loc[law, "rank"]) + 1
            rows[law]["weight"] = float(table.loc[law, "weight"])
    else:
        law = next(iter(fits))
        rows[law].update(rank_loo=1, weight=1.0)
    by_lfo = sorted(rows, key=lambda k: -rows[k]["elpd_lfo"])
    for i, law in enumerate(by_lfo):
        rows[law]["rank_lfo"] = i + 1
    fit_runs, test = next(iter(splits.values()))
    return {"laws": [rows[k] for k in by_lfo], "chosen": by_lfo[0],
            "best_loo": min(rows, key=lambda k: rows[k]["rank_loo"]),
            "cutoff": cutoff, "n_fit": len(fit_runs), "n_test": len(test),
            "y": first.y_name, "source": first.source}


def _fit_pair(settings, extrapolation: str, group: str | None, job: tuple):
    """Fit one law on all runs and on those below the cutoff (one task of :func:`compare_laws`)."""
    from forecast.inference.fitting import fit

    runs, law, below = job
    return (fit(runs, law, settings=settings, extrapolation=extrapolation, group=group),
            fit(below, law, settings=settings, extrapolation=extrapolation, group=group))
