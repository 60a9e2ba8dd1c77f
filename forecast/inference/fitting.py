"""Fitting a scaling law: sampling, diagnostics, the summary, saving and loading.

:func:`fit` is the one entry point: runs in, a :class:`Fit` out (an ArviZ ``InferenceData`` with
the posterior in raw units added, and the summary of DESIGN.md section 3). :meth:`Fit.save` writes
``fit.nc`` and ``summary.json`` atomically; :func:`load_fit` reads them back and checks them.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from forecast import __version__
from forecast.errors import InputError, Interrupted
from forecast.inference.sampling import ESS_MIN, RHAT_MAX, SamplerSettings, sample
from forecast.laws import LAWS, Law, compute_optimal, get_law, to_raw
from forecast.outputs import atomic_write, write_json
from forecast.runs import Runs

__all__ = ["Fit", "SamplerSettings", "diagnostics", "fit", "load_fit", "memorisation",
           "optimal_allocation"]

QUANTILES = {"q05": 0.05, "q25": 0.25, "median": 0.5, "q75": 0.75, "q95": 0.95}


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
    def extrapolation(self) -> dict:
        """Extrapolation error of :mod:`forecast.inference.extrapolation` (0 for fits made without it)."""
        text = self.idata.attrs.get("extrapolation")
        if text:
            return json.loads(text)
        return {"method": "none", "kappa_per_decade": 0.0, "flops_max": float("inf"),
                "reason": "fitted by a version without extrapolation error"}

    def save(self, out: str | Path) -> Path:
        """Write ``fit.nc`` and ``summary.json`` in ``out`` atomically; return ``out``."""
        out = Path(out)
        atomic_write(out / "fit.nc", lambda tmp: self.idata.to_netcdf(tmp, engine="h5netcdf"))
        write_json(out / "summary.json", self.summary)
        return out


def _quantiles(x: np.ndarray) -> dict[str, float]:
    qs = np.quantile(x, list(QUANTILES.values()))
    return {k: float(v) for k, v in zip(QUANTILES, qs, strict=True)}


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


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
    return {"budget": float(budget), "params": _quantiles(n_opt), "tokens": _quantiles(d_opt),
            "tokens_per_param": _quantiles(d_opt / n_opt), "loss": _quantiles(loss)}


def _against_bounds(idata, priors: dict) -> list[str]:
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
    stats = az.summary(idata, var_names=names, kind="diagnostics")
    params = {}
    for name in names:
        x = np.asarray(idata.posterior[name]).reshape(-1)
        params[name] = {**_quantiles(x), "mean": float(x.mean()), "sd": float(x.std()),
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


@contextlib.contextmanager
def _interrupt_cleanly():
    """Turn Ctrl-C into :class:`Interrupted`, which the sampler cannot swallow.

    PyMC catches ``KeyboardInterrupt`` inside each chain and goes on with the next one, then
    returns the partial draws; raising our own exception from the handler stops the whole fit
    before anything is written.
    """
    def handler(signum, frame):
        raise Interrupted("interrupted; nothing was written, the previous fit (if any) is intact")

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def fit(runs: Runs, law: Law | str = "power", *, priors: dict | None = None,
        settings: SamplerSettings | None = None, priors_source: str = "priors",
        acc: str | None = None, extrapolation: str = "lfo") -> Fit:
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
        ``L0_scaled``, ``kappa`` in :data:`forecast.inference.model.LINK_PRIORS`, overridable like the
        law's).
    extrapolation : {"lfo", "none"}
        ``"lfo"`` (default) also estimates the law's extrapolation error by leave-future-out on
        these runs (:func:`forecast.inference.extrapolation.calibrate`), which widens every forecast for a
        new run beyond the largest fitted compute; ``"none"`` leaves it out.

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

    def build(some: Runs):
        acc_values = _accuracy(some, acc, spec) if acc else None
        data = model_data(some, spec, acc=acc_values)
        user = dict(priors or {})
        if acc and "s_scaled" in user:
            raise InputError(f"{priors_source}: 's_scaled' was the old sigmoid link's slope; the "
                             "weibull link's shape is 's', with no units: rename the table [s]")
        link_user = {k: user.pop(k) for k in list(user) if acc and k in LINK_PRIORS}
        resolved = resolve_priors(spec, user, derived=data_priors(data, spec),
                                  source=priors_source)
        if acc:
            resolved.update(link_priors(link_user, priors_source))
        return build_model(data, spec, resolved), data, resolved

    model, data, resolved = build(runs)
    natural = (build_model(data, spec, resolved, geometry="natural")
               if uses_reference(spec, resolved) else None)
    with _interrupt_cleanly():
        idata = sample(model, settings, prior_model=natural)
        ext = (calibrate(runs, spec, lambda some: build(some)[:2], settings.seed)
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
        "extrapolation": json.dumps(ext),
    })
    link = ("s", "L0") + (() if resolved.get("floor", {}).get("dist") == "Fixed" else ("floor",))
    params, divergences, problems = diagnostics(idata, spec, link if acc else ())
    problems += _against_bounds(idata, resolved)
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
