"""The PyMC model of a scaling law: a pure function of data, law and priors.

:func:`model_data` turns validated runs into scaled arrays and reference scales;
:func:`build_model` turns those, a law and priors into a ``pm.Model`` that can be inspected or
prior-sampled without NUTS. Data enter as ``pm.Data`` so one compiled model serves many fits of a
sweep (same law, other runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from forecast.inference.geometry import reference_parameters, uses_reference
from forecast.laws import Law
from forecast.laws.defaults import KAPPA
from forecast.runs import Runs

__all__ = ["LINK_PRIORS", "ModelData", "build_model", "data_priors", "link_priors",
           "model_data"]

# The weibull accuracy link fitted jointly with a loss law (``forecast fit --acc``):
# ``acc = floor + (1 - floor) exp(-(L / L0)^s)``. ``L0_scaled`` is L0 / y0 (y0: the loss's
# median); the shape ``s`` has no units.
LINK_PRIORS: dict[str, dict] = {
    # chance level of one step (e.g. 0.1 for a decimal digit); fixed unless the user says
    "floor": {"dist": "Fixed", "value": 0.0},
    # shape: median 1, the exp link's (90%: 0.2 to 5)
    "s": {"dist": "LogNormal", "mu": 0.0, "sigma": 1.0},
    # the loss at which accuracy above chance is 1/e of its range: near the typical loss, broad
    "L0_scaled": {"dist": "LogNormal", "mu": 0.0, "sigma": 1.0},
    # precision of the Beta likelihood of accuracy: as for the logistic law
    "kappa": KAPPA,
}


@dataclass(frozen=True)
class ModelData:
    """Scaled arrays and reference scales the model sees.

    Attributes
    ----------
    X : dict of numpy.ndarray
        Covariates divided by their reference scales (``C/C0`` or ``N/N0`` and ``D/D0``).
    y : numpy.ndarray
        The metric in raw units.
    refs : dict of float
        ``y`` (median of the metric) and ``C`` or ``N``, ``D`` (geometric means).
    acc : numpy.ndarray or None
        Per-step accuracy of the same runs, for the joint weibull link (``forecast fit --acc``).
    """

    X: dict[str, np.ndarray]
    y: np.ndarray
    refs: dict[str, float]
    acc: np.ndarray | None = None


def _gmean(a: np.ndarray) -> float:
    return float(np.exp(np.mean(np.log(a))))


def model_data(runs: Runs, law: Law, refs: Mapping[str, float] | None = None,
               acc: np.ndarray | None = None) -> ModelData:
    """Scale a runs table for a law; ``refs`` (e.g. from an earlier fit) overrides the scales.

    ``acc`` (per-step accuracy, one per run) adds the joint weibull link to the model.
    """
    cov = runs.covariates(law)
    if refs is None:
        refs = {"y": 1.0 if law.metric == "unit" else float(np.median(runs.y))}
        refs.update({k: _gmean(v) for k, v in cov.items()})
    refs = {k: float(v) for k, v in refs.items()}
    X = {k: v / refs[k] for k, v in cov.items()}
    acc = None if acc is None else np.asarray(acc, dtype=float)
    return ModelData(X, np.asarray(runs.y, dtype=float), refs, acc)


def _prior(name: str, spec: Mapping[str, float], **kw):
    spec = dict(spec)
    dist = spec.pop("dist")
    if dist == "Fixed":
        return pm.Deterministic(name, pt.as_tensor_variable(float(spec["value"])))
    return getattr(pm, dist)(name, **spec, **kw)


def link_priors(user: Mapping[str, object] | None = None, source: str = "priors") -> dict:
    """Priors of the joint weibull link: :data:`LINK_PRIORS` with the user's overrides."""
    from forecast.inference.priors import check_prior

    user = dict(user or {})
    return {**LINK_PRIORS, **{k: check_prior(k, v, source) for k, v in user.items()}}


def _beta_likelihood(name: str, data_name: str, y: np.ndarray, mu, kappa):
    """``y ~ Beta(mu kappa, (1 - mu) kappa)`` for accuracies, clipped into (0, 1)."""
    eps = 1e-3
    y_obs = pm.Data(data_name, np.clip(y, eps, 1 - eps), dims="run")
    m = pt.clip(mu, eps, 1 - eps)
    return pm.Beta(name, alpha=m * kappa, beta=(1 - m) * kappa, observed=y_obs, dims="run")


def data_priors(data: ModelData, law: Law) -> dict[str, dict]:
    """Priors derived from the data: where a break or a midpoint may lie in log compute.

    ``log_xb`` (the ``broken`` law) gets a Normal centred on the data's middle with ``sigma``
    equal to the data's span in e-folds of compute, ``log_x50`` (``logistic``) twice that: a
    transition anywhere in the data, or a span beyond it, is plausible.
    """
    if "C" not in data.X:
        return {}
    span = max(float(np.ptp(np.log(data.X["C"]))), 1.0)
    out = {}
    if "log_xb" in law.priors:
        out["log_xb"] = {"dist": "Normal", "mu": 0.0, "sigma": span}
    if "log_x50" in law.priors:
        out["log_x50"] = {"dist": "Normal", "mu": 0.0, "sigma": 2.0 * span}
    return out


def build_model(data: ModelData, law: Law, priors: Mapping[str, dict],
                geometry: str = "reference") -> pm.Model:
    """Build the PyMC model of a scaling law.

    Loss-like metrics (law.metric ``"positive"``) get ``log y ~ StudentT(nu, log mu, sigma)``:
    a multiplicative, outlier-robust error. Accuracies (``"unit"``, the ``logistic`` law) get
    ``y ~ Beta(mu kappa, (1 - mu) kappa)`` on values clipped into (0, 1). With ``data.acc``
    (``forecast fit --acc``) the accuracy of the same runs is modelled jointly with the loss:
    ``acc ~ Beta`` around ``floor + (1 - floor) exp(-(L(C) / L0)^s)``, so the loss law's
    uncertainty reaches the accuracy (likelihood ``acc_obs``, data ``acc_obs_y``).

    Parameters
    ----------
    data : ModelData
        Scaled covariates and the metric (see :func:`model_data`).
    law : forecast.laws.Law
        The law.
    priors : mapping
        A prior for every sampled parameter (see :func:`forecast.inference.priors.resolve_priors`).
    geometry : {"reference", "natural"}
        ``"reference"``: where :func:`forecast.inference.geometry.uses_reference` allows it, sample
        the law at the data's reference point (same priors, same posterior, a geometry NUTS can
        follow on small ladders); ``"natural"``: sample the law's own parameters, a model that
        ``pm.sample_prior_predictive`` can draw from.

    Returns
    -------
    pymc.Model
        With the law's parameters named as the priors (``E_scaled``, ``alpha``, ``sigma`` ...;
        free variables, or deterministics of the ``ref_*`` free variables), data containers
        ``x_C`` (or ``x_N``, ``x_D``) and ``y_obs``, and the likelihood ``obs``.
    """
    if geometry not in ("reference", "natural"):
        raise ValueError(f"geometry must be 'reference' or 'natural', not {geometry!r}")
    n = len(data.y)
    with pm.Model(coords={"run": np.arange(n)}) as model:
        X = {k: pm.Data(f"x_{k}", v, dims="run") for k, v in data.X.items()}
        theta = {}
        if geometry == "reference" and uses_reference(law, priors):
            spans = {k: float(np.ptp(np.log(v))) if len(v) else 0.0 for k, v in data.X.items()}
            theta = reference_parameters(law, priors, spans)
        theta.update({name.removesuffix("_scaled"): _prior(name, spec)
                      for name, spec in priors.items()
                      if name.removesuffix("_scaled") not in theta})
        mu = law.mean(pt, X, theta)
        if law.metric == "unit":
            _beta_likelihood("obs", "y_obs", data.y, mu, theta["kappa"])
        else:
            y_obs = pm.Data("y_obs", np.log(data.y / data.refs["y"]), dims="run")
            pm.StudentT("obs", nu=theta["nu"], mu=pt.log(mu), sigma=theta["sigma"],
                        observed=y_obs, dims="run")
        if data.acc is not None:
            floor = theta["floor"]
            # mu and L0 are both in units of y0, so their ratio is the raw L(C) / L0.
            acc_mu = floor + (1 - floor) * pt.exp(-pt.power(mu / theta["L0"], theta["s"]))
            _beta_likelihood("acc_obs", "acc_obs_y", data.acc, acc_mu, theta["kappa"])
    return model
