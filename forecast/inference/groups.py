"""Groups of runs (``--group``), training runs of checkpoints (``--run``), sizes (``--trials``).

The model's side is in :mod:`forecast.inference.model` (an offset in log compute per group,
partially pooled; a level in log loss per training run, partially pooled; a binomial likelihood
with a logit random effect); here are the checks of the inputs and the draws of offsets and
levels for the groups and training runs of new rows.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from forecast.errors import InputError
from forecast.laws import Law
from forecast.runs import Runs

__all__ = ["GROUP_PRIORS", "IID_STEPS", "RUN_COMPUTE_PRIORS", "RUN_PRIORS", "STEPS_PRIORS",
           "TRIALS_PRIORS", "add_part_priors", "chance_level", "checked_parts", "offset_draws",
           "pop_part_priors", "step_counts", "trial_counts"]

# Accuracies of a known number of items (``--trials``): the logit random effect's scale, in place
# of the Beta likelihood's kappa. HalfNormal(1.5): models of equal predicted accuracy differ by
# up to a few units of log-odds (public 2-digit addition: Pythia-2.8B 0.80, Pythia-6.9B 0.49)
TRIALS_PRIORS: dict[str, dict] = {"sigma_logit": {"dist": "HalfNormal", "sigma": 1.5}}

# Groups (``--group family``): each group's compute is multiplied by exp(offset), with
# offset = tau_group * z_group and z_group ~ Normal(0, 1) (partial pooling, non-centred).
GROUP_PRIORS: dict[str, dict] = {
    # scale of the offsets in e-folds of compute: median 1.3 (a factor 3.9 in compute), 90% below
    # 3.3 (a factor 27); public families differ by up to a few e-folds at equal compute
    "tau_group": {"dist": "HalfNormal", "sigma": 2.0},
}

# Checkpoints (``--run run_id``): every checkpoint of training run r has its loss multiplied by
# exp(level[r]), level = sigma_run * z_run, z_run ~ Normal(0, 1), so that a run's checkpoints
# share one deviation from the law instead of counting as independent runs. HalfNormal(0.2) in
# log loss: median 0.13 (a run 13% off the law), 90% below 0.33; seeds of one harness model
# differ by a few percent, sizes off a law of N and D by up to tens of percent
RUN_PRIORS: dict[str, dict] = {"sigma_run": {"dist": "HalfNormal", "sigma": 0.2}}
# Accuracies of one model on several tasks (``--task task --run model``): the model's compute is
# multiplied by exp(level[model]) on every task, its own place beside its family's (a recipe,
# data, a tokenizer its family's other members do not share). HalfNormal(1) in e-folds of compute:
# median 0.67 (a factor 2), 90% below 1.6 (a factor 5)
RUN_COMPUTE_PRIORS: dict[str, dict] = {"sigma_run": {"dist": "HalfNormal", "sigma": 1.0}}

# One task at several lengths (``--k digits``): the law is the accuracy of the shortest length
# k_ref in the table, and a length-k task's is acc_k = acc_ref^((k / k_ref)^gamma_k) (above a
# chance floor of 0). gamma_k = 1 is i.i.d. steps (P_k = p^k); above 1 each added step is harder
# than the last (carries, longer contexts), below 1 the steps are correlated (a model that gets
# one digit right tends to get the next). LogNormal(0, 0.5): 90% between 0.44 and 2.3
STEPS_PRIORS: dict[str, dict] = {"gamma_k": {"dist": "LogNormal", "mu": 0.0, "sigma": 0.5}}
IID_STEPS: dict[str, dict] = {"gamma_k": {"dist": "Fixed", "value": 1.0}}  # --composition iid


def trial_counts(runs: Runs, trials: str | int) -> np.ndarray:
    """Items behind each accuracy: a whole number for all runs, or a column of them."""
    text = str(trials).strip()
    if text.isdigit():
        values = np.full(runs.flops.size, float(text))
    else:
        values = runs.column(text, what="for --trials")
    return _whole(runs, values, f"--trials {text}", "items >= 1; give the test's item count")


def _whole(runs: Runs, values: np.ndarray, option: str, what: str) -> np.ndarray:
    """Return ``values`` if all are whole numbers >= 1, else an InputError naming the line."""
    bad = (values < 1) | (values != np.round(values))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{runs.source}: {option}: {values[i]:g} (line {i + 2}) is not a "
                         f"whole number of {what}")
    return values


def step_counts(runs: Runs, column: str) -> np.ndarray:
    """Each row's task length (``--k COLUMN``): whole numbers >= 1, at least two of them."""
    values = _whole(runs, runs.column(column, what="for --k"), f"--k {column}", "steps >= 1")
    if np.unique(values).size < 2:
        raise InputError(f"{runs.source}: --k {column}: every row has k = {values[0]:g}; "
                         "learning how success falls with k needs the task at two or more "
                         "lengths (drop --k to fit one length)")
    return values


def checked_parts(runs: Runs, law: Law, group: str | None, trials, run: str | None = None,
                  k: str | None = None, task: str | None = None) -> tuple:
    """Group labels, trial counts, training-run labels, task lengths and task labels, checked."""
    if group is not None and "C" not in law.covariates:
        raise InputError(f"--group needs a law of compute (power, pure, broken, logistic), not "
                         f"'{law.name}'")
    if trials is not None and law.metric != "unit":
        raise InputError(f"--trials applies to an accuracy (--law logistic), not law "
                         f"'{law.name}'")
    if k is not None and (law.metric != "unit" or "C" not in law.covariates):
        raise InputError(f"--k applies to an accuracy law of compute (logistic, cloglog), not "
                         f"law '{law.name}'")
    if task is not None and (law.metric != "unit" or "C" not in law.covariates):
        raise InputError(f"--task applies to an accuracy law of compute (logistic, cloglog), "
                         f"not law '{law.name}'")
    if task is not None and k is not None:
        raise InputError("--task and --k: give one of them (several tasks share family offsets; "
                         "one task at several lengths shares its law)")
    labels = runs.labels(group, what="for --group") if group is not None else None
    counts = trial_counts(runs, trials) if trials is not None else None
    of = runs.labels(run, what="for --run") if run is not None else None
    if of is not None and np.unique(of).size == of.size:
        raise InputError(f"{runs.source}: --run {run}: every row is a run of its own; a run's "
                         "level is what its rows share (its checkpoints, or its tasks with "
                         "--task), so give a column that repeats, or drop --run")
    tasks = runs.labels(task, what="for --task") if task is not None else None
    if tasks is not None and np.unique(tasks).size < 2:
        raise InputError(f"{runs.source}: --task {task}: every row is task '{tasks[0]}'; give "
                         "two or more tasks, or drop --task")
    return labels, counts, of, step_counts(runs, k) if k is not None else None, tasks


def offset_draws(posterior: np.ndarray, names: list[str], tau: np.ndarray, labels,
                 rng: np.random.Generator) -> np.ndarray:
    """Draws of the compute offset (natural log) of runs of groups ``labels``.

    The same serves the level in log loss of training runs (``--run``: ``tau`` is then
    ``sigma_run``), a partially pooled effect of the same form.

    A group the fit saw (``names``, with ``posterior`` of shape ``(draws, len(names))``) takes
    its own offset's posterior draws; any other group a draw from the population of offsets,
    ``Normal(0, tau)`` at each posterior draw (from ``rng``, one per distinct new group, shared
    by its runs).

    Returns
    -------
    numpy.ndarray
        Shape ``(draws, len(labels))``: compute is multiplied by ``exp`` of it.
    """
    labels = [str(g) for g in labels]
    known = {g: j for j, g in enumerate(names)}
    new = {g: tau * rng.standard_normal(tau.size) for g in dict.fromkeys(labels)
           if g not in known}
    columns = [posterior[:, known[g]] if g in known else new[g] for g in labels]
    return np.stack(columns, axis=1) if columns else np.zeros((tau.size, 0))


def pop_part_priors(user: dict, group: str | None, trials, run: str | None = None,
                    k: str | None = None) -> dict:
    """Take the priors of the groups', trials', runs' and lengths' parts out of ``user``."""
    names = set(GROUP_PRIORS) if group else set()
    if k is not None:
        names |= set(STEPS_PRIORS)
    if trials is not None:
        names |= set(TRIALS_PRIORS)
    if run is not None:
        names |= set(RUN_PRIORS)
    return {k: user.pop(k) for k in list(user) if k in names}


def chance_level(priors: Mapping[str, dict]) -> float:
    """Return the level that a ``--trials`` likelihood counts correct items above.

    A fixed floor is a test's known chance (0.25 for 4-way multiple choice): a model's items
    above it are its count, and its logit deviation is of the accuracy above chance. A fitted
    floor (a floor prior that is not ``Fixed``) is where the models before the rise sit, trivial
    items and all, not a known chance: it is part of the law's mean, and the count and the
    deviation are of the whole accuracy (above 0), so a model may sit below the floor.
    """
    spec = priors["floor"]
    return float(spec["value"]) if spec["dist"] == "Fixed" else 0.0


def add_part_priors(resolved: dict, user: dict, group: str | None, trials, source: str,
                    run: str | None = None, k: str | None = None, accuracy: bool = False
                    ) -> None:
    """Add the groups', trials', runs' and lengths' priors (defaults, or the user's).

    With ``trials`` the logit random effect's scale replaces the Beta likelihood's ``kappa``,
    and the floor is fixed (a chance level) or fitted with a prior on [0, 1) (Beta, or Uniform
    inside it; :func:`chance_level`); with ``k`` it must be fixed at 0. A run's level is in
    log loss (:data:`RUN_PRIORS`), or for an ``accuracy`` law in log compute
    (:data:`RUN_COMPUTE_PRIORS`).
    """
    from forecast.inference.model import extra_priors

    if k is not None and resolved["floor"] != {"dist": "Fixed", "value": 0.0}:
        raise InputError(f"{source}: --k composes exact-match steps, so the chance floor must "
                         "be fixed at 0 (floor = {dist = \"Fixed\", value = 0.0}, the default)")
    runs = RUN_COMPUTE_PRIORS if accuracy else RUN_PRIORS
    for on, part in ((group, GROUP_PRIORS), (run, runs), (k, STEPS_PRIORS)):
        if on:
            resolved.update(extra_priors(part, {k: v for k, v in user.items() if k in part},
                                         source))
    if trials is None:
        return
    resolved.pop("kappa", None)
    floor = resolved["floor"]
    if not (floor["dist"] in ("Fixed", "Beta")
            or floor["dist"] == "Uniform" and 0 <= floor["lower"] and floor["upper"] <= 1):
        raise InputError(f"{source}: with --trials the floor is fixed (a known chance level, "
                         "floor = {dist = \"Fixed\", value = 0.25}) or fitted on [0, 1) "
                         "(floor = {dist = \"Beta\", alpha = 1.0, beta = 19.0})")
    resolved.update(extra_priors(TRIALS_PRIORS, {k: v for k, v in user.items()
                                                 if k in TRIALS_PRIORS}, source))
