"""A small No-U-Turn sampler in NumPy, for low-dimensional posteriors with a fast gradient.

The algorithm is Stan's (Hoffman & Gelman 2014; Betancourt 2017): multinomial sampling of the
trajectory, biased progressive sampling between subtrees, the generalised U-turn criterion with
the extra checks across subtrees, dual-averaging step-size adaptation and one window of dense
metric adaptation. It works in coordinates ``x = a + B u`` in which the metric is the identity:
the caller hands in a first ``(a, B)`` (e.g. the Laplace approximation) and warmup refines ``B``
from the covariance of the draws. Only :mod:`numpy` is needed; the cost per draw is one Python
call of the log density per leapfrog step, which suits models with a handful of parameters.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["ChainResult", "nuts_chain"]

STATS = ("acceptance_rate", "diverging", "energy", "lp", "n_steps", "step_size", "tree_depth")
_DIVERGENCE = 1000.0  # energy error (nats) beyond which a trajectory counts as divergent


@dataclass
class ChainResult:
    """Draws of one chain (``draws x dim``, in the caller's coordinates) and per-draw stats."""

    draws: np.ndarray
    stats: dict[str, np.ndarray]


class _Point:
    __slots__ = ("u", "p", "lp", "g")

    def __init__(self, u, p, lp, g):
        self.u, self.p, self.lp, self.g = u, p, lp, g


class _Tree:
    __slots__ = ("left", "right", "prop", "logw", "rho", "bad", "n", "acc")

    def __init__(self, left, right, prop, logw, rho, bad, n, acc):
        self.left, self.right, self.prop, self.logw = left, right, prop, logw
        self.rho, self.bad, self.n, self.acc = rho, bad, n, acc


def _no_uturn(rho, p_left, p_right) -> bool:
    return rho @ p_left > 0.0 and rho @ p_right > 0.0


def _logaddexp(a: float, b: float) -> float:
    """``log(exp(a) + exp(b))`` for Python floats (``np.logaddexp`` costs a ufunc call)."""
    hi, lo = (a, b) if a >= b else (b, a)
    if lo == -math.inf:
        return hi
    return hi + math.log1p(math.exp(lo - hi))


def _log_uniform(rng: np.random.Generator) -> float:
    """Log of a uniform draw on [0, 1) (-inf for an exact 0)."""
    u = rng.random()
    return math.log(u) if u > 0.0 else -math.inf


class _Sampler:
    def __init__(self, logp_grad, a, B, rng, max_depth):
        self.f, self.rng, self.max_depth = logp_grad, rng, max_depth
        self.set_coords(a, B)
        self.diverged = False

    def set_coords(self, a, B):
        self.a, self.B = np.asarray(a, float), np.asarray(B, float)
        self.Bt = np.ascontiguousarray(self.B.T)

    def logp(self, u):
        lp, g = self.f(self.a + self.B @ u)
        lp = float(lp)
        if not math.isfinite(lp):
            return -math.inf, np.zeros_like(u)
        return lp, self.Bt @ g

    def leaf(self, z: _Point, eps: float, H0: float) -> _Tree:
        p = z.p + 0.5 * eps * z.g
        u = z.u + eps * p
        lp, g = self.logp(u)
        p = p + 0.5 * eps * g
        H = -lp + 0.5 * float(p @ p)
        if not math.isfinite(H):
            H = math.inf
        delta = H - H0
        point = _Point(u, p, lp, g)
        diverged = delta > _DIVERGENCE
        self.diverged |= diverged
        acc = math.exp(-delta) if delta > 0 else 1.0
        return _Tree(point, point, point, -delta, p, diverged, 1, acc)

    def build(self, z: _Point, direction: int, depth: int, eps: float, H0: float) -> _Tree:
        if depth == 0:
            return self.leaf(z, direction * eps, H0)
        t1 = self.build(z, direction, depth - 1, eps, H0)
        if t1.bad:
            return t1
        t2 = self.build(t1.right if direction > 0 else t1.left, direction, depth - 1, eps, H0)
        n, acc = t1.n + t2.n, t1.acc + t2.acc
        if t2.bad:
            return _Tree(None, None, None, 0.0, None, True, n, acc)
        logw = _logaddexp(t1.logw, t2.logw)
        prop = t2.prop if _log_uniform(self.rng) < t2.logw - logw else t1.prop
        lo, hi = (t1, t2) if direction > 0 else (t2, t1)
        rho = lo.rho + hi.rho
        bad = not (_no_uturn(rho, lo.left.p, hi.right.p)
                   and _no_uturn(lo.rho + hi.left.p, lo.left.p, hi.left.p)
                   and _no_uturn(lo.right.p + hi.rho, lo.right.p, hi.right.p))
        return _Tree(lo.left, hi.right, prop, logw, rho, bad, n, acc)

    def transition(self, z: _Point, eps: float):
        """One NUTS transition from ``z``; returns the new point and its stats."""
        p0 = self.rng.standard_normal(z.u.shape)
        start = _Point(z.u, p0, z.lp, z.g)
        H0 = -z.lp + 0.5 * float(p0 @ p0)
        tree = _Tree(start, start, start, 0.0, p0, False, 0, 0.0)
        self.diverged = False
        depth = 0
        while depth < self.max_depth:
            direction = 1 if self.rng.random() < 0.5 else -1
            edge = tree.right if direction > 0 else tree.left
            new = self.build(edge, direction, depth, eps, H0)
            tree.n += new.n
            tree.acc += new.acc
            depth += 1
            if new.bad:
                break
            if _log_uniform(self.rng) < new.logw - tree.logw:
                tree.prop = new.prop
            tree.logw = _logaddexp(tree.logw, new.logw)
            lo, hi = (tree, new) if direction > 0 else (new, tree)
            rho = lo.rho + hi.rho
            uturn = not (_no_uturn(rho, lo.left.p, hi.right.p)
                         and _no_uturn(lo.rho + hi.left.p, lo.left.p, hi.left.p)
                         and _no_uturn(lo.right.p + hi.rho, lo.right.p, hi.right.p))
            tree.left, tree.right, tree.rho = lo.left, hi.right, rho
            if uturn:
                break
        z = tree.prop
        energy = -z.lp + 0.5 * float(z.p @ z.p)
        return z, (tree.acc / max(tree.n, 1), self.diverged, energy, z.lp, tree.n, eps, depth)


class _DualAveraging:
    """Nesterov dual averaging of log step size (Hoffman & Gelman 2014, section 3.2.1)."""

    def __init__(self, eps0: float, target: float):
        self.mu, self.target = np.log(10.0 * eps0), target
        self.hbar, self.log_eps_bar, self.t = 0.0, 0.0, 0

    def update(self, accept: float) -> float:
        self.t += 1
        eta = 1.0 / (self.t + 10.0)
        self.hbar = (1 - eta) * self.hbar + eta * (self.target - accept)
        log_eps = self.mu - np.sqrt(self.t) / 0.05 * self.hbar
        w = self.t ** -0.75
        self.log_eps_bar = w * log_eps + (1 - w) * self.log_eps_bar
        return float(np.exp(log_eps))

    @property
    def final(self) -> float:
        return float(np.exp(self.log_eps_bar))


def _window(tune: int) -> tuple[int, int]:
    """Warmup iterations whose draws set the metric: from 15% to 75% of tuning."""
    return int(0.15 * tune), int(0.75 * tune)


def nuts_chain(logp_grad: Callable[[np.ndarray], tuple[float, np.ndarray]], x0: np.ndarray,
               a: np.ndarray, B: np.ndarray, *, tune: int, draws: int,
               rng: np.random.Generator, target_accept: float = 0.9,
               max_depth: int = 10) -> ChainResult:
    """Run one NUTS chain.

    Parameters
    ----------
    logp_grad : callable
        ``x -> (log density, gradient)`` on the sampler's unconstrained space.
    x0 : numpy.ndarray
        Starting point.
    a, B : numpy.ndarray
        First affine map ``x = a + B u`` in which the metric is the identity (``B B^T`` is the
        inverse metric: e.g. the Cholesky factor of a Laplace covariance).
    tune, draws : int
        Warmup iterations (discarded) and kept draws.
    rng : numpy.random.Generator
        The chain's own random stream.
    target_accept : float
        Mean acceptance statistic that step-size adaptation aims at.
    max_depth : int
        Largest tree depth (at most ``2**max_depth`` leapfrog steps per draw).

    Returns
    -------
    ChainResult
        ``draws x dim`` kept draws in the coordinates of ``x`` and per-draw stats named as PyMC
        names them (``diverging``, ``tree_depth``, ...).
    """
    s = _Sampler(logp_grad, a, B, rng, max_depth)
    u0 = np.linalg.solve(s.B, np.asarray(x0, float) - s.a)
    lp, g = s.logp(u0)
    if not np.isfinite(lp):
        raise FloatingPointError("the log density is not finite at the starting point")
    z = _Point(u0, np.zeros_like(u0), lp, g)
    eps = float(len(u0)) ** -0.25
    adapt = _DualAveraging(eps, target_accept)
    w0, w1 = _window(tune)
    window = []
    out = np.empty((draws, len(u0)))
    stats = np.empty((draws, len(STATS)))
    for i in range(tune + draws):
        z, st = s.transition(z, eps)
        if i < tune:
            eps = adapt.update(st[0])
            if w0 <= i < w1:
                window.append(s.a + s.B @ z.u)
            if i == w1 - 1 and len(window) >= 20:
                x = s.a + s.B @ z.u
                xs = np.asarray(window)
                n = len(xs)
                cov = np.cov(xs, rowvar=False) * n / (n + 5.0)
                cov += 1e-3 * 5.0 / (n + 5.0) * np.diag(np.diag(cov) + 1e-12)
                try:
                    B_new = np.linalg.cholesky(cov)
                except np.linalg.LinAlgError:
                    B_new = s.B
                s.set_coords(x, B_new)
                lp, g = s.logp(np.zeros_like(z.u))
                z = _Point(np.zeros_like(z.u), z.p, lp, g)
                eps = adapt.final
                adapt = _DualAveraging(eps, target_accept)
            if i == tune - 1:
                eps = adapt.final
        else:
            out[i - tune] = s.a + s.B @ z.u
            stats[i - tune] = st
    return ChainResult(out, {name: stats[:, k] for k, name in enumerate(STATS)})
