"""Emergence per group: the crossing of each model family, and of a family not yet seen.

A fit with ``--group`` multiplies each family's compute by ``exp(offset)``, so a family's
per-step success at ``C`` is the shared law's at ``C exp(offset)`` and its crossing of any level
is the law's minus ``offset / ln 10`` decades, draw by draw. A new family's offset is drawn from
the population, ``Normal(0, tau_group)`` at each posterior draw: its crossing carries the spread
between families, which is what a forecast for an untried family must.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from forecast.questions.emergence import StepSuccess, emergence

__all__ = ["NEW_GROUP", "group_steps", "group_crossings"]

# The label of a family the fit has not seen, in emergence.json's ``groups``
NEW_GROUP = "(new family)"


def group_steps(fit, base: StepSuccess, rng: np.random.Generator) -> dict[str, StepSuccess]:
    """Per-step success of each group of a grouped fit, and of a new group (:data:`NEW_GROUP`).

    Parameters
    ----------
    fit : forecast.inference.fitting.Fit
        A fit with ``--group``.
    base : StepSuccess
        The fit's per-step success at offset 0 (:func:`forecast.questions.emergence.step_success`).
    rng : numpy.random.Generator
        Source of the new group's offsets.
    """
    names = [*fit.group_names, NEW_GROUP]
    offsets = fit.offsets(names, rng)[: base.n_draws] / math.log(10)
    return {name: dataclasses.replace(base, shift=offsets[:, [j]])
            for j, name in enumerate(names)}


def group_crossings(fit, steps: dict[str, StepSuccess], ks: Sequence[int], **kwargs) -> dict:
    """Crossings per group: :func:`forecast.questions.emergence.emergence` of each group's steps.

    ``steps`` is :func:`group_steps`' result; ``kwargs`` go to
    :func:`~forecast.questions.emergence.emergence` (threshold, composition, budget). Returns
    ``column`` (the fit's group column), ``new_group`` (:data:`NEW_GROUP`), ``offsets_decades``
    (per group, the median offset) and ``groups``: per group (and the new one) its ``steps``
    rows, as at emergence.json's top level (quantiles of ``log10_flops``, ``p_never`` ...).
    """
    out = {"column": fit.group_column, "new_group": NEW_GROUP, "offsets_decades": {},
           "groups": {}}
    for name, s in steps.items():
        out["offsets_decades"][name] = float(np.median(s.shift))
        out["groups"][name] = emergence(s, ks, **kwargs)["steps"]
    return out
