"""The math of composed tasks: k-step success, threshold crossing and robust summaries.

NumPy and SciPy only, no PyMC: every function takes arrays of posterior draws (draws on axis 0)
and is checked against closed forms and Monte Carlo in ``tests/test_compose.py``. The links
from a loss to per-step success are in :mod:`forecast.laws.links`.

- Compositions turn ``p`` into task success ``P_k``: the i.i.d. chain ``p^k``, heterogeneous steps
  ``prod_i p_i``, correlated steps (per-item ``p ~ Beta`` with concentration ``phi``, closed form
  ``E[p^k]``) and tolerant tasks (at least ``m`` of ``k`` right).
- Crossings give ``log10 C*``, the least compute at which success reaches a level, per draw:
  closed forms for the ``power`` law (any link that is monotone in the loss) and the ``logistic``
  accuracy law, vectorised bisection on log compute otherwise. ``+inf`` means never.
- :func:`quantiles` summarises draws of which some are ``+inf`` (never) without pretending.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

__all__ = [
    "GUMBEL_WIDTH",
    "Composition",
    "at_least",
    "at_least_steps",
    "beta_moment",
    "bisect",
    "chain",
    "cloglog_crossing",
    "gumbel_shift_decades",
    "gumbel_width_decades",
    "heterogeneous",
    "logistic_crossing",
    "power_crossing",
    "quantiles",
    "root_crossing",
    "scan_grid",
]

# ln(-ln 0.1) - ln(-ln 0.9): the 10%-90% width of a Gumbel CDF exp(-e^-z) in units of its scale.
GUMBEL_WIDTH = math.log(-math.log(0.1)) - math.log(-math.log(0.9))

QUANTILE_LEVELS = {"q05": 0.05, "q25": 0.25, "median": 0.5, "q75": 0.75, "q95": 0.95}


# --- compositions: per-step success -> task success ------------------------------------------

def chain(p: np.ndarray, k: int) -> np.ndarray:
    """Success of a chain of ``k`` independent, identical steps: ``p^k``."""
    return np.power(p, k)


def heterogeneous(ps: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Success of a chain of independent steps with their own success: ``prod_i p_i``.

    ``ps`` has the steps on axis 0 (a list of arrays that broadcast together).
    """
    return np.prod(np.asarray(ps, dtype=float), axis=0)


def beta_moment(mean: np.ndarray, phi: np.ndarray, k: int) -> np.ndarray:
    """``E[p^k]`` for per-item ``p ~ Beta(a, b)`` with ``a = mean phi``, ``b = (1 - mean) phi``.

    ``E[p^k] = prod_{j<k} (a + j) / (a + b + j)``: items differ in difficulty (small ``phi``),
    so the steps of one item are correlated and long chains succeed more often than ``mean^k``.
    As ``phi -> inf`` it tends to ``mean^k``.
    """
    a = np.asarray(mean, dtype=float) * phi
    log_out = np.zeros(np.broadcast(a, phi).shape)
    with np.errstate(divide="ignore"):
        for j in range(k):
            log_out = log_out + np.log(a + j) - np.log(phi + j)
    return np.exp(log_out)


def at_least(p: np.ndarray, k: int, m: int, *, phi: np.ndarray | None = None) -> np.ndarray:
    """Probability that at least ``m`` of ``k`` steps are right.

    Independent steps: the binomial tail. With ``phi`` (per-item ``p ~ Beta``, as in
    :func:`beta_moment`): the beta-binomial tail.
    """
    p = np.asarray(p, dtype=float)
    if m <= 0:
        return np.ones_like(p)
    if phi is None:
        return stats.binom.sf(m - 1, k, p)
    a = np.clip(p * phi, 1e-300, None)
    b = np.clip((1.0 - p) * phi, 1e-300, None)
    return stats.betabinom.sf(m - 1, k, a, b)


def at_least_steps(ps: Sequence[np.ndarray], m: int) -> np.ndarray:
    """At least ``m`` of independent steps with their own success (Poisson-binomial tail).

    A dynamic programme over the steps: ``dist[j]`` is the probability of ``j`` right so far.
    """
    ps = [np.asarray(p, dtype=float) for p in ps]
    shape = np.broadcast_shapes(*(p.shape for p in ps))
    dist = [np.ones(shape)] + [np.zeros(shape) for _ in ps]
    for i, p in enumerate(ps, start=1):
        for j in range(i, 0, -1):
            dist[j] = dist[j] * (1.0 - p) + dist[j - 1] * p
        dist[0] = dist[0] * (1.0 - p)
    return np.sum(dist[max(m, 0):], axis=0)


@dataclass(frozen=True)
class Composition:
    """How ``k`` steps make a task.

    Attributes
    ----------
    phi : float or None
        Beta concentration of per-item success (correlated steps); ``None``: independent.
    allow_errors : int
        The task succeeds with up to this many wrong steps (at least ``k - allow_errors`` right).
    """

    phi: float | None = None
    allow_errors: int = 0

    def __post_init__(self):
        if self.phi is not None and not (self.phi > 0 and math.isfinite(self.phi)):
            raise ValueError(f"phi must be a positive number, got {self.phi}")
        if self.allow_errors < 0:
            raise ValueError(f"allow_errors must be >= 0, got {self.allow_errors}")

    @property
    def is_chain(self) -> bool:
        """True for the plain i.i.d. chain ``p^k``."""
        return self.phi is None and self.allow_errors == 0

    def success(self, p: np.ndarray, k: int) -> np.ndarray:
        """Task success ``P_k`` from identical steps of success ``p``."""
        if self.allow_errors:
            return at_least(p, k, k - self.allow_errors, phi=self.phi)
        if self.phi is not None:
            return beta_moment(p, self.phi, k)
        return chain(p, k)

    def success_steps(self, ps: Sequence[np.ndarray]) -> np.ndarray:
        """Task success from steps with their own success (heterogeneous, independent)."""
        if self.phi is not None:
            raise ValueError("correlated (phi) steps need identical steps; heterogeneous steps "
                             "are taken as independent")
        if self.allow_errors:
            return at_least_steps(ps, len(ps) - self.allow_errors)
        return heterogeneous(ps)

    def step_level(self, level: float, k: int) -> float:
        """Return the per-step success ``p*`` at which ``P_k`` reaches ``level``.

        ``P_k`` rises with ``p`` in every composition here, so ``P_k >= level`` iff
        ``p >= p*``: ``level^(1/k)`` for the chain, bisection on ``p`` otherwise.
        """
        if self.is_chain:
            return level ** (1.0 / k)
        return float(bisect(lambda p: self.success(p, k) - level, np.array(0.0),
                            np.array(1.0), iters=60))


# --- threshold crossing ------------------------------------------------------------------------

def bisect(f: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray, *,
           iters: int = 50) -> np.ndarray:
    """Vectorised bisection: a root of ``f`` in ``[lo, hi]`` elementwise, ``f(lo) < 0 <= f(hi)``.

    Returns the upper end of the final bracket (where ``f >= 0`` holds), after ``iters`` halvings.
    """
    lo, hi = np.array(lo, dtype=float), np.array(hi, dtype=float)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        up = f(mid) >= 0
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    return hi


def power_crossing(E: np.ndarray, A: np.ndarray, alpha: np.ndarray,
                   loss_level: np.ndarray) -> np.ndarray:
    """``log10`` of the least compute with ``E + A C^-alpha <= loss_level``, per draw.

    ``C* = ((L* - E) / A)^(-1/alpha)`` (raw units: C in FLOPs); ``+inf`` where
    ``L* <= E`` (never), ``-inf`` where ``L* = +inf`` (already at any compute).
    """
    gap = np.asarray(loss_level, dtype=float) - E
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -(np.log10(np.where(gap > 0, gap, np.nan)) - np.log10(A)) / alpha
    out = np.where(gap > 0, out, np.inf)
    return np.where(np.isposinf(loss_level), -np.inf, out)


def logistic_crossing(floor: np.ndarray, s: np.ndarray, C50: np.ndarray,
                      level: np.ndarray) -> np.ndarray:
    """``log10`` of the compute at which ``floor + (1 - floor) sigmoid(s ln(C/C50))`` = level.

    ``-inf`` where ``level <= floor`` (the floor already reaches it), ``+inf`` where
    ``level >= 1`` (never).
    """
    u = (np.asarray(level, dtype=float) - floor) / (1.0 - floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(C50) + special.logit(np.clip(u, 0.0, 1.0)) / (s * math.log(10.0))
    return out


def cloglog_crossing(floor: np.ndarray, s: np.ndarray, C50: np.ndarray,
                     level: np.ndarray) -> np.ndarray:
    """``log10`` of the compute at which ``floor + (1 - floor) (1 - 2^-(C/C50)^s)`` = level.

    ``-inf`` where ``level <= floor``, ``+inf`` where ``level >= 1``.
    """
    u = np.clip((np.asarray(level, dtype=float) - floor) / (1.0 - floor), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(C50) + np.log10(-np.log2(1.0 - u)) / s


def root_crossing(success: Callable[[np.ndarray], np.ndarray], level: float | np.ndarray, *,
                  lo: float = 0.0, hi: float = 60.0, step: float = 0.5, iters: int = 32,
                  scan: np.ndarray | None = None) -> np.ndarray:
    """``log10 C*``: the least ``log10`` compute with ``success >= level``, per draw.

    A scan on a grid of ``step`` decades from ``lo`` to ``hi`` finds, for each draw, the first
    grid point at or above the level (so a non-monotone curve gives its *least* crossing);
    vectorised bisection then refines it within that cell to ``step / 2**iters`` decades
    (1e-10 decades by default, a relative error of 3e-10 on the compute).

    Parameters
    ----------
    success : callable
        ``success(log10_C)`` returns the success of each draw, shape ``(n_draws, m)``, with
        ``log10_C`` of shape ``(1, m)`` (the scan) or ``(n_draws, m)`` (the bisection): write it
        with the draws' parameters as columns of shape ``(n_draws, 1)``.
    level : float or 1-D array
        The level(s) to reach; several levels share one scan.
    lo, hi : float
        Search range in ``log10`` FLOPs: ``-inf`` is returned where the level is reached at
        ``lo`` already, ``+inf`` (never) where it is not reached by ``hi`` (default 1e60 FLOPs).
    step : float
        Scan spacing in decades.
    iters : int
        Bisection halvings.
    scan : numpy.ndarray or list of numpy.ndarray, optional
        ``success`` on the scan grid, shape ``(n_draws, n_grid)``, if already computed; or one
        such array per level, when ``success`` evaluates a different curve in each level's
        column (then ``success`` is only called by the refinement, with ``(n_draws, n_levels)``).

    Returns
    -------
    numpy.ndarray
        ``log10 C*`` per draw: shape ``(n_draws,)`` for one level, ``(n_draws, n_levels)``
        for an array of levels.
    """
    levels = np.atleast_1d(np.asarray(level, dtype=float))
    grid = scan_grid(lo, hi, step)
    values = success(grid[None, :]) if scan is None else scan
    curves = values if isinstance(values, list) else [np.asarray(values)] * levels.size
    first = np.stack([np.argmax(v >= lvl, axis=1) for v, lvl in zip(curves, levels,
                                                                   strict=True)], axis=1)
    crosses = np.stack([v[np.arange(v.shape[0]), i] >= lvl for v, i, lvl in
                        zip(curves, first.T, levels, strict=True)], axis=1)
    at_lo = crosses & (first == 0)
    right = grid[first]
    left = grid[np.maximum(first - 1, 0)]
    refined = bisect(lambda x: np.asarray(success(x)) - levels, left, right, iters=iters)
    out = np.where(crosses, refined, np.inf)
    out = np.where(at_lo, -np.inf, out)
    return out[:, 0] if np.ndim(level) == 0 else out


def scan_grid(lo: float = 0.0, hi: float = 60.0, step: float = 0.5) -> np.ndarray:
    """Return the ``log10`` compute grid that :func:`root_crossing` scans."""
    return np.arange(lo, hi + step / 2, step)


def gumbel_width_decades(alpha: float) -> float:
    """Return the 10%-90% width in decades of ``exp(-k A C^-alpha)``: 3.08/(alpha ln 10), any k."""
    return GUMBEL_WIDTH / (alpha * math.log(10.0))


def gumbel_shift_decades(k: float, alpha: float) -> float:
    """Return how far k steps move the ``E = 0`` exp-link curve right: log10(k)/alpha decades."""
    return math.log10(k) / alpha


# --- summaries ----------------------------------------------------------------------------------

def quantiles(x: np.ndarray, levels: dict[str, float] | None = None) -> dict[str, float | None]:
    """Quantiles of draws of which some may be ``+inf`` (never) or ``-inf`` (always).

    The infinite draws are kept in the ordering (never above every finite value), so the
    quantiles of the finite part are not inflated by dropping them. A quantile whose linear
    interpolation (NumPy's default) touches an infinite draw is ``None``: it lies among the
    draws that never (or always) cross. NaN draws are an error.
    """
    levels = QUANTILE_LEVELS if levels is None else levels
    x = np.sort(np.asarray(x, dtype=float).reshape(-1))
    if x.size == 0 or np.isnan(x).any():
        raise ValueError("quantiles need a non-empty array without NaN")
    out: dict[str, float | None] = {}
    for name, q in levels.items():
        h = (x.size - 1) * q
        i, j = math.floor(h), math.ceil(h)
        if not (np.isfinite(x[i]) and np.isfinite(x[j])):
            out[name] = None
        else:
            out[name] = float(x[i] + (h - i) * (x[j] - x[i]))
    return out
