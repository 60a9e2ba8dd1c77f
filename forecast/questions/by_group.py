"""Leave-one-group-out backtests: forecast each model family from a fit that never saw it."""

from __future__ import annotations

import functools

import numpy as np

from forecast.errors import InputError
from forecast.laws import Law, get_law
from forecast.questions.backtest import fit_and_score, held_out_scores, part_scores, split_of
from forecast.runs import Runs

__all__ = ["leave_group_out"]


def leave_group_out(runs: Runs, law: Law | str, group: str, *, scheduler: str | None = None,
                    settings=None, priors: dict | None = None, n_boot: int = 200,
                    seed: int = 0, extrapolation: str = "lfo",
                    trials: str | int | None = None, run: str | None = None,
                    k: str | None = None, task: str | None = None) -> dict:
    """Backtest by groups: for each group, fit on all the others and forecast its runs.

    The held-out group is new to the fit, so its forecast integrates over the population of
    group offsets. The pooled scores are those of every run, each forecast by the fit that did
    not see its group; the baseline and the direct law are fitted to the same runs, without
    groups.

    Parameters
    ----------
    runs : Runs
        All runs, read for ``law``.
    law : forecast.laws.Law or str
        The law to fit.
    group : str
        The column of groups (a model family).
    scheduler : str, optional
        A Dask scheduler's address: fit the folds on its workers (:mod:`forecast.cluster`).
    settings, priors, n_boot, seed, extrapolation, trials, run, k, task
        As for :func:`backtest`.

    Returns
    -------
    dict
        ``scheme`` ("leave-group-out"), ``group``, ``law``, ``y``, ``source``, ``n_test`` (all
        runs), the pooled ``model``, ``baseline``, ``baseline_noise`` (and ``direct``) scores,
        ``runs`` (per run, with its group), and ``folds`` (per group: ``n_fit``, ``n_test``, its
        scores, the fit's ``tau_decades``, seconds, divergences, warnings).

    Raises
    ------
    InputError
        If fewer than three groups, or a fold leaves too few runs to fit.
    """
    from forecast.cluster import map_tasks

    law = get_law(law)
    labels = runs.labels(group, what="for --group")
    names = sorted(set(labels))
    if len(names) < 3:
        raise InputError(f"{runs.source}: column '{group}' has {len(names)} group(s); leaving "
                         "one out needs at least 3")
    need = law.n_params + 2
    for g in names:
        if int((labels != g).sum()) < need:
            raise InputError(f"{runs.source}: without group '{g}' only "
                             f"{int((labels != g).sum())} runs remain; law '{law.name}' needs "
                             f"{need}")
    kwargs = {"settings": settings, "priors": priors, "n_boot": n_boot, "seed": seed,
              "extrapolation": extrapolation, "trials": trials, "run": run, "k": k,
              "task": task}
    folds = map_tasks(functools.partial(_fold, runs, law, group, kwargs), names,
                      scheduler=scheduler)
    order = np.concatenate([np.flatnonzero(labels == g) for g in names])
    test = runs.subset(order)
    pooled = tuple(None if parts[0] is None else _pool(parts)
                   for parts in zip(*[f["draws"] for f in folds], strict=True))
    out = {"scheme": "leave-group-out", "group": group, "law": law.name, "y": runs.y_name,
           "source": runs.source, "n_test": len(runs), **held_out_scores(test, pooled, group),
           "folds": [f["fold"] for f in folds]}
    out.pop("direct_params", None)
    if split_of(k, task) is not None:
        out.update(part_scores(test, pooled, split_of(k, task), out["runs"]))
    return out


def _pool(parts: tuple):
    """Join one kind of draws of every fold along the runs (the last axis).

    Folds whose fit drew more draws (a second sampling pass) are thinned evenly to the fewest.
    """
    if isinstance(parts[0], tuple):  # the direct law's (draws, point, params)
        return (_pool([p[0] for p in parts]), _pool([p[1] for p in parts]), None)
    parts = [np.asarray(p) for p in parts]
    if parts[0].ndim == 2:  # draws by runs: a fold that sampled again holds more draws
        m = min(p.shape[0] for p in parts)
        parts = [p[np.linspace(0, p.shape[0] - 1, m).round().astype(int)] for p in parts]
    return np.concatenate(parts, axis=-1)


def _fold(runs: Runs, law: Law, group: str, kwargs: dict, held: str) -> dict:
    labels = runs.labels(group)
    fit_runs, test = runs.subset(labels != held), runs.subset(labels == held)
    _, common, draws = fit_and_score(fit_runs, test, law, group=group, **kwargs)
    scores = held_out_scores(test, draws, group)
    fold = {"group": held, "n_fit": common["n_fit"], "n_test": common["n_test"],
            "model": scores["model"], "tau_decades": common["groups"]["tau_decades"],
            "seconds": common["seconds"], "divergences": common["divergences"],
            "warnings": common["warnings"]}
    return {"fold": fold, "draws": draws}
