"""Which composition suits a task seen at several lengths: fitted ``gamma_k`` or i.i.d. steps.

A table that holds one task at several lengths (``--k``, e.g. 2- and 3-digit addition) is fitted
twice with the same law, groups and likelihood: once with ``gamma_k`` learnt
(``acc_k = acc_ref^((k / k_ref)^gamma_k)``) and once with ``gamma_k = 1`` (i.i.d. steps,
``P_k = p^k``). Both see the same rows through the same likelihood, so their pointwise
log-likelihoods are comparable: PSIS-LOO ranks them (the difference of ``elpd_loo`` with its
standard error, ``az.compare``). With a cutoff, each is also backtested
(:func:`forecast.questions.backtest.backtest`): fitted below it, scored above it, length by
length, which is what a forecast of a longer task needs.
"""

from __future__ import annotations

import warnings

import numpy as np

from forecast.inference.groups import IID_STEPS
from forecast.laws import get_law
from forecast.runs import Runs

__all__ = ["COMPOSITIONS", "compare_compositions"]

COMPOSITIONS = {"fitted": None, "iid": IID_STEPS}  # the user priors of each


def compare_compositions(runs: Runs, law, k: str, *, cutoff: float | None = None,
                         settings=None, seed: int = 0, group: str | None = None,
                         trials: str | int | None = None, n_boot: int = 200) -> dict:
    """Fit the fitted and the i.i.d. composition to ``runs``; rank by PSIS-LOO (and a cutoff).

    Parameters
    ----------
    runs : Runs
        One task at several lengths (column ``k``), read for an accuracy law.
    law : forecast.laws.Law or str
        ``logistic`` or ``cloglog``.
    k : str
        The column of task lengths.
    cutoff : float, optional
        Also backtest each composition: fit at or below this compute, score the rest.
    settings, seed, group, trials, n_boot
        As for :func:`forecast.questions.backtest.backtest`.

    Returns
    -------
    dict
        ``compositions``: per composition ``elpd_loo``, ``se``, ``p_loo``, ``pareto_k_bad``,
        ``gamma_k`` (quantiles), ``divergences`` and, with a cutoff, ``backtest`` (pooled and
        per length: 90% coverage, MAE); ``elpd_diff`` and ``dse`` (the i.i.d. fit's
        ``elpd_loo`` below the fitted one's, and its standard error), ``best_loo``; with a
        cutoff, ``best_backtest`` (the lower MAE of the longest length).
    """
    import arviz as az

    from forecast.inference.fitting import fit
    from forecast.questions.backtest import backtest

    law = get_law(law)
    fits, rows = {}, {}
    for name, priors in COMPOSITIONS.items():
        fits[name] = fit(runs, law, priors=priors, settings=settings, group=group,
                         trials=trials, k=k, extrapolation="none")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ArviZ warns of high Pareto k; it is reported
            loo = az.loo(fits[name].idata, pointwise=True)
        rows[name] = {"composition": name, "elpd_loo": float(loo.elpd_loo),
                      "se": float(loo.se), "p_loo": float(loo.p_loo),
                      "pareto_k_bad": int((np.asarray(loo.pareto_k) > 0.7).sum()),
                      "gamma_k": fits[name].summary["composition"]["gamma_k"],
                      "divergences": fits[name].summary["divergences"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare({n: f.idata for n, f in fits.items()}, ic="loo")
    out = {"law": law.name, "k": k, "y": runs.y_name, "source": runs.source,
           "n_runs": len(runs), "best_loo": str(table.index[0]),
           "elpd_diff": float(rows["fitted"]["elpd_loo"] - rows["iid"]["elpd_loo"]),
           "dse": float(table["dse"].iloc[1])}
    if cutoff is not None:
        longest = None
        for name, priors in COMPOSITIONS.items():
            bt = backtest(runs, law, cutoff, settings=settings, priors=priors, n_boot=n_boot,
                          seed=seed, extrapolation="none", group=group, trials=trials, k=k)
            lengths = bt["by_length"]["lengths"]
            longest = max(lengths, key=float)
            rows[name]["backtest"] = {
                "cutoff": float(cutoff), "n_fit": bt["n_fit"], "n_test": bt["n_test"],
                "coverage_90": bt["model"]["coverage"]["90"], "mae": bt["model"]["mae"],
                "by_length": {v: {"n_test": p["n_test"],
                                  "coverage_90": p["model"]["coverage"]["90"],
                                  "mae": p["model"]["mae"]} for v, p in lengths.items()}}
        out["best_backtest"] = min(
            rows, key=lambda n: rows[n]["backtest"]["by_length"][longest]["mae"])
    out["compositions"] = [rows[n] for n in COMPOSITIONS]
    return out
