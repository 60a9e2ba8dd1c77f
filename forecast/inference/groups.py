"""Groups of runs (``--group``), training runs of checkpoints (``--run``), sizes (``--trials``).

The model's side is in :mod:`forecast.inference.model` (an offset in log compute per group,
partially pooled; a level in log loss per training run, partially pooled; a binomial likelihood
with a logit random effect); here are the checks of the inputs and the draws of offsets and
levels for the groups and training runs of new rows.
"""

from __future__ import annotations

import numpy as np

from forecast.errors import InputError
from forecast.laws import Law
from forecast.runs import Runs

__all__ = ["GROUP_PRIORS", "RUN_PRIORS", "TRIALS_PRIORS", "add_part_priors", "checked_parts",
           "offset_draws", "pop_part_priors", "trial_counts"]

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


def trial_counts(runs: Runs, trials: str | int) -> np.ndarray:
    """Items behind each accuracy: a whole number for all runs, or a column of them."""
    text = str(trials).strip()
    if text.isdigit():
        values = np.full(runs.flops.size, float(text))
    else:
        values = runs.column(text, what="for --trials")
    bad = (values < 1) | (values != np.round(values))
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"{runs.source}: --trials {text}: {values[i]:g} (line {i + 2}) is not "
                         "a whole number of items >= 1; give the test's item count")
    return values


def checked_parts(runs: Runs, law: Law, group: str | None, trials, run: str | None = None
                  ) -> tuple:
    """Group labels, trial counts and training-run labels of the runs, checked for the law."""
    if group is not None and "C" not in law.covariates:
        raise InputError(f"--group needs a law of compute (power, pure, broken, logistic), not "
                         f"'{law.name}'")
    if trials is not None and law.metric != "unit":
        raise InputError(f"--trials applies to an accuracy (--law logistic), not law "
                         f"'{law.name}'")
    if run is not None and law.metric != "positive":
        raise InputError(f"--run applies to a loss (a law of a positive metric), not law "
                         f"'{law.name}'")
    labels = runs.labels(group, what="for --group") if group is not None else None
    counts = trial_counts(runs, trials) if trials is not None else None
    return labels, counts, runs.labels(run, what="for --run") if run is not None else None


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


def pop_part_priors(user: dict, group: str | None, trials, run: str | None = None) -> dict:
    """Take the priors of the groups', trials' and runs' parts out of the user's ``user``."""
    names = set(GROUP_PRIORS) if group else set()
    if trials is not None:
        names |= set(TRIALS_PRIORS)
    if run is not None:
        names |= set(RUN_PRIORS)
    return {k: user.pop(k) for k in list(user) if k in names}


def add_part_priors(resolved: dict, user: dict, group: str | None, trials, source: str,
                    run: str | None = None) -> None:
    """Add the groups', trials' and runs' priors (defaults, or the user's) to ``resolved``.

    With ``trials`` the logit random effect's scale replaces the Beta likelihood's ``kappa``,
    and the chance floor must be fixed.
    """
    from forecast.inference.model import extra_priors

    for on, part in ((group, GROUP_PRIORS), (run, RUN_PRIORS)):
        if on:
            resolved.update(extra_priors(part, {k: v for k, v in user.items() if k in part},
                                         source))
    if trials is None:
        return
    resolved.pop("kappa", None)
    if resolved["floor"]["dist"] != "Fixed":
        raise InputError(f"{source}: --trials needs the chance floor fixed (floor = {{dist = "
                         "\"Fixed\", value = ...}}): a test's chance level is known")
    resolved.update(extra_priors(TRIALS_PRIORS, {k: v for k, v in user.items()
                                                 if k in TRIALS_PRIORS}, source))
