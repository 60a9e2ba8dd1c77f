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
from forecast.inference.groups import (
    GROUP_PRIORS,
    RUN_PRIORS,
    STEPS_PRIORS,
    TRIALS_PRIORS,
    chance_level,
)
from forecast.laws import Law
from forecast.laws.defaults import KAPPA
from forecast.runs import Runs

__all__ = ["GROUP_PRIORS", "LINK_PRIORS", "RUN_PRIORS", "STEPS_PRIORS", "TRIALS_PRIORS",
           "ModelData", "build_model", "data_priors", "empirical_logit", "extra_priors",
           "group_codes", "link_priors", "model_data"]

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
    groups : numpy.ndarray or None
        Each run's group as an index into ``group_names`` (``forecast fit --group``).
    group_names : tuple of str
        The groups, sorted.
    trials : numpy.ndarray or None
        Items behind each accuracy (``forecast fit --trials``): a binomial likelihood of the
        count of correct items with a logit random effect per run, instead of a Beta
        likelihood of the proportion.
    run_index : numpy.ndarray or None
        Each row's training run as an index into ``run_names`` (``forecast fit --run``): the
        checkpoints of one run share a level in log loss.
    run_names : tuple of str
        The training runs, sorted.
    k_ratio : numpy.ndarray or None
        Each row's task length over the shortest, ``k / k_ref`` (``forecast fit --k``): the
        law is the accuracy at ``k_ref``, a row's the law's to the power ``k_ratio^gamma_k``.
    k_ref : float
        The shortest task length in the table (1 without ``--k``).
    task_index : numpy.ndarray or None
        Each row's task as an index into ``task_names`` (``forecast fit --task``): each task
        has its own law (slope, midpoint) and scatter, the groups' offsets are shared.
    task_names : tuple of str
        The tasks, sorted.
    """

    X: dict[str, np.ndarray]
    y: np.ndarray
    refs: dict[str, float]
    acc: np.ndarray | None = None
    groups: np.ndarray | None = None
    group_names: tuple[str, ...] = ()
    trials: np.ndarray | None = None
    run_index: np.ndarray | None = None
    run_names: tuple[str, ...] = ()
    k_ratio: np.ndarray | None = None
    k_ref: float = 1.0
    task_index: np.ndarray | None = None
    task_names: tuple[str, ...] = ()


def _gmean(a: np.ndarray) -> float:
    return float(np.exp(np.mean(np.log(a))))


def group_codes(labels: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
    """Return the sorted distinct labels and each label's index among them."""
    names, codes = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
    return tuple(str(n) for n in names), codes.astype(np.int64)


def model_data(runs: Runs, law: Law, refs: Mapping[str, float] | None = None,
               acc: np.ndarray | None = None, groups: np.ndarray | None = None,
               trials: np.ndarray | None = None, runs_of: np.ndarray | None = None,
               steps: np.ndarray | None = None, tasks: np.ndarray | None = None
               ) -> ModelData:
    """Scale a runs table for a law; ``refs`` (e.g. from an earlier fit) overrides the scales.

    ``acc`` (per-step accuracy, one per run) adds the joint weibull link to the model;
    ``groups`` (a label per run) adds a compute offset per group; ``trials`` (items per run)
    makes an accuracy's likelihood binomial with a logit random effect; ``runs_of`` (the
    training run of each row, a checkpoint table) gives each run a level in log loss;
    ``steps`` (each row's task length) composes the law's accuracy to other lengths;
    ``tasks`` (a label per row) gives each task its own law, sharing the groups' offsets.
    """
    cov = runs.covariates(law)
    if refs is None:
        refs = {"y": 1.0 if law.metric == "unit" else float(np.median(runs.y))}
        refs.update({k: _gmean(v) for k, v in cov.items()})
    refs = {k: float(v) for k, v in refs.items()}
    X = {k: v / refs[k] for k, v in cov.items()}
    acc = None if acc is None else np.asarray(acc, dtype=float)
    names, codes = group_codes(groups) if groups is not None else ((), None)
    trials = None if trials is None else np.asarray(trials, dtype=float)
    run_names, run_index = group_codes(runs_of) if runs_of is not None else ((), None)
    k_ref = float(np.min(steps)) if steps is not None else 1.0
    k_ratio = None if steps is None else np.asarray(steps, dtype=float) / k_ref
    task_names, task_index = group_codes(tasks) if tasks is not None else ((), None)
    return ModelData(X, np.asarray(runs.y, dtype=float), refs, acc, codes, names, trials,
                     run_index, run_names, k_ratio, k_ref, task_index, task_names)


# With several tasks (``--task``) these get one value per task; the rest are shared
PER_TASK = ("floor", "s", "log_x50", "kappa", "sigma_logit")


def _prior(name: str, spec: Mapping[str, float], **kw):
    spec = dict(spec)
    dist = spec.pop("dist")
    if dist == "Fixed":
        return pm.Deterministic(name, pt.as_tensor_variable(float(spec["value"])))
    return getattr(pm, dist)(name, **spec, **kw)


def extra_priors(defaults: Mapping[str, dict], user: Mapping[str, object] | None = None,
                 source: str = "priors") -> dict:
    """Priors of a part added to the law (a link, groups): ``defaults`` with the user's."""
    from forecast.inference.priors import check_prior

    user = dict(user or {})
    return {**defaults, **{k: check_prior(k, v, source) for k, v in user.items()}}


def link_priors(user: Mapping[str, object] | None = None, source: str = "priors") -> dict:
    """Priors of the joint weibull link: :data:`LINK_PRIORS` with the user's overrides."""
    return extra_priors(LINK_PRIORS, user, source)


def _beta_likelihood(name: str, data_name: str, y: np.ndarray, mu, kappa):
    """``y ~ Beta(mu kappa, (1 - mu) kappa)`` for accuracies, clipped into (0, 1)."""
    eps = 1e-3
    y_obs = pm.Data(data_name, np.clip(y, eps, 1 - eps), dims="run")
    m = pt.clip(mu, eps, 1 - eps)
    return pm.Beta(name, alpha=m * kappa, beta=(1 - m) * kappa, observed=y_obs, dims="run")


def _binomial_likelihood(data: ModelData, mu, chance: float, sigma_logit):
    """Correct items of ``n`` around the law's mean, with a logit random effect per run.

    A run's accuracy above ``chance`` (:func:`chance_level`) is ``sigmoid(eta + e)``: ``eta``
    the logit of the law's mean above it and ``e ~ Normal(0, sigma_logit)`` the run's own
    deviation, the scatter between models on top of the binomial scatter of a finite test.
    ``e`` is integrated out in the normal approximation of the empirical logit
    (:func:`empirical_logit`): ``ell ~ Normal(eta, sqrt(sigma_logit^2 + v))``. Counts of 0 and
    n are data like any other. The accuracies themselves are kept as data ``accuracy``.
    """
    ell, var = empirical_logit(np, data.y, data.trials, chance)
    pm.Data("accuracy", np.asarray(data.y, dtype=float), dims="run")
    pm.Data("trials", np.asarray(data.trials, dtype=float), dims="run")
    v = pm.Data("logit_var", var, dims="run")
    y_obs = pm.Data("y_obs", ell, dims="run")
    q = pt.clip((mu - chance) / (1.0 - chance), 1e-9, 1.0 - 1e-9)
    return pm.Normal("obs", mu=pt.log(q) - pt.log1p(-q), sigma=pt.sqrt(sigma_logit ** 2 + v),
                     observed=y_obs, dims="run")


def empirical_logit(xp, y, n, floor):
    """Empirical logit of an accuracy above ``floor`` and its binomial variance (Cox and Snell).

    With ``k = clip(n (y - floor) / (1 - floor), 0, n)`` correct items above chance, returns
    ``log((k + 1/2) / (n - k + 1/2))`` and ``1/(k + 1/2) + 1/(n - k + 1/2)``; ``xp`` is
    ``numpy`` or ``pytensor.tensor``.
    """
    k = xp.clip(n * (y - floor) / (1.0 - floor), 0.0, n)
    return xp.log((k + 0.5) / (n - k + 0.5)), 1.0 / (k + 0.5) + 1.0 / (n - k + 0.5)


def _group_offsets(data: ModelData, priors: Mapping[str, dict], X: dict) -> dict:
    """Multiply each run's compute by its group's ``exp(offset)`` (partially pooled)."""
    tau = _prior("tau_group", priors["tau_group"])
    z = pm.Normal("z_group", 0.0, 1.0, dims="group")
    offset = pm.Deterministic("offset", tau * z, dims="group")
    index = pm.Data("group_index", data.groups, dims="run")
    return {**X, "C": X["C"] * pt.exp(offset[index])}


def _run_levels(data: ModelData, priors: Mapping[str, dict]):
    """Each row's training run's ``exp(level)``, the level partially pooled.

    It scales the row's mean (a loss) or its compute (an accuracy).
    """
    sigma = _prior("sigma_run", priors["sigma_run"])
    z = pm.Normal("z_run", 0.0, 1.0, dims="train_run")
    level = pm.Deterministic("run_level", sigma * z, dims="train_run")
    return pt.exp(level[pm.Data("run_index", data.run_index, dims="run")])


def _task_parameters(data: ModelData, priors: Mapping[str, dict]) -> dict:
    """One value per task of each :data:`PER_TASK` parameter, read off at each row's task."""
    index = pm.Data("task_index", data.task_index, dims="run")
    out = {}
    for name in (n for n in PER_TASK if n in priors):
        spec = priors[name]
        fixed = spec["dist"] == "Fixed"  # one value for all tasks
        out[name] = _prior(name, spec) if fixed else _prior(name, spec, dims="task")[index]
    return out


def _composed(data: ModelData, priors: Mapping[str, dict], mu, floor):
    """Return a row's accuracy at its task length: ``floor + (1 - floor) q^(k_ratio^gamma_k)``.

    ``q`` is the law's accuracy above the floor at the shortest length (``floor`` is 0: the
    steps are exact-match answers).
    """
    gamma = _prior("gamma_k", priors["gamma_k"])
    ratio = pm.Data("k_ratio", data.k_ratio, dims="run")
    q = pt.clip((mu - floor) / (1.0 - floor), 1e-12, 1.0)
    return floor + (1.0 - floor) * pt.exp(pt.log(q) * pt.power(ratio, gamma))


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
    uncertainty reaches the accuracy (likelihood ``acc_obs``, data ``acc_obs_y``). With
    ``data.groups`` (``forecast fit --group``) each group's compute is multiplied by
    ``exp(offset[g])``, ``offset = tau_group * z_group``, ``z_group ~ Normal(0, 1)``: a shift in
    log compute per group, partially pooled with a learnt scale, the law's other parameters
    shared. With ``data.trials`` an accuracy's likelihood is binomial with a logit random
    effect per run (scale ``sigma_logit``) in place of the Beta. With ``data.run_index``
    (``forecast fit --run``, a table of checkpoints) the mean of every checkpoint of training
    run ``r`` is multiplied by ``exp(run_level[r])``, ``run_level = sigma_run * z_run``,
    ``z_run ~ Normal(0, 1)``: a run's checkpoints share one deviation from the law, so that
    many checkpoints of a few runs do not weigh as many independent runs; for an accuracy law
    the run's (a model's) compute is multiplied by ``exp(run_level[r])`` instead, a place of
    its own beside its group's that its rows (its tasks, with ``--task``) share. With
    ``data.k_ratio`` (``forecast fit --k``, one task at several lengths) the law is the
    accuracy at the shortest length ``k_ref`` and a row of length ``k`` has
    ``acc_ref^((k / k_ref)^gamma_k)``. With
    ``data.task_index`` (``forecast fit --task``) each task has its own :data:`PER_TASK`
    parameters (dimension ``task``), the group offsets and the rest shared.

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
    coords = {"run": np.arange(n)}
    if data.groups is not None:
        coords["group"] = list(data.group_names)
    if data.run_index is not None:
        coords["train_run"] = list(data.run_names)
    if data.task_index is not None:
        coords["task"] = list(data.task_names)
    with pm.Model(coords=coords) as model:
        X = {k: pm.Data(f"x_{k}", v, dims="run") for k, v in data.X.items()}
        if data.groups is not None:
            X = _group_offsets(data, priors, X)
        scale = _run_levels(data, priors) if data.run_index is not None else None
        if scale is not None and law.metric == "unit":  # a model's own place in compute
            X = {**X, "C": X["C"] * scale}
        theta = {}
        if geometry == "reference" and uses_reference(law, priors):
            spans = {k: float(np.ptp(np.log(v))) if len(v) else 0.0 for k, v in data.X.items()}
            theta = reference_parameters(law, priors, spans)
        theta.update({name.removesuffix("_scaled"): _prior(name, spec)
                      for name, spec in priors.items()
                      if name.removesuffix("_scaled") not in theta
                      and name not in GROUP_PRIORS and name not in RUN_PRIORS
                      and name not in STEPS_PRIORS
                      and (data.task_index is None or name not in PER_TASK)})
        if data.task_index is not None:
            theta.update(_task_parameters(data, priors))
        mu = law.mean(pt, X, theta)
        if data.k_ratio is not None:
            mu = _composed(data, priors, mu, theta["floor"])
        if scale is not None and law.metric == "positive":  # a run's own level of loss
            mu = mu * scale
        if law.metric == "unit" and data.trials is not None:
            _binomial_likelihood(data, mu, chance_level(priors), theta["sigma_logit"])
        elif law.metric == "unit":
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
