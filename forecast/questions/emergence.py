"""From a fitted law to an emergence forecast: when a k-step task crosses its threshold.

:func:`step_success` turns a :class:`forecast.inference.fitting.Fit` and a link
(:class:`forecast.laws.links.Link`) into per-step success ``p(C)`` per posterior draw
(:class:`StepSuccess`); :func:`emergence` composes steps into task success ``P_k(C)``
(:class:`forecast.laws.compose.Composition`), finds the crossing compute per draw and returns
the JSON of DESIGN.md section 3 with the curves of both views of emergence (the hard
metric ``P_k`` and the soft ones: fraction and expected number of correct steps);
:func:`write_emergence` saves it as ``emergence.json`` next to the fit. The math is in
:mod:`forecast.laws.compose`; ``docs/emergence.md`` documents the JSON.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from forecast.errors import InputError
from forecast.laws.compose import Composition, quantiles, root_crossing, scan_grid
from forecast.outputs import write_json

# StepSuccess and step_success live in forecast.questions.steps; they are named here too, where
# the command line, the benchmarks and notebooks have always found them
from forecast.questions.steps import StepSuccess, step_success

__all__ = ["StepSuccess", "emergence", "step_success", "write_emergence"]

CURVE_POINTS = 121
# The soft and hard curves' widths are measured between these levels of success.
WIDTH_LEVELS = (0.1, 0.9)


def _hetero(steps: Sequence[StepSuccess], comp: Composition, k: int, n_hard: int):
    """Return the success of the first k heterogeneous steps at ``log10 C`` ``(n_draws, m)``.

    ``P_k`` in the first ``n_hard`` columns, the fraction of right steps in the others.
    """
    first = steps[:k]

    def value(x: np.ndarray) -> np.ndarray:
        ps = [s.p(x) for s in first]
        hard = comp.success_steps([p[:, :n_hard] for p in ps])
        return np.concatenate([hard, np.mean([p[:, n_hard:] for p in ps], axis=0)], axis=1)

    return value


def _crossings(steps: Sequence[StepSuccess], comp: Composition, ks: Sequence[int],
               threshold: float, method: str) -> dict[int, np.ndarray]:
    """Return, per k, the ``log10`` crossings of five levels, shape ``(5, n_draws)``.

    ``P_k`` at the threshold, 0.1 and 0.9, then the fraction of right steps at 0.1 and 0.9: one
    scan and bisection per k, or one for all k with identical steps (every level maps to a
    per-step level ``p*``).
    """
    hard_levels = (threshold, *WIDTH_LEVELS)
    if steps[0].k_power is not None:  # a composition learnt from several lengths: per draw
        s = steps[0]
        soft = s.crossing(np.array(WIDTH_LEVELS), method=method)
        return {k: np.concatenate([root_crossing(lambda x, k=k: s.p(x) ** s.steps_of(k),
                                                 np.array(hard_levels)), soft], axis=1).T
                for k in ks}
    if len(steps) == 1:
        levels = [comp.step_level(lvl, k) for k in ks for lvl in hard_levels]
        c = steps[0].crossing(np.array([*levels, *WIDTH_LEVELS]), method=method)
        soft = c[:, -2:]
        return {k: np.concatenate([c[:, 3 * i:3 * i + 3], soft], axis=1).T
                for i, k in enumerate(ks)}
    scan = [s.p(scan_grid()[None, :]) for s in steps]
    out = {}
    for k in ks:
        curves = ([comp.success_steps(scan[:k])] * len(hard_levels)
                  + [np.mean(scan[:k], axis=0)] * len(WIDTH_LEVELS))
        out[k] = root_crossing(_hetero(steps, comp, k, len(hard_levels)),
                               np.array([*hard_levels, *WIDTH_LEVELS]), scan=curves).T
    return out


def _width(lo: np.ndarray, hi: np.ndarray) -> dict:
    ok = np.isfinite(lo) & np.isfinite(hi)
    width = np.full(lo.shape, np.inf)
    width[ok] = hi[ok] - lo[ok]
    return quantiles(width, {"median": 0.5, "q05": 0.05, "q95": 0.95})


CURVE_LEVELS = {"q05": 0.05, "q25": 0.25, "median": 0.5, "q75": 0.75, "q95": 0.95}


def _order_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Quantile curves over draws (axis 0) as order statistics (NumPy's ``inverted_cdf``).

    An order statistic commutes with any increasing map, so the quantiles of ``P_k = f(p)`` are
    ``f`` of the quantiles of ``p``, exactly: one sort serves every k.
    """
    ordered = np.sort(values.T, axis=1)
    n = ordered.shape[1]
    return {name: ordered[:, max(math.ceil(n * q) - 1, 0)] for name, q in CURVE_LEVELS.items()}


def _curve(stats: dict[str, np.ndarray], f=None) -> dict[str, list[float]]:
    return {name: np.round(q if f is None else f(q), 6).tolist() for name, q in stats.items()}


def _grid(steps: Sequence[StepSuccess], far: float | None) -> np.ndarray:
    lo = math.floor(min(math.log10(s.flops_range[0]) for s in steps)) - 1.0
    top = max(math.log10(s.flops_range[1]) for s in steps) + 2.0
    if far is not None and math.isfinite(far):
        top = max(top, far + 0.5)
    hi = min(max(top, lo + 4.0), lo + 30.0)
    return np.linspace(lo, hi, CURVE_POINTS)


def emergence(steps: StepSuccess | Sequence[StepSuccess], ks: Sequence[int], *,
              threshold: float = 0.5, composition: Composition | None = None,
              budget: float | None = None, method: str = "auto") -> dict:
    """Forecast when a k-step task crosses ``threshold``, for each k in ``ks``.

    Parameters
    ----------
    steps : StepSuccess or sequence of StepSuccess
        One: identical steps (``P_k`` from :meth:`Composition.success`). Several: one per step
        or position (heterogeneous, independent), the k-step task being the first k of them;
        draws are paired by index (the fits' posteriors are independent).
    ks : sequence of int
        Chain lengths, each >= 1 (and at most ``len(steps)`` for heterogeneous steps).
    threshold : float
        Success level in (0, 1).
    composition : Composition, optional
        Correlation (``phi``) and tolerance (``allow_errors``); default the i.i.d. chain.
    budget : float, optional
        FLOPs: adds ``p_by_budget``, the probability that the crossing is at or below it.
    method : str
        ``"auto"`` (closed form where there is one) or ``"root"`` (always root-finding).

    Returns
    -------
    dict
        ``threshold``, ``link``, ``steps`` (per k: ``log10_flops`` quantiles with ``None`` among
        never-crossing draws, ``p_never``, ``p_by_budget``, curve widths), ``curves`` (compute
        grid and quantile curves of the hard and soft metrics) and ``notes``; see
        ``docs/emergence.md``.
    """
    steps = [steps] if isinstance(steps, StepSuccess) else list(steps)
    comp = composition or Composition()
    ks = sorted({int(k) for k in ks})
    _check(steps, ks, threshold, comp, budget)
    n = min(s.n_draws for s in steps)
    steps = [s.thin(n) for s in steps]
    rows, far = [], None
    for k, (c, lo, hi, soft_lo, soft_hi) in _crossings(steps, comp, ks, threshold,
                                                        method).items():
        row = {"k": k, "log10_flops": quantiles(c), "p_never": float(np.mean(np.isposinf(c))),
               "p_always": float(np.mean(np.isneginf(c))),
               "width_decades": {"hard": _width(lo, hi), "soft": _width(soft_lo, soft_hi)}}
        if budget is not None:
            row["p_by_budget"] = float(np.mean(c <= math.log10(budget)))
        rows.append(row)
        late = quantiles(hi)["q95"]  # where the slowest draws reach 90%: the grid's far end
        if late is not None:
            far = late if far is None else max(far, late)
    grid = _grid(steps, far)
    curves = {"log10_flops": np.round(grid, 6).tolist(), "hard": [], "soft": {
        "per_step": [], "expected_correct": []}}
    ps = [s.p(grid[None, :]) for s in steps]
    per_step = [_order_stats(p) for p in ps]
    for i, stats in enumerate(per_step, start=1):
        curves["soft"]["per_step"].append({"step": i, **_curve(stats)})
    for k in ks:
        if steps[0].k_power is not None:  # P_k = p^(steps per draw): no common transform
            hard = _curve(_order_stats(ps[0] ** steps[0].steps_of(k)))
            correct = _curve(per_step[0], lambda q, k=k: k * q)
        elif len(steps) == 1:  # P_k and k p rise with p: transform p's order statistics
            hard = _curve(per_step[0], lambda q, k=k: comp.success(q, k))
            correct = _curve(per_step[0], lambda q, k=k: k * q)
        else:
            hard = _curve(_order_stats(comp.success_steps(ps[:k])))
            correct = _curve(_order_stats(np.sum(ps[:k], axis=0)))
        curves["hard"].append({"k": k, **hard})
        curves["soft"]["expected_correct"].append({"k": k, **correct})
    first = steps[0]
    return {
        "threshold": threshold, "link": first.link.name, "law": first.law.name,
        "y": first.y_name, "from_k": first.from_k, "sources": [s.source for s in steps],
        "heterogeneous": len(steps) > 1, "phi": comp.phi, "allow_errors": comp.allow_errors,
        "gamma_k": None if first.k_power is None else quantiles(first.k_power[:, 0]),
        "budget": budget, "n_draws": n, "method": method if method == "root" else (
            "closed_form" if len(steps) == 1 and first.closed_form else "root"),
        "steps": rows, "curves": curves, "notes": [note for s in steps for note in s.notes],
    }


def _check(steps: list[StepSuccess], ks: list[int], threshold: float, comp: Composition,
           budget: float | None) -> None:
    if not ks or ks[0] < 1:
        raise InputError(f"--steps: every k must be a whole number >= 1, got {ks}")
    if not (0.0 < threshold < 1.0):
        raise InputError(f"--threshold {threshold}: must lie strictly between 0 and 1")
    if budget is not None and not (budget > 0 and math.isfinite(budget)):
        raise InputError(f"--budget {budget}: must be a positive number of FLOPs, e.g. 1e24")
    if len(steps) > 1 and ks[-1] > len(steps):
        raise InputError(f"--steps {ks[-1]}: heterogeneous steps need one fit per step, and "
                         f"{len(steps)} fit(s) were given")
    if steps[0].k_power is not None and (len(steps) > 1 or not comp.is_chain):
        raise InputError("the fit learnt its composition from several lengths (--k): give it "
                         "alone, without --phi or --allow-errors")
    if len(steps) > 1 and comp.phi is not None:
        raise InputError("--phi (correlated steps) needs identical steps: give one --fit")
    if comp.allow_errors >= ks[0]:
        raise InputError(f"--allow-errors {comp.allow_errors}: must be below the smallest k "
                         f"({ks[0]}), or every task succeeds")


def write_emergence(result: dict, out: str | Path) -> Path:
    """Write ``result`` as ``out/emergence.json`` atomically; return the path."""
    return write_json(Path(out) / "emergence.json", result)
