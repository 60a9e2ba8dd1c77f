"""Per-step success ``p(C)`` per draw of a fit: :class:`StepSuccess`, :func:`step_success`.

A fit and a link (:class:`forecast.laws.links.Link`) give each draw's per-step success curve, with
the fit's extrapolation error, a group's compute offset, and a composition learnt from several
task lengths (``forecast fit --k``); :mod:`forecast.questions.emergence` composes the steps and
finds the crossings.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from forecast.errors import InputError
from forecast.inference.extrapolation import decades_beyond
from forecast.laws import predict
from forecast.laws.compose import (
    cloglog_crossing,
    logistic_crossing,
    power_crossing,
    root_crossing,
)
from forecast.laws.links import LINKS, Link, get_link

__all__ = ["LINK_PARAMS", "StepSuccess", "step_success"]

LINK_PARAMS = LINKS["weibull"].params


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
    k_power : numpy.ndarray or None
        ``gamma_k`` per draw (``(n_draws, 1)``) of a fit that learnt its composition from
        several task lengths (``forecast fit --k``): a ``k``-step task's success is
        ``p^(from_k (k / from_k)^gamma_k)`` (:meth:`steps_of`), ``from_k`` being the shortest
        length fitted.
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
    k_power: np.ndarray | None = None

    @property
    def n_draws(self) -> int:
        """Number of posterior draws."""
        return next(iter(self.raw.values())).shape[0]

    def thin(self, n: int) -> StepSuccess:
        """Keep the first ``n`` draws (to pair fits of different lengths draw by draw)."""
        def first(a):
            return None if a is None else a[:n]

        return dataclasses.replace(self, raw={k: v[:n] for k, v in self.raw.items()},
                                   z=first(self.z), shift=first(self.shift),
                                   k_power=first(self.k_power))

    def steps_of(self, k: int) -> float | np.ndarray:
        """Independent steps a ``k``-step task counts as: ``k``, or per draw with ``k_power``."""
        if self.k_power is None:
            return k
        return self.from_k * (k / self.from_k) ** self.k_power

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
    k_power = None
    if fit.k_column is not None:
        from_k, k_power, note = _learnt_composition(fit, from_k, src)
        notes.append(note)
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
                       float(ext["flops_max"]) if kappa > 0 else float("inf"), z,
                       k_power=k_power)


def _learnt_composition(fit, from_k: int, src) -> tuple[int, np.ndarray | None, str]:
    """``from_k``, ``gamma_k`` draws (None when fixed at 1) and a note, for a fit with ``--k``."""
    k_ref = int(round(fit.k_ref))
    if from_k not in (1, k_ref):
        raise InputError(f"--from-k {from_k}: the fit in {src} learnt its composition from "
                         f"several lengths (--k {fit.k_column}); its law is the accuracy at "
                         f"k = {k_ref}: drop --from-k")
    gamma = fit.draws("gamma_k")
    lo, mid, hi = np.quantile(gamma, [0.05, 0.5, 0.95])
    fixed = bool(np.all(gamma == 1.0))
    note = (f"composition from several lengths (--k {fit.k_column}): "
            + ("i.i.d. steps, P_k = p^k" if fixed else
               f"a k-step task counts as {k_ref} (k/{k_ref})^gamma_k independent steps, "
               f"gamma_k {mid:.3g} [{lo:.3g}, {hi:.3g}] (1: i.i.d.)"))
    return k_ref, None if fixed else gamma[:, None], note


def _flops_range(fit) -> tuple[float, float]:
    c0 = fit.refs.get("C", 1e20)
    if "constant_data" in fit.idata.groups() and "x_C" in fit.idata.constant_data:
        x = np.asarray(fit.idata.constant_data["x_C"]) * c0
        return float(x.min()), float(x.max())
    return c0 / 100.0, c0 * 100.0
