"""Backtests: fit on the runs at or below a compute cutoff, forecast the runs above, score.

Scores (the same for the Bayesian model and for the point-fit baseline of
:mod:`forecast.questions.baseline`):

- ``median_ape``: median over held-out runs of ``|point - y| / y``, in percent; the model's point
  is the posterior median of the law's mean, the baseline's its best fit;
- ``coverage``: the fraction of held-out runs inside the central 50/80/90/95% interval of the
  predictive draws;
- ``crps``: the continuous ranked probability score from the draws, averaged over runs, in the
  metric's units (lower is better; it equals the absolute error for a point forecast).

The model's predictive draws are for a *new run*, not for the mean: at each posterior draw the
law's mean times ``exp(sigma * t_nu + kappa * d * z)``: the Student-t noise in log space of the
fitted model, plus, ``d`` decades beyond the largest fitted compute, the fit's extrapolation
error (:mod:`forecast.inference.extrapolation`); a Beta draw for accuracy laws. The baseline's are
the bootstrap percentile intervals of the curve, as the usual procedure reports them, and, as
``baseline_noise``, the same with a resampled residual of the fit added (a predictive interval
for it too).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from forecast.errors import InputError
from forecast.laws import Law, get_law
from forecast.questions.baseline import fit_baseline
from forecast.questions.crossings import crossing_scores, require_exact
from forecast.questions.direct import fit_direct
from forecast.questions.predictive import model_draws
from forecast.runs import Runs

__all__ = ["LEVELS", "backtest", "crps", "fit_and_score", "held_out_scores", "part_scores",
           "score", "split_of", "split_runs", "sweep"]

LEVELS = (50, 80, 90, 95)


def split_runs(runs: Runs, cutoff: float, law: Law | str) -> tuple[Runs, Runs]:
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
            f"'{spec.name}' needs at least {need} to fit; raise the cutoff (compute spans "
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
            f"compute (or params and tokens) to fit law '{spec.name}'; raise the cutoff"
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
        ``median_ape`` (percent), ``mae`` (mean absolute error, in the metric's units: accuracy
        points for an accuracy), ``coverage`` (``{"50", "80", "90", "95"}`` fractions) and
        ``crps`` (mean, in the metric's units).
    """
    y = np.asarray(y, dtype=float)
    point = np.median(draws, axis=0) if point is None else np.asarray(point, dtype=float)
    coverage = {}
    for level in LEVELS:
        lo, hi = np.quantile(draws, [0.5 - level / 200, 0.5 + level / 200], axis=0)
        coverage[str(level)] = float(np.mean((y >= lo) & (y <= hi)))
    with np.errstate(divide="ignore", invalid="ignore"):  # an accuracy of 0: an APE of inf
        ape = np.abs(point - y) / np.abs(y)
    return {"median_ape": float(np.median(ape) * 100), "mae": float(np.mean(np.abs(point - y))),
            "coverage": coverage, "crps": float(np.mean(crps(draws, y)))}


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


def fit_and_score(fit_runs: Runs, test: Runs, law: Law, *, settings, priors, n_boot: int,
                   seed: int, extrapolation: str, group: str | None, trials,
                   run: str | None = None, k: str | None = None,
                   task: str | None = None) -> tuple:
    """Fit the model, the point fit and (for an accuracy) the direct law; draw for ``test``.

    With ``k`` (one task at several lengths) or ``task`` (several tasks) the point fit and the
    direct law are fitted to each length or task apart, the model to all of them.

    Returns the fit, the result's common part and the draws ``(mean, pred, base_draws,
    base_point)`` (plus the direct law's draws and point, or None) for pooling.
    """
    from forecast.inference.fitting import fit

    t0 = time.perf_counter()
    result = fit(fit_runs, law, priors=priors, settings=settings, extrapolation=extrapolation,
                 group=group, trials=trials, run=run, k=k, task=task)
    t1 = time.perf_counter()
    rng = np.random.default_rng(seed)
    mean, pred = model_draws(result, test, rng)
    split = split_of(k, task)
    if split is None:
        base_raw, *others = _baselines(fit_runs, test, law, n_boot, seed, rng)
    else:
        base_raw, *others = _baselines_by(fit_runs, test, law, split, n_boot, seed, rng)
    base_point, base_draws, base_noise, direct = others
    t2 = time.perf_counter()
    noise = [n for n in ("sigma", "nu", "kappa") if n in result.idata.posterior]
    common = {
        "law": law.name, "y": fit_runs.y_name, "source": fit_runs.source,
        "n_fit": len(fit_runs), "n_test": len(test),
        "params": {name: {q: p[q] for q in ("median", "q05", "q95")}
                   for name, p in result.summary["params"].items()},
        "noise": {n: float(np.median(result.draws(n))) for n in noise},
        "extrapolation": result.extrapolation,
        "baseline_params": base_raw,
        "seconds": {"fit": t1 - t0, "baseline": t2 - t1},
        "divergences": result.summary["divergences"],
        "warnings": result.summary["warnings"],
    }
    if "groups" in result.summary:
        common["groups"] = result.summary["groups"]
    for key in ("composition", "tasks"):
        if key in result.summary:
            common[key] = result.summary[key]
    return result, common, (mean, pred, base_point, base_draws, base_noise, direct)


def _baselines(fit_runs: Runs, test: Runs, law: Law, n_boot: int, seed: int,
               rng: np.random.Generator) -> tuple:
    """Fit the point fit and the direct law: parameters, point, draws, noisy draws, direct."""
    base = fit_baseline(fit_runs, law, n_boot=n_boot, seed=seed)
    base_point, base_draws = base.predict(test), base.draws(test)
    base_noise = base.draws(test, rng=rng, noise=True)
    direct = None
    if law.metric == "unit":  # the direct law of downstream accuracy, scored beside the model
        d = fit_direct(fit_runs)
        direct = (d.draws(test, rng), d.point(test), {"a": d.a, "b": d.b, "s": d.s})
    return base.raw, base_point, base_draws, base_noise, direct


def _split_labels(runs: Runs, split: tuple[str, str]) -> np.ndarray:
    """Each run's part: its length (``("k", column)``) or its task (``("task", column)``)."""
    kind, column = split
    if kind == "k":
        return np.array([f"{v:g}" for v in runs.column(column)])
    return runs.labels(column)


def _baselines_by(fit_runs: Runs, test: Runs, law: Law, split: tuple[str, str], n_boot: int,
                  seed: int, rng: np.random.Generator) -> tuple:
    """:func:`_baselines` fitted to each length or task apart, stitched in ``test``'s order."""
    kind, column = split
    at_fit, at_test = _split_labels(fit_runs, split), _split_labels(test, split)
    names = sorted(set(at_test.tolist()))
    missing = [v for v in names if (at_fit == v).sum() < law.n_params + 2]
    if missing:
        raise InputError(f"{fit_runs.source}: --{kind} {column}: {kind} {missing[0]} has "
                         f"{int((at_fit == missing[0]).sum())} runs to fit; the point fit and "
                         f"the direct law of each {kind} need more")
    parts = {v: _baselines(fit_runs.subset(at_fit == v), test.subset(at_test == v), law,
                           n_boot, seed, rng) for v in names}

    def stitch(i: int, j: int | None = None) -> np.ndarray:
        first = parts[names[0]][i] if j is None else parts[names[0]][i][j]
        out = np.empty(first.shape[:-1] + (len(test),))
        for v, part in parts.items():
            out[..., at_test == v] = part[i] if j is None else part[i][j]
        return out

    direct = None
    if law.metric == "unit":
        direct = (stitch(4, 0), stitch(4, 1), {f"{kind}={v}": p[4][2] for v, p in parts.items()})
    return ({f"{kind}={v}": p[0] for v, p in parts.items()}, stitch(1), stitch(2), stitch(3),
            direct)


def part_scores(test: Runs, draws: tuple, split: tuple[str, str], rows: list[dict]) -> dict:
    """``by_length`` or ``by_task``: the model's, point fit's and direct law's scores of each.

    Also labels each row of ``rows`` (the held-out runs) with its length ``k`` or its task.
    """
    mean, pred, base_point, base_draws, _, direct = draws
    kind, column = split
    labels = _split_labels(test, split)
    for row, v in zip(rows, labels, strict=True):
        row[kind] = float(v) if kind == "k" else str(v)
    out = {}
    for v in sorted(set(labels.tolist())):
        m = labels == v
        out[v] = {"n_test": int(m.sum()),
                  "model": score(pred[:, m], test.y[m], np.median(mean[:, m], axis=0)),
                  "baseline": score(base_draws[:, m], test.y[m], base_point[m])}
        if direct is not None:
            out[v]["direct"] = score(direct[0][:, m], test.y[m], direct[1][m])
    if kind == "k":
        return {"by_length": {"column": column, "lengths": out}}
    return {"by_task": {"column": column, "tasks": out}}


def split_of(k: str | None, task: str | None) -> tuple[str, str] | None:
    """Return the parts a backtest scores apart: lengths (``--k``), tasks (``--task``), or None."""
    return ("k", k) if k is not None else ("task", task) if task is not None else None


def held_out_scores(test: Runs, draws: tuple, group: str | None) -> dict:
    """Score one set of held-out runs from their draws (:func:`fit_and_score`'s third part).

    Returns the ``model``, ``baseline``, ``baseline_noise`` (and ``direct``) scores and
    ``runs``, one row per held-out run (with its group under ``group``).
    """
    mean, pred, base_point, base_draws, base_noise, direct = draws
    out = {"model": score(pred, test.y, np.median(mean, axis=0)),
           "baseline": score(base_draws, test.y, base_point),
           "baseline_noise": score(base_noise, test.y, base_point),
           "runs": _per_run(test, mean, pred, base_point, base_draws)}
    if direct is not None:
        out["direct"] = score(direct[0], test.y, direct[1])
        out["direct_params"] = direct[2]
    if group is not None:
        for row, label in zip(out["runs"], test.labels(group), strict=True):
            row["group"] = str(label)
    return out


def backtest(runs: Runs, law: Law | str, cutoff: float, *, settings=None,
             priors: dict | None = None,
             n_boot: int = 200, seed: int = 0, steps: Sequence[int] = (),
             threshold: float = 0.5, extrapolation: str = "lfo", group: str | None = None,
             trials: str | int | None = None, run: str | None = None,
             k: str | None = None, task: str | None = None) -> dict:
    """Fit the model and the baseline below ``cutoff`` and score both on the runs above it.

    Parameters
    ----------
    runs : Runs
        All runs, read for ``law``.
    law : forecast.laws.Law or str
        The law to fit.
    cutoff : float
        Compute in FLOPs: runs at or below it are fitted, the rest forecast.
    settings : forecast.inference.sampling.SamplerSettings, optional
        Sampler settings of the Bayesian fit.
    priors : dict, optional
        User priors of the Bayesian fit.
    n_boot : int
        Bootstrap resamples of the baseline.
    seed : int
        Seed of the predictive noise and of the bootstrap.
    steps : sequence of int
        Chain lengths k for the crossing backtest (needs columns ``exact_k{k}`` and a fit of a
        per-step loss, e.g. ``step_loss``); empty for none.
    threshold : float
        Success level of the crossing backtest.
    extrapolation : {"lfo", "none"}
        Whether the fit estimates its extrapolation error (see
        :func:`forecast.inference.fitting.fit`).
    group, trials
        The fit's ``--group`` column and ``--trials`` (see :func:`forecast.inference.fitting.fit`);
        a held-out run of a group absent below the cutoff is forecast as a new group's.
    run : str, optional
        The fit's ``--run`` column (checkpoints): a held-out checkpoint of a training run seen
        below the cutoff takes that run's level, one of a new run a draw from the population.
    k : str, optional
        The fit's ``--k`` column (one task at several lengths): the model learns its
        composition from all lengths; the point fit and the direct law are fitted to each
        length apart; ``by_length`` scores each length's held-out runs.
    task : str, optional
        The fit's ``--task`` column (several tasks sharing the groups' offsets): likewise,
        ``by_task`` scores each task's held-out runs.

    Returns
    -------
    dict
        ``cutoff``, ``law``, ``n_fit``, ``n_test``, ``model`` and ``baseline`` scores (see
        :func:`score`), ``baseline_noise``, the fit's ``params`` (median, q05, q95), ``noise``
        (median sigma and nu, or kappa), ``baseline_params``, ``seconds`` (fit and baseline),
        ``divergences`` and ``warnings``, and ``runs`` (per held-out run: observed, model median
        and 90% interval, baseline, and with ``group`` its group); for a law of accuracy,
        ``direct`` (the scores of :mod:`forecast.questions.direct`'s law) and
        ``direct_params``; with ``group``, the fit's ``groups``; with ``steps``, ``crossing``
        (see :func:`crossing_scores`).

    Raises
    ------
    InputError
        If the cutoff leaves too few runs to fit or none to test.
    """
    law = get_law(law)
    fit_runs, test = split_runs(runs, cutoff, law)
    require_exact(runs, steps)
    result, common, draws = fit_and_score(
        fit_runs, test, law, settings=settings, priors=priors, n_boot=n_boot, seed=seed,
        extrapolation=extrapolation, group=group, trials=trials, run=run, k=k, task=task)
    out = {"cutoff": float(cutoff), **common, **held_out_scores(test, draws, group)}
    if split_of(k, task) is not None:
        out.update(part_scores(test, draws, split_of(k, task), out["runs"]))
    if steps:
        out["threshold"] = threshold
        out["crossing"] = crossing_scores(result, runs, steps, cutoff, threshold=threshold)
    return out


def sweep(runs: Runs, law: Law | str, cutoffs: Sequence[float], *,
          scheduler: str | None = None, **kwargs) -> list[dict]:
    """Backtest at several cutoffs (one :func:`backtest` each; fits reuse compiled code).

    All cutoffs are checked before any fit, so a bad one fails at once. Locally the garbage of
    each fit (cyclic PyTensor graphs) is collected before the next, which matters under the
    command line's lazier collector (:func:`forecast.cli.run`). With ``scheduler`` (a Dask
    scheduler's address, :func:`forecast.cluster.map_tasks`) the cutoffs are fitted on the
    cluster's workers, with the same results.
    """
    import functools
    import gc

    from forecast.cluster import map_tasks

    law = get_law(law)
    for c in cutoffs:
        split_runs(runs, c, law)
    if scheduler is not None:
        return map_tasks(functools.partial(_backtest_at, runs, law, kwargs), cutoffs,
                         scheduler=scheduler)
    out = []
    for c in cutoffs:
        out.append(backtest(runs, law, c, **kwargs))
        gc.collect()
    return out


def _backtest_at(runs: Runs, law: Law, kwargs: dict, cutoff: float) -> dict:
    return backtest(runs, law, cutoff, **kwargs)
