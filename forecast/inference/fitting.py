"""Fitting a scaling law: sampling, the summary, saving and loading.

:func:`fit` is the one entry point: runs in, a :class:`Fit` out (an ArviZ ``InferenceData`` with
the posterior in raw units added, and the summary of DESIGN.md section 3). :meth:`Fit.save` writes
``fit.nc`` and ``summary.json`` atomically; :func:`load_fit` reads them back and checks them.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

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
from forecast.inference.groups import (
    add_part_priors,
    checked_parts,
    offset_draws,
    pop_part_priors,
    trial_counts,
)
from forecast.inference.sampling import SamplerSettings, interrupt_cleanly, sample
from forecast.laws import LAWS, Law, compute_optimal, get_law, to_raw
from forecast.outputs import atomic_write, write_json
from forecast.runs import Runs

__all__ = ["Fit", "SamplerSettings", "fit", "load_fit", "optimal_allocation"]



@dataclass
class Fit:
    """A fitted law: the posterior (ArviZ ``InferenceData``) and its summary.

    The posterior group holds the sampled, scale-free parameters (``E_scaled``, ``alpha`` ...)
    and the same law in raw units (``E``, ``A``, ``alpha`` ...: C in FLOPs, N in parameters,
    D in tokens), which is what every downstream computation uses.
    """

    idata: object
    law: Law
    refs: dict[str, float]
    priors: dict[str, dict]
    y_name: str
    summary: dict = field(default_factory=dict)

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a parameter, chains stacked, as a 1-D array."""
        return np.asarray(self.idata.posterior[name]).reshape(-1)

    def raw(self) -> dict[str, np.ndarray]:
        """All raw-unit parameters of the law, as flat arrays of draws."""
        return {k: self.draws(k) for k in self.law.params}

    @property
    def group_column(self) -> str | None:
        """The column of the runs that named each run's group (``--group``), or None."""
        return self.idata.attrs.get("group") or None

    @property
    def group_names(self) -> list[str]:
        """The groups the fit saw (empty without ``--group``)."""
        if self.group_column is None:
            return []
        return [str(g) for g in np.asarray(self.idata.posterior["offset"].coords["group"])]

    @property
    def trials(self) -> str:
        """``--trials`` of the fit: a number of items, a column of them, or ``""``."""
        return str(self.idata.attrs.get("trials", ""))

    def trial_counts(self, runs: Runs) -> np.ndarray:
        """Items behind each accuracy of ``runs``, as the fit's ``--trials`` says.

        Runs without the ``--trials`` column (a grid of compute) take the fitted runs' median.
        """
        if not self.trials.isdigit() and self.trials not in runs.frame.columns:
            counts = np.asarray(self.idata.constant_data["trials"], dtype=float)
            return np.full(runs.flops.size, float(np.round(np.median(counts))))
        return trial_counts(runs, self.trials)

    def covariates(self, runs: Runs, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Return the law's covariates at ``runs``, compute shifted by each run's group offset.

        Without ``--group`` these are ``runs.covariates(law)``; with it, ``C`` has shape
        ``(draws, len(runs))``: ``C exp(offset)`` (:meth:`offsets`, which draws from ``rng``
        for groups the fit has not seen). Runs without the group column (a grid of compute)
        are forecast as the runs of one new group.
        """
        cov = runs.covariates(self.law)
        if self.group_column is not None:
            col = self.group_column
            labels = (runs.labels(col) if col in runs.frame.columns
                      else np.full(runs.flops.size, "(no group)"))  # a grid: one new group
            cov["C"] = cov["C"] * np.exp(self.offsets(labels, rng))
        return cov

    def offsets(self, labels, rng: np.random.Generator) -> np.ndarray:
        """Draws of the compute offset (natural log) of runs of groups ``labels``.

        See :func:`forecast.inference.groups.offset_draws` (a group the fit has not seen draws
        from the population of offsets, from ``rng``); zeros without ``--group``. Shape
        ``(draws, len(labels))``.
        """
        n = self.draws(self.law.params[-1]).size
        if self.group_column is None:
            return np.zeros((n, len(labels)))
        post = np.asarray(self.idata.posterior["offset"]).reshape(n, -1)
        return offset_draws(post, self.group_names, self.draws("tau_group"), labels, rng)

    @property
    def extrapolation(self) -> dict:
        """Extrapolation error of :mod:`forecast.inference.extrapolation` (0 without it)."""
        text = self.idata.attrs.get("extrapolation")
        if text:
            return json.loads(text)
        return {"method": "none", "kappa_per_decade": 0.0, "flops_max": float("inf"),
                "reason": "fitted by a version without extrapolation error"}

    def fitted_runs(self) -> Runs:
        """Return the runs the fit saw, rebuilt from its data (after ``--frontier``, say).

        Compute is taken as ``6 N D`` for a law of params and tokens.
        """
        import pandas as pd

        data = self.idata.constant_data
        cov = {k: np.asarray(data[f"x_{k}"], dtype=float) * self.refs[k]
               for k in self.law.covariates}
        obs = np.asarray(self.idata.observed_data["obs"], dtype=float)
        y = obs if self.law.metric == "unit" else np.exp(obs) * self.refs["y"]
        flops = cov["C"] if "C" in cov else 6.0 * cov["N"] * cov["D"]
        if "accuracy" in data:  # --trials: the likelihood sees the empirical logit
            y = np.asarray(data["accuracy"], dtype=float)
        frame = pd.DataFrame({"flops": flops, self.y_name: y})
        if self.group_column is not None:
            names = np.array(self.group_names, dtype=object)
            frame[self.group_column] = names[np.asarray(data["group_index"], dtype=int)]
        return Runs(str(self.idata.attrs.get("source", "")), frame, self.y_name, flops, y,
                    cov.get("N"), cov.get("D"))

    def save(self, out: str | Path) -> Path:
        """Write ``fit.nc`` and ``summary.json`` in ``out`` atomically; return ``out``."""
        out = Path(out)
        atomic_write(out / "fit.nc", lambda tmp: self.idata.to_netcdf(tmp, engine="h5netcdf"))
        write_json(out / "summary.json", self.summary)
        return out


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


def fit(runs: Runs, law: Law | str = "power", *, priors: dict | None = None,
        settings: SamplerSettings | None = None, priors_source: str = "priors",
        acc: str | None = None, extrapolation: str = "lfo", group: str | None = None,
        trials: str | int | None = None) -> Fit:
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

    checked_parts(runs, spec, group, trials)

    def build(some: Runs):
        acc_values = _accuracy(some, acc, spec) if acc else None
        labels, counts = checked_parts(some, spec, group, trials)
        data = model_data(some, spec, acc=acc_values, groups=labels, trials=counts)
        user = dict(priors or {})
        part_user = pop_part_priors(user, group, trials)
        if acc and "s_scaled" in user:
            raise InputError(f"{priors_source}: 's_scaled' was the old sigmoid link's slope; the "
                             "weibull link's shape is 's', with no units: rename the table [s]")
        link_user = {k: user.pop(k) for k in list(user) if acc and k in LINK_PRIORS}
        resolved = resolve_priors(spec, user, derived=data_priors(data, spec),
                                  source=priors_source)
        if acc:
            resolved.update(link_priors(link_user, priors_source))
        add_part_priors(resolved, part_user, group, trials, priors_source)
        return build_model(data, spec, resolved), data, resolved

    model, data, resolved = build(runs)
    natural = (build_model(data, spec, resolved, geometry="natural")
               if uses_reference(spec, resolved) else None)
    with interrupt_cleanly():
        idata = sample(model, settings, prior_model=natural)
        ext = (calibrate(runs, spec, lambda some: build(some)[:2], settings.seed, group)
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
        "trials": "" if trials is None else str(trials),
    })
    link = ("s", "L0") + (() if resolved.get("floor", {}).get("dist") == "Fixed" else ("floor",))
    extra = ((link if acc else ()) + (("tau_group",) if group else ())
             + (("sigma_logit",) if trials is not None else ()))
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
    if acc:
        summary["link"] = {"name": "weibull", "acc": acc, "formula":
                           "acc = floor + (1 - floor) exp(-(L(C) / L0)^s)",
                           "floor": resolved["floor"]}
    return Fit(idata, spec, data.refs, resolved, runs.y_name, summary)


_REQUIRED_ATTRS = ("law", "y", "refs", "priors", "sampler", "forecast_version")


def load_fit(path: str | Path) -> Fit:
    """Load a fit written by :meth:`Fit.save` (the folder, or its ``fit.nc``).

    Raises
    ------
    InputError
        If the folder or file is missing, corrupt, or not a ``forecast`` fit.
    """
    import arviz as az

    path = Path(path)
    nc = path / "fit.nc" if path.is_dir() or path.suffix != ".nc" else path
    if not nc.exists():
        raise InputError(f"{nc}: no fit found; run `forecast fit RUNS.csv --out {nc.parent}` first")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = az.from_netcdf(nc)
    except Exception as exc:  # noqa: BLE001 - any reader failure means a corrupt file
        raise InputError(f"{nc}: cannot be read as a fit ({type(exc).__name__}); "
                         "re-run `forecast fit`") from None
    attrs = dict(idata.attrs)
    missing = [k for k in _REQUIRED_ATTRS if k not in attrs]
    if missing or "posterior" not in idata.groups():
        raise InputError(f"{nc}: not a forecast fit (missing {', '.join(missing) or 'posterior'});"
                         " re-run `forecast fit`")
    spec = LAWS.get(attrs["law"])
    if spec is None:
        raise InputError(f"{nc}: fit of unknown law '{attrs['law']}'; re-run `forecast fit`")
    absent = [p for p in spec.params if p not in idata.posterior]
    if absent:
        raise InputError(f"{nc}: posterior lacks {', '.join(absent)} for law '{spec.name}'; "
                         "the file is damaged or from another law, re-run `forecast fit`")
    summary_path = nc.parent / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return Fit(idata, spec, json.loads(attrs["refs"]), json.loads(attrs["priors"]), attrs["y"],
               summary)
