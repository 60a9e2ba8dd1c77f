"""Fitting a scaling law: sampling and the summary.

:func:`fit` is the one entry point: runs in, a :class:`~forecast.inference.result.Fit` out (an
ArviZ ``InferenceData`` with the posterior in raw units added, and the summary of DESIGN.md
section 3); :mod:`forecast.inference.result` saves and loads it.
"""

from __future__ import annotations

import json

import numpy as np

from forecast import __version__
from forecast.errors import InputError
from forecast.inference.diagnostics import (
    against_bounds,
    chance_floor_hint,
    diagnostics,
    group_summary,
    memorisation,
    quantiles,
)
from forecast.inference.groups import add_part_priors, checked_parts, pop_part_priors
from forecast.inference.result import Fit, load_fit
from forecast.inference.sampling import SamplerSettings, interrupt_cleanly, sample
from forecast.laws import Law, compute_optimal, get_law, to_raw
from forecast.runs import Runs

# Fit and load_fit live in forecast.inference.result; they are named here too, where the
# command line and notebooks have always found them
__all__ = ["Fit", "SamplerSettings", "fit", "load_fit", "optimal_allocation"]


def _add_raw(group, law: Law, refs: dict[str, float]) -> None:
    """Add the raw-unit parameters of the law to a posterior or prior dataset, in place."""
    theta = {name.removesuffix("_scaled"): group[name] for name in group.data_vars
             if name != "obs"}
    for name, value in to_raw(law, theta, refs).items():
        if name not in group:
            group[name] = value


def optimal_allocation(fit: Fit, budget: float) -> dict:
    """Compute-optimal model size and tokens for a budget under the ``chinchilla`` law.

    Closed form per draw (:func:`forecast.laws.compute_optimal`, Hoffmann et al. 2022, eq. 4).

    Returns
    -------
    dict
        Quantiles of ``N*``, ``D*``, tokens per parameter and the loss at the optimum.
    """
    if fit.law.name != "chinchilla":
        raise InputError("--budget allocation needs a fit of --law chinchilla")
    r = fit.raw()
    n_opt, d_opt = compute_optimal(r, budget)
    loss = r["E"] + r["A"] * n_opt ** -r["alpha"] + r["B"] * d_opt ** -r["beta"]
    return {"budget": float(budget), "params": quantiles(n_opt), "tokens": quantiles(d_opt),
            "tokens_per_param": quantiles(d_opt / n_opt), "loss": quantiles(loss)}


def _accuracy(runs: Runs, column: str, law: Law) -> np.ndarray:
    """Return the per-step accuracy column for the weibull link, checked to lie in [0, 1]."""
    if law.metric != "positive" or "C" not in law.covariates:
        raise InputError(f"--acc needs a loss law of compute (power, pure, broken), not "
                         f"'{law.name}'")
    acc = runs.column(column, what="for --acc")
    if ((acc < 0) | (acc > 1)).any():
        i = int(np.argmax((acc < 0) | (acc > 1)))
        raise InputError(f"{runs.source}: line {i + 2}, column '{column}' is {acc[i]:g}; "
                         "--acc takes an accuracy in [0, 1] (divide percentages by 100)")
    return acc


def _add_link_raw(group, y0: float) -> None:
    """Add the weibull link's raw-unit ``L0`` (nats) to a group, in place (``s`` has no units)."""
    if "L0_scaled" in group:
        group["L0"] = group["L0_scaled"] * y0


def _task_diagnostics(idata, law: Law, extra: tuple, data) -> tuple:
    """:func:`diagnostics` of each task's parameters (``--task``) and of the shared ones.

    Returns the shared parameters' summary, the divergences, the warnings (a warning of every
    task once, one of some tasks with their names) and per task ``params`` (its own) and
    ``n_runs``.
    """
    names = list(law.params) + list(extra)
    own = [n for n in names if "task" in idata.posterior[n].dims]
    tasks, issues = {}, {}
    for j, name in enumerate(data.task_names):
        params, divergences, issues[name] = diagnostics(idata.sel(task=name), law, extra)
        tasks[name] = {"params": {n: params[n] for n in own},
                       "n_runs": int(np.sum(data.task_index == j))}
    every = set.intersection(*(set(v) for v in issues.values()))
    problems = [p for p in issues[data.task_names[0]] if p in every]
    problems += [f"task {t}: {p}" for t, v in issues.items() for p in v if p not in every]
    shared = {n: params[n] for n in names if n not in own}
    return shared, divergences, problems, tasks


def composition_summary(idata, column: str, data, resolved: dict) -> dict:
    """Summarise what ``--k`` fitted: the lengths, the form, and ``gamma_k`` (1: i.i.d. steps)."""
    lengths = np.unique(np.asarray(data.k_ratio) * data.k_ref)
    fixed = resolved["gamma_k"]["dist"] == "Fixed"
    return {"k": column, "k_ref": data.k_ref, "lengths": [float(v) for v in lengths],
            "form": "acc_k = acc_ref^((k / k_ref)^gamma_k)",
            "gamma_k": quantiles(np.asarray(idata.posterior["gamma_k"]).reshape(-1)),
            "steps": "i.i.d. (gamma_k fixed at 1)" if fixed else "fitted"}


def fit(runs: Runs, law: Law | str = "power", *, priors: dict | None = None,
        settings: SamplerSettings | None = None, priors_source: str = "priors",
        acc: str | None = None, extrapolation: str = "lfo", group: str | None = None,
        trials: str | int | None = None, run: str | None = None, k: str | None = None,
        task: str | None = None) -> Fit:
    """Fit a scaling law to runs with NUTS.

    Parameters
    ----------
    runs : Runs
        Validated runs (:func:`forecast.runs.read_runs`), read for this law.
    law : forecast.laws.Law or str
        The law, or the name of one of :data:`forecast.laws.LAWS`.
    priors : dict, optional
        User priors overriding the defaults (see :mod:`forecast.inference.priors`).
    settings : SamplerSettings, optional
        Draws, tuning steps, chains and seed.
    priors_source : str
        Where the user priors came from, for error messages.
    acc : str, optional
        A per-step accuracy column of the runs: fit the weibull link ``acc = floor + (1 - floor)
        exp(-(L(C) / L0)^s)`` jointly with the loss law (priors of ``floor``, ``s``,
        ``L0_scaled``, ``kappa`` in :data:`forecast.inference.model.LINK_PRIORS`, overridable like
        the law's).
    extrapolation : {"lfo", "none"}
        ``"lfo"`` (default) also estimates the law's extrapolation error by leave-future-out on
        these runs (:func:`forecast.inference.extrapolation.calibrate`), which widens every
        forecast for a new run beyond the largest fitted compute; ``"none"`` leaves it out.
    group : str, optional
        A column of labels (a model family): each group gets an offset in log compute,
        partially pooled (:func:`forecast.inference.model.build_model`; prior of
        ``tau_group`` in :data:`forecast.inference.model.GROUP_PRIORS`). Laws of compute only.
    trials : int or str, optional
        Items behind each accuracy (a number, or a column of numbers): the likelihood becomes
        binomial, with a logit random effect per run (``sigma_logit``) in place of the Beta
        likelihood's ``kappa``. Accuracy laws only.
    run : str, optional
        A column naming each row's training run (a table of checkpoints, or of a model's
        tasks): each run gets a level, partially pooled (scale ``sigma_run``), so its rows
        share one deviation from the law: in log loss for a loss law
        (:data:`forecast.inference.groups.RUN_PRIORS`; drop each run's first steps before,
        ``Runs.drop_first``), in log compute for an accuracy law
        (:data:`forecast.inference.groups.RUN_COMPUTE_PRIORS`).
    k : str, optional
        A column of task lengths (one task at several lengths, e.g. 2- and 3-digit addition):
        the law is the accuracy at the shortest length ``k_ref`` and a length-``k`` row's is
        ``acc_ref^((k / k_ref)^gamma_k)``, ``gamma_k`` fitted (prior in
        :data:`forecast.inference.groups.STEPS_PRIORS`; fixed at 1 for i.i.d. steps by the
        priors ``{"gamma_k": {"dist": "Fixed", "value": 1.0}}``). Accuracy laws only.
    task : str, optional
        A column of task labels (several tasks of the same models, e.g. four arithmetic tasks):
        each task gets its own slope, midpoint and scatter
        (:data:`forecast.inference.model.PER_TASK`), the groups'
        offsets are shared by all tasks; :meth:`Fit.task_view` is one task's fit. Accuracy
        laws of compute only.

    Returns
    -------
    Fit
        Posterior, prior and posterior predictive, observed data, and the summary.

    Raises
    ------
    InputError
        If the priors are invalid.
    FitError
        If sampling fails.
    """
    from forecast.inference.extrapolation import KAPPA_MAX, calibrate, uncalibrated
    from forecast.inference.geometry import uses_reference
    from forecast.inference.model import (
        LINK_PRIORS,
        build_model,
        data_priors,
        link_priors,
        model_data,
    )
    from forecast.inference.priors import resolve_priors

    spec = get_law(law)
    settings = settings or SamplerSettings()
    if extrapolation not in ("lfo", "none"):
        raise InputError(f"--extrapolation {extrapolation}: use 'lfo' or 'none'")

    checked_parts(runs, spec, group, trials, run, k, task)

    def build(some: Runs):
        acc_values = _accuracy(some, acc, spec) if acc else None
        labels, counts, of, lengths, tasks = checked_parts(some, spec, group, trials, run, k,
                                                           task)
        data = model_data(some, spec, acc=acc_values, groups=labels, trials=counts, runs_of=of,
                          steps=lengths, tasks=tasks)
        user = dict(priors or {})
        part_user = pop_part_priors(user, group, trials, run, k)
        if acc and "s_scaled" in user:
            raise InputError(f"{priors_source}: 's_scaled' was the old sigmoid link's slope; the "
                             "weibull link's shape is 's', with no units: rename the table [s]")
        link_user = {k: user.pop(k) for k in list(user) if acc and k in LINK_PRIORS}
        resolved = resolve_priors(spec, user, derived=data_priors(data, spec),
                                  source=priors_source)
        if acc:
            resolved.update(link_priors(link_user, priors_source))
        add_part_priors(resolved, part_user, group, trials, priors_source, run, k,
                        accuracy=spec.metric == "unit")
        return build_model(data, spec, resolved), data, resolved

    model, data, resolved = build(runs)
    natural = (build_model(data, spec, resolved, geometry="natural")
               if uses_reference(spec, resolved) else None)
    with interrupt_cleanly():
        idata = sample(model, settings, prior_model=natural)
        ext = (calibrate(runs, spec, lambda some: build(some)[:2], settings.seed, group, run)
               if extrapolation == "lfo" else uncalibrated(runs, "--extrapolation none"))
    _add_raw(idata.posterior, spec, data.refs)
    _add_raw(idata.prior, spec, data.refs)
    _add_link_raw(idata.posterior, data.refs["y"])
    _add_link_raw(idata.prior, data.refs["y"])
    idata.attrs.update({
        "forecast_version": __version__, "law": spec.name, "y": runs.y_name,
        "source": runs.source, "input_sha256": runs.sha256, "refs": json.dumps(data.refs),
        "priors": json.dumps(resolved, sort_keys=True),
        "sampler": json.dumps(settings.as_dict(), sort_keys=True), "acc": acc or "",
        "acc_link": "weibull" if acc else "",
        "geometry": "reference" if natural is not None else "natural",
        "extrapolation": json.dumps(ext), "group": group or "",
        "trials": "" if trials is None else str(trials), "run": run or "",
        "k": k or "", "k_ref": data.k_ref, "task": task or "",
    })
    link = ("s", "L0") + (() if resolved.get("floor", {}).get("dist") == "Fixed" else ("floor",))
    extra = ((link if acc else ()) + (("tau_group",) if group else ())
             + (("sigma_logit",) if trials is not None else ())
             + (("sigma_run",) if run else ()) + (("gamma_k",) if k else ()))
    if task:
        params, divergences, problems, tasks = _task_diagnostics(idata, spec, extra, data)
    else:
        params, divergences, problems = diagnostics(idata, spec, extra)
    groups = None
    if group:
        groups, group_problems = group_summary(idata, group)
        problems += group_problems
    problems += against_bounds(idata, resolved)
    misfit = []
    if ext["kappa_per_decade"] >= 0.99 * KAPPA_MAX:
        misfit.append(
            f"the extrapolation error reached its bound ({KAPPA_MAX:g} per decade): refitted "
            f"without its largest runs, the law missed them badly, so it does not extrapolate on "
            f"these runs; try another law (`forecast compare`) or more runs")
    gap = memorisation(runs, spec)
    if gap:
        misfit.append(gap)
    hint = chance_floor_hint(data.acc, resolved["floor"], acc) if acc else None
    if hint:
        misfit.append(hint)
    summary = {
        "law": spec.name, "formula": spec.formula, "y": runs.y_name, "n_runs": len(runs),
        "source": runs.source, "input_sha256": runs.sha256,
        "flops_range": [float(runs.flops.min()), float(runs.flops.max())],
        "divergences": divergences, "params": params, "reference_scales": data.refs,
        "sampler": settings.as_dict(), "geometry": idata.attrs["geometry"],
        "warnings": runs.warnings + problems + misfit,
        "converged": not problems, "forecast_version": __version__, "extrapolation": ext,
        # each sampling pass (settings, troubles; the seconds stay in fit.nc so that the same
        # seed gives the same summary); the last is the one kept
        "sampling_passes": [{k: v for k, v in p.items() if k != "seconds"}
                            for p in json.loads(idata.attrs.get("sampling_passes", "[]"))],
    }
    if groups is not None:
        summary["groups"] = groups
    if trials is not None:
        summary["trials"] = str(trials)
    if run:
        summary["checkpoints"] = {"run": run, "training_runs": len(data.run_names),
                                  "rows": len(runs),
                                  "level": "log compute" if spec.metric == "unit" else "log loss"}
    if task:
        summary["tasks"] = tasks
        summary["task"] = task
    if k:
        summary["composition"] = composition_summary(idata, k, data, resolved)
    if acc:
        summary["link"] = {"name": "weibull", "acc": acc, "formula":
                           "acc = floor + (1 - floor) exp(-(L(C) / L0)^s)",
                           "floor": resolved["floor"]}
    return Fit(idata, spec, data.refs, resolved, runs.y_name, summary)
