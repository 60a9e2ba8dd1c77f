"""Diagnostics of a fit: posterior summaries, sampler checks and warnings about the data.

:func:`diagnostics` summarises each parameter (quantiles, R-hat, ESS) and says what is wrong
with the sampling; :func:`against_bounds`, :func:`memorisation` and :func:`chance_floor_hint`
warn when the data, not the sampler, make a fit untrustworthy. Each warning says what it means
and what to try.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from forecast.inference.sampling import ESS_MIN, RHAT_MAX
from forecast.laws import Law
from forecast.runs import Runs

__all__ = ["QUANTILES", "against_bounds", "chance_floor_hint", "diagnostics", "group_summary",
           "memorisation", "quantiles"]

QUANTILES = {"q05": 0.05, "q25": 0.25, "median": 0.5, "q75": 0.75, "q95": 0.95}


def quantiles(x: np.ndarray) -> dict[str, float]:
    """Return the summary quantiles (:data:`QUANTILES`) of draws."""
    qs = np.quantile(x, list(QUANTILES.values()))
    return {k: float(v) for k, v in zip(QUANTILES, qs, strict=True)}


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def against_bounds(idata, priors: dict) -> list[str]:
    """Warn when the posterior piles up against a bound of its prior."""
    post = idata.posterior
    out = []
    if "E_scaled" in post:
        at_zero = float((np.asarray(post["E_scaled"]) < 0.02).mean())
        if at_zero > 0.2:
            out.append(
                f"E piles up at 0 ({at_zero:.0%} of draws below 2% of the typical metric): the "
                "runs show no floor, so E is set by its prior and so is every forecast far "
                "beyond the data; try --law pure, add larger runs, or give E a prior"
            )
    for name, spec in priors.items():
        if spec.get("dist") != "Uniform" or name not in post:
            continue
        x = np.asarray(post[name]).reshape(-1)
        width = spec["upper"] - spec["lower"]
        near = float(((x - spec["lower"] < 0.01 * width) | (spec["upper"] - x < 0.01 * width))
                     .mean())
        if near > 0.1:
            out.append(
                f"{name} piles up against a bound of its Uniform({spec['lower']:g}, "
                f"{spec['upper']:g}) prior ({near:.0%} of draws within 1% of it): the prior, "
                "not the data, sets it; widen the prior"
            )
    return out


def diagnostics(idata, law: Law, extra: tuple[str, ...] = ()) -> tuple[dict, int, list[str]]:
    """Summarise the posterior of the law's parameters (and ``extra`` ones) with diagnostics.

    Returns
    -------
    (dict, int, list of str)
        Per parameter: quantiles, mean, sd, R-hat, bulk and tail ESS; the number of divergent
        transitions; and the warnings (R-hat above 1.01, bulk ESS below 400, divergences), each
        saying what it means and what to try. Parameters fixed by their prior are not flagged.
    """
    import arviz as az

    names = list(law.params) + list(extra)
    with warnings.catch_warnings():
        # a parameter fixed by its prior has zero variance: ArviZ divides 0 by 0 for its R-hat
        warnings.simplefilter("ignore", RuntimeWarning)
        stats = az.summary(idata, var_names=names, kind="diagnostics")
    params = {}
    for name in names:
        x = np.asarray(idata.posterior[name]).reshape(-1)
        params[name] = {**quantiles(x), "mean": float(x.mean()), "sd": float(x.std()),
                        "r_hat": _finite(stats.loc[name, "r_hat"]),
                        "ess_bulk": _finite(stats.loc[name, "ess_bulk"]),
                        "ess_tail": _finite(stats.loc[name, "ess_tail"])}
    divergences = int(np.asarray(idata.sample_stats["diverging"]).sum())
    problems = []
    # a parameter fixed by its prior (e.g. a chance floor) has no R-hat or ESS to check
    sampled = [n for n in names if params[n]["sd"] > 0]
    bad_rhat = [n for n in sampled if (params[n]["r_hat"] or np.inf) > RHAT_MAX]
    low_ess = [n for n in sampled if (params[n]["ess_bulk"] or 0.0) < ESS_MIN]
    if divergences:
        problems.append(
            f"{divergences} divergent transition(s): the posterior has regions the sampler "
            "could not follow, so intervals may be wrong; try --tune 2000, more runs, or a "
            "simpler law"
        )
    if bad_rhat:
        problems.append(
            f"R-hat above {RHAT_MAX} for {', '.join(bad_rhat)}: the chains disagree; run longer "
            "(--draws 2000 --tune 2000) or check the law suits the data"
        )
    if low_ess:
        problems.append(
            f"bulk ESS below {ESS_MIN} for {', '.join(low_ess)}: too few effective draws for "
            "stable 5%/95% quantiles; run longer (--draws 2000)"
        )
    return params, divergences, problems


MEMORISATION_RATIO = 10.0  # held-out loss this many times the training loss: memorising
MEMORISATION_SHARE = 0.2  # ... judged on this share of the runs with the most compute
MEMORISATION_MIN = 3  # ... and on at least this many runs with a training loss


def memorisation(runs: Runs, law: Law) -> str | None:
    """Warn when the largest runs fit their training set far better than the held-out loss.

    With a ``train_loss`` column beside a fitted held-out loss (a ``y`` column whose name
    contains "loss"), compare the two on the runs with the most compute (the top
    :data:`MEMORISATION_SHARE`, at least :data:`MEMORISATION_MIN` with a training loss). A median
    ratio of held-out to training loss above :data:`MEMORISATION_RATIO` means the models
    memorise their training set; the held-out loss can then fall abruptly, long after
    (grokking, Power et al. 2022), and a law of compute fitted before that does not forecast it.

    Returns
    -------
    str or None
        The warning, or None (no ``train_loss`` column, a metric that is not a loss, too few
        rows with a training loss, or no gap).
    """
    import pandas as pd

    if (law.metric == "unit" or "loss" not in runs.y_name or runs.y_name == "train_loss"
            or "train_loss" not in runs.frame):
        return None
    train = pd.to_numeric(runs.frame["train_loss"], errors="coerce").to_numpy(float)
    n = max(MEMORISATION_MIN, math.ceil(MEMORISATION_SHARE * len(runs)))
    top = np.argsort(runs.flops, kind="stable")[-n:]
    ok = top[np.isfinite(train[top]) & (train[top] >= 0)]
    if len(ok) < MEMORISATION_MIN:
        return None
    with np.errstate(divide="ignore"):
        ratio = float(np.median(runs.y[ok] / train[ok]))  # a training loss of 0: infinite
    if ratio <= MEMORISATION_RATIO:
        return None
    times = f"{ratio:.0f}x" if math.isfinite(ratio) else "infinitely many times"
    return (f"memorisation: on the {len(ok)} runs with the most compute, {runs.y_name} is a "
            f"median {times} the training loss ({np.median(runs.y[ok]):.3g} against "
            f"{np.median(train[ok]):.3g}): the models fit their training set, and the held-out "
            f"loss may later drop abruptly (grokking), which a law of compute does not forecast; "
            f"do not trust forecasts beyond these runs")


CHANCE_HINT = 0.05  # with floor 0, every run's accuracy at least this suggests a chance level


def chance_floor_hint(acc: np.ndarray, floor: dict, column: str) -> str | None:
    """Warn when the link's floor is 0 but no run's accuracy comes near 0.

    A task with a chance level (0.1 for a decimal digit) never scores below it, and a floor of 0
    then makes the link explain chance-level runs as partly learned, which can split the
    posterior in two. Returns the warning, or ``None``.
    """
    lowest = float(np.min(acc))
    if floor.get("dist") != "Fixed" or floor.get("value") != 0 or lowest < CHANCE_HINT:
        return None
    return (f"--acc {column}: every run's accuracy is at least {lowest:.2g}, but the link's "
            f"floor (chance level) is 0; if the task has a chance level (0.1 for a decimal "
            f"digit), fix it in the priors TOML: [floor] dist = \"Fixed\" value = 0.1")


def group_summary(idata, column: str) -> tuple[dict, list[str]]:
    """Summarise the group offsets of a fit with ``--group``, in decades of compute.

    Returns
    -------
    (dict, list of str)
        ``column``, ``tau_decades`` (quantiles of the offsets' scale) and per group its
        ``offset_decades`` (quantiles, mean, sd, R-hat, bulk ESS) and ``n_runs``; and the
        convergence warnings of the offsets.
    """
    import arviz as az

    post = idata.posterior
    names = [str(g) for g in np.asarray(post["offset"].coords["group"])]
    counts = np.bincount(np.asarray(idata.constant_data["group_index"], dtype=int),
                         minlength=len(names))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        stats = az.summary(idata, var_names=["offset"], kind="diagnostics")
    offsets = np.asarray(post["offset"]).reshape(-1, len(names)) / np.log(10.0)
    groups, bad = {}, []
    for j, name in enumerate(names):
        row = stats.iloc[j]
        x = offsets[:, j]
        groups[name] = {**quantiles(x), "mean": float(x.mean()), "sd": float(x.std()),
                        "r_hat": _finite(row["r_hat"]), "ess_bulk": _finite(row["ess_bulk"]),
                        "n_runs": int(counts[j])}
        if (groups[name]["r_hat"] or np.inf) > RHAT_MAX or \
                (groups[name]["ess_bulk"] or 0.0) < ESS_MIN:
            bad.append(name)
    tau = np.asarray(post["tau_group"]).reshape(-1) / np.log(10.0)
    problems = []
    if bad:
        problems.append(f"the compute offsets of {', '.join(bad)} did not converge (R-hat above "
                        f"{RHAT_MAX} or bulk ESS below {ESS_MIN}); run longer (--draws 2000)")
    return {"column": column, "tau_decades": quantiles(tau), "groups": groups}, problems
