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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from forecast.errors import InputError
from forecast.inference.extrapolation import decades_beyond
from forecast.laws import predict
from forecast.laws.compose import (
    Composition,
    cloglog_crossing,
    logistic_crossing,
    power_crossing,
    quantiles,
    root_crossing,
    scan_grid,
)
from forecast.laws.links import LINKS, Link, get_link
from forecast.outputs import write_json

__all__ = ["StepSuccess", "emergence", "step_success", "write_emergence"]

LINK_PARAMS = LINKS["weibull"].params
CURVE_POINTS = 121
# The soft and hard curves' widths are measured between these levels of success.
WIDTH_LEVELS = (0.1, 0.9)


@dataclass
class StepSuccess:
    """Per-step success ``p(C)`` for every posterior draw of one fit.

    Attributes
    ----------
    law : forecast.laws.Law
        The fitted law.
    link : forecast.laws.links.Link
        ``exp`` (``p = exp(-L)``), ``weibull`` (the accuracy link fitted jointly with the law) or
        ``logistic`` (an accuracy law of a ``from_k``-step task: ``p = P_k0^(1/k0)``).
    raw : dict of numpy.ndarray
        The law's (and link's) raw-unit parameters, one column ``(n_draws, 1)`` each.
    from_k : int
        Steps in the task whose accuracy the ``logistic`` law was fitted to.
    source : str
        Where the fit came from, for messages.
    kappa, flops_max, z : float, float, numpy.ndarray or None
        The fit's extrapolation error (:mod:`forecast.inference.extrapolation`): beyond
        ``flops_max``
        each draw's loss curve is multiplied by ``exp(kappa log10(C / flops_max) z)``, with
        one ``z ~ N(0, 1)`` per draw (``(n_draws, 1)``): an uncertain curve, not run noise.
    shift : numpy.ndarray or None
        A group's compute offset in decades per draw (``(n_draws, 1)``, a fit with
        ``--group``): the group's success at ``C`` is the law's at ``C 10^shift``, so its
        crossings are the law's minus ``shift``.
    """

    law: object
    link: Link
    raw: dict[str, np.ndarray]
    from_k: int = 1
    source: str = ""
    y_name: str = ""
    flops_range: tuple[float, float] = (1e18, 1e22)
    notes: list[str] = field(default_factory=list)
    kappa: float = 0.0
    flops_max: float = float("inf")
    z: np.ndarray | None = None
    shift: np.ndarray | None = None

    @property
    def n_draws(self) -> int:
        """Number of posterior draws."""
        return next(iter(self.raw.values())).shape[0]

    def thin(self, n: int) -> StepSuccess:
        """Keep the first ``n`` draws (to pair fits of different lengths draw by draw)."""
        return StepSuccess(self.law, self.link, {k: v[:n] for k, v in self.raw.items()},
                           self.from_k, self.source, self.y_name, self.flops_range, self.notes,
                           self.kappa, self.flops_max, None if self.z is None else self.z[:n],
                           None if self.shift is None else self.shift[:n])

    def p(self, log10_c: np.ndarray) -> np.ndarray:
        """Per-step success at ``log10`` compute: shape ``(n_draws, m)`` for ``(1, m)`` input."""
        C = np.power(10.0, log10_c if self.shift is None else log10_c + self.shift)
        value = predict(self.law, self.raw, C=C)
        if self.kappa > 0 and self.link.metric == "positive":
            value = value * np.exp(self.kappa * self.z * decades_beyond(C, self.flops_max))
        return self.link.success(value, self.raw, self.from_k)

    @property
    def closed_form(self) -> bool:
        """Whether crossings have a closed form (power/pure/logistic law, kappa 0)."""
        return self.law.name in ("power", "pure", "logistic", "cloglog") and self.kappa == 0

    def crossing(self, p_level: float | np.ndarray, *, method: str = "auto") -> np.ndarray:
        """``log10 C*`` per draw: the least compute with ``p(C) >= p_level``.

        Shape ``(n_draws,)`` for one level, ``(n_draws, n_levels)`` for an array of levels.
        ``method="root"`` forces the vectorised root-finding even where a closed form exists.
        """
        if method == "root" or not self.closed_form:
            return root_crossing(self.p, p_level)
        r, level = self.raw, np.atleast_1d(np.asarray(p_level, dtype=float))
        value = self.link.inverse(level, r, self.from_k)  # the law's value at that success
        if self.link.metric == "unit":
            crossing = cloglog_crossing if self.law.name == "cloglog" else logistic_crossing
            out = crossing(r["floor"], r["s"], r["C50"], value)
        else:
            out = power_crossing(r.get("E", 0.0), r["A"], r["alpha"], value)
        out = np.broadcast_to(out, (self.n_draws, level.size))
        if self.shift is not None:
            out = out - self.shift
        return out[:, 0] if np.ndim(p_level) == 0 else out


def _has_acc_link(fit) -> bool:
    """Whether the fit holds the joint weibull link; an older fit's sigmoid link is an error."""
    attrs = fit.idata.attrs
    if not attrs.get("acc"):
        return False
    if attrs.get("acc_link") != "weibull":
        raise InputError(f"{attrs.get('source', 'the fit')}: this fit's accuracy link is the "
                         "sigmoid link of an older forecast, since replaced by the weibull link; "
                         "rerun `forecast fit ... --acc COLUMN`")
    return all(p in fit.idata.posterior for p in LINK_PARAMS)


def step_success(fit, link: Link | str | None = None, *, from_k: int = 1, seed: int = 0
                 ) -> StepSuccess:
    """Per-step success from a fit, checking that the fit supports the link.

    Parameters
    ----------
    fit : forecast.inference.fitting.Fit
        A fit of a law of compute (``power``, ``pure``, ``broken`` or ``logistic``).
    link : forecast.laws.links.Link or str, optional
        ``exp``, ``weibull`` or ``logistic`` (or its name); by default ``logistic`` for a
        ``logistic`` fit,
        ``weibull`` for a fit with a joint accuracy link (``forecast fit --acc``), else ``exp``.
    from_k : int
        For a ``logistic`` fit: the number of steps of the task it was fitted to (``p`` is its
        accuracy to the power ``1/from_k``).
    seed : int
        Seed of the draws' extrapolation-error ``z`` (used when the fit has ``kappa > 0``).

    Raises
    ------
    InputError
        If the law is not a law of compute alone, or the fit cannot give that link.
    """
    law = fit.law
    src = fit.idata.attrs.get("source", "the fit")
    if "C" not in law.covariates:
        raise InputError(f"{src}: emergence needs a law of compute; this fit is '{law.name}' "
                         "(of params and tokens): refit with --law power or broken")
    if link is None:
        link = ("logistic" if law.metric == "unit" else "weibull" if _has_acc_link(fit)
                else "exp")
    link = get_link(link)
    if law.metric != link.metric:
        what = ("an accuracy (law 'logistic'): use --link logistic" if law.metric == "unit"
                else f"a loss (law '{law.name}'): use --link exp or weibull")
        raise InputError(f"--link {link.name}: the fit in {src} is of {what}")
    if link.params and not _has_acc_link(fit):
        raise InputError(f"--link {link.name}: the fit in {src} has no accuracy link; refit "
                         "with `forecast fit RUNS.csv --y step_loss --acc step_acc`")
    if from_k != 1 and link.metric != "unit":
        raise InputError("--from-k applies to a logistic fit of a k0-step task's accuracy only")
    if from_k < 1:
        raise InputError(f"--from-k {from_k}: must be a whole number of steps >= 1")
    names = list(law.params) + list(link.params)
    raw = {name: fit.draws(name)[:, None] for name in names}
    notes = []
    if link.name == "exp" and "E" in raw:
        cap = math.exp(-float(np.median(raw["E"])))
        notes.append(f"the law's floor E (median {-math.log(cap):.3g}) caps per-step success at "
                     f"exp(-E) = {cap:.3g}")
        if fit.y_name == "loss":
            notes.append("the exp link wants the loss of one step of the task (e.g. --y "
                         "step_loss), not the average text loss")
    flops = fit.summary.get("flops_range") or _flops_range(fit)
    ext = fit.extrapolation
    kappa = float(ext["kappa_per_decade"]) if law.metric == "positive" else 0.0
    z = None
    if kappa > 0:
        n = next(iter(raw.values())).shape[0]
        z = np.random.default_rng([seed, 7]).standard_normal((n, 1))
        notes.append(f"crossings include the law's extrapolation error, {kappa:.3g} per decade "
                     f"beyond {ext['flops_max']:.3g} FLOPs (refit without the largest runs; "
                     f"`forecast fit --extrapolation none` leaves it out)")
    return StepSuccess(law, link, raw, from_k, str(src), fit.y_name,
                       (float(flops[0]), float(flops[1])), notes, kappa,
                       float(ext["flops_max"]) if kappa > 0 else float("inf"), z)


def _flops_range(fit) -> tuple[float, float]:
    c0 = fit.refs.get("C", 1e20)
    if "constant_data" in fit.idata.groups() and "x_C" in fit.idata.constant_data:
        x = np.asarray(fit.idata.constant_data["x_C"]) * c0
        return float(x.min()), float(x.max())
    return c0 / 100.0, c0 * 100.0


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
        if len(steps) == 1:  # P_k and k p rise with p: transform p's order statistics
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
    if len(steps) > 1 and comp.phi is not None:
        raise InputError("--phi (correlated steps) needs identical steps: give one --fit")
    if comp.allow_errors >= ks[0]:
        raise InputError(f"--allow-errors {comp.allow_errors}: must be below the smallest k "
                         f"({ks[0]}), or every task succeeds")


def write_emergence(result: dict, out: str | Path) -> Path:
    """Write ``result`` as ``out/emergence.json`` atomically; return the path."""
    return write_json(Path(out) / "emergence.json", result)
