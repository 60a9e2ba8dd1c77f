"""The point-fit baseline everyone uses: Huber loss on log loss, L-BFGS-B from a grid of starts.

This is the procedure of Hoffmann et al. (2022, appendix D.2) as replicated by Besiroglu et al.
(Epoch AI, 2024): minimise ``sum_i Huber_delta(log L(x_i) - log y_i)`` with ``delta = 1e-3`` by
L-BFGS-B started from every point of a grid, keep the best optimum, and get intervals as
percentiles of refits on bootstrap resamples of the runs.

It works for any law of :data:`forecast.laws.LAWS`. Parameters are optimised in the same
scale-free units the Bayesian model samples (covariates over their geometric means, the metric
over its median; see :func:`forecast.inference.model.model_data`), which changes the conditioning
of the problem but not its optimum, and reported in raw units through :func:`forecast.laws.to_raw`.
Parameters that the law's default priors fix (the ``logistic`` chance floor) stay fixed. Laws of
accuracy (``logistic``) have their Huber residuals on the accuracy itself, not its log.

Two liberties, both documented in ``docs/backtest.md``: grids with more than ``max_starts``
points are screened by their objective and only the best ``max_starts`` are optimised, and the
bootstrap refits start from the few best optima of the full fit instead of the whole grid.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from dataclasses import dataclass

import numpy as np

from forecast.errors import FitError
from forecast.laws import Law, get_law, predict, to_raw
from forecast.runs import Runs

__all__ = ["DELTA", "PointFit", "fit_baseline", "huber"]

DELTA = 1e-3
_NOISE = ("sigma", "nu", "kappa")
# Starting values in scaled units, and whether a parameter is optimised in log space.
_GRID: dict[str, tuple[bool, tuple[float, ...]]] = {
    "E": (True, (0.05, 0.2, 0.5, 0.8)),
    "A": (True, (0.05, 0.3, 1.0, 3.0)),
    "B": (True, (0.05, 0.3, 1.0, 3.0)),
    "alpha": (True, (0.1, 0.3, 0.6, 1.0)),
    "beta": (True, (0.1, 0.3, 0.6, 1.0)),
    "delta": (False, (-0.3, 0.0, 0.3)),
    "f": (True, (0.5, 2.0)),
    "s": (True, (0.3, 1.0, 3.0)),
    "floor": (False, (0.0, 0.25)),
}
_LOG_BOUNDS = (-25.0, 5.0)
_LIN_BOUNDS = {"delta": (-3.0, 3.0), "floor": (0.0, 0.99)}


def huber(r: np.ndarray, delta: float = DELTA) -> np.ndarray:
    """Huber loss of residuals: ``r^2/2`` within ``delta`` of zero, ``delta (|r| - delta/2)`` out.

    Parameters
    ----------
    r : numpy.ndarray
        Residuals.
    delta : float
        Where the loss turns from quadratic to linear.

    Returns
    -------
    numpy.ndarray
        The loss of each residual.
    """
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


@dataclass(frozen=True)
class PointFit:
    """A point fit of a law and its bootstrap refits.

    Attributes
    ----------
    law : Law
        The law.
    raw : dict of float
        The best fit, in raw units (as :func:`forecast.laws.to_raw` gives them).
    boot : dict of numpy.ndarray
        Raw-unit parameters of each bootstrap refit, one entry per resample.
    residuals : numpy.ndarray
        Residuals of the best fit on its own runs (log space for losses).
    objective : float
        The summed Huber loss at the best fit.
    n_starts : int
        Number of starting points optimised for the full fit.
    """

    law: Law
    raw: dict[str, float]
    boot: dict[str, np.ndarray]
    residuals: np.ndarray
    objective: float
    n_starts: int

    def predict(self, runs: Runs) -> np.ndarray:
        """Return the best fit's prediction at the runs' covariates."""
        return predict(self.law, self.raw, **runs.covariates(self.law))

    def draws(self, runs: Runs, *, rng: np.random.Generator | None = None,
              noise: bool = False) -> np.ndarray:
        """Bootstrap predictions at the runs' covariates, shape ``(n_boot, n_runs)``.

        With ``noise=True`` each prediction also gets a residual of the full fit drawn at
        random (multiplicative for losses), which turns the percentile interval of the curve
        into a rough predictive interval for a new run; ``rng`` is then required.
        """
        cov = runs.covariates(self.law)
        mean = predict(self.law, {k: v[:, None] for k, v in self.boot.items()}, **cov)
        if not noise:
            return mean
        if rng is None:
            raise ValueError("noise=True needs an explicit rng")
        r = rng.choice(self.residuals, size=mean.shape)
        return mean * np.exp(r) if self.law.metric == "positive" else mean + r


class _Problem:
    """The objective of one law on one set of runs, over a vector of free parameters.

    Objective and gradient are compiled once per law with PyTensor from the law's own mean
    (the one the Bayesian model uses); bootstrap resamples enter as per-run weights.
    """

    def __init__(self, law: Law, X: dict[str, np.ndarray], y: np.ndarray, fixed: dict,
                 free: list[str], delta: float):
        self.law, self.X, self.y, self.fixed, self.free = law, X, y, fixed, free
        self.logs = tuple(_GRID.get(n, (False, ()))[0] for n in free)
        self.target = np.log(y) if law.metric == "positive" else y
        self._fn = _compile(law, tuple(free), tuple(sorted(fixed.items())), self.logs,
                            tuple(sorted(X)), float(delta))
        self._args = [X[k] for k in sorted(X)] + [self.target]

    def theta(self, v: np.ndarray) -> dict:
        vals = np.where(self.logs, np.exp(np.clip(v, -700, 700)), v)
        return {**self.fixed, **dict(zip(self.free, vals, strict=True))}

    def residuals(self, v: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            mu = self.law.mean(np, self.X, self.theta(v))
            pred = np.log(mu) if self.law.metric == "positive" else mu
        return pred - self.target

    def value_and_grad(self, v: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
        f, g = self._fn(np.asarray(v, dtype=float), *self._args, w)
        if not (np.isfinite(f) and np.all(np.isfinite(g))):
            return 1e12, np.zeros_like(v)
        return float(f), g


@functools.lru_cache(maxsize=32)
def _compile(law: Law, free: tuple, fixed: tuple, logs: tuple, cov: tuple, delta: float):
    import pytensor
    import pytensor.tensor as pt

    v = pt.dvector("v")
    X = {k: pt.dvector(f"x_{k}") for k in cov}
    target, w = pt.dvector("target"), pt.dvector("w")
    vals = [pt.exp(v[i]) if logs[i] else v[i] for i in range(len(free))]
    mu = law.mean(pt, X, {**dict(fixed), **dict(zip(free, vals, strict=True))})
    r = (pt.log(mu) if law.metric == "positive" else mu) - target
    a = pt.abs(r)
    loss = pt.sum(w * pt.switch(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta)))
    fn = pytensor.function([v, *X.values(), target, w], [loss, pt.grad(loss, v)])
    fn.trust_input = True  # inputs are float64 arrays built here; skips per-call checks
    return fn


def _setup(runs: Runs, law: Law, delta: float) -> tuple[_Problem, dict, list, list]:
    from forecast.inference.model import model_data
    from forecast.inference.priors import default_priors

    data = model_data(runs, law)
    y = data.y / data.refs["y"]
    fixed, free, grids, bounds = {}, [], [], []
    logx = np.log(data.X["C"]) if "C" in data.X else None
    for name, spec in default_priors(law).items():
        key = name.removesuffix("_scaled")
        if key in _NOISE:
            continue
        if spec["dist"] == "Fixed":
            fixed[key] = float(spec["value"])
            continue
        free.append(key)
        if key in ("log_xb", "log_x50"):
            grids.append(tuple(np.quantile(logx, [0.25, 0.5, 0.75])))
            lo, hi = logx.min(), logx.max()
            bounds.append((lo - 3 * (hi - lo) - 1, hi + 3 * (hi - lo) + 1))
            continue
        is_log, values = _GRID[key]
        grids.append(tuple(np.log(values)) if is_log else values)
        bounds.append(_LOG_BOUNDS if is_log else _LIN_BOUNDS[key])
    return _Problem(law, data.X, y, fixed, free, delta), data.refs, grids, bounds


def _minimise(problem: _Problem, starts: list[np.ndarray], bounds: list, w: np.ndarray) -> list:
    from scipy.optimize import minimize

    found = []
    for v0 in starts:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = minimize(problem.value_and_grad, v0, args=(w,), jac=True, method="L-BFGS-B",
                           bounds=bounds)
        if np.isfinite(res.fun) and res.fun < 1e12:
            found.append((float(res.fun), res.x))
    return sorted(found, key=lambda t: t[0])


def fit_baseline(runs: Runs, law: str | Law = "power", *, n_boot: int = 200, seed: int = 0,
                 delta: float = DELTA, max_starts: int = 64, boot_starts: int = 3) -> PointFit:
    """Fit a law by Huber loss on log loss, with bootstrap refits.

    Parameters
    ----------
    runs : Runs
        The runs to fit.
    law : str or Law
        One of :data:`forecast.laws.LAWS`.
    n_boot : int
        Bootstrap resamples of the runs (0 for none).
    seed : int
        Seed of the bootstrap resampling.
    delta : float
        Huber threshold on log-loss residuals (1e-3 as in Hoffmann et al.).
    max_starts : int
        Most grid points optimised; a larger grid is screened by its objective first.
    boot_starts : int
        Best distinct optima of the full fit that each bootstrap refit starts from.

    Returns
    -------
    PointFit
        The best fit and the bootstrap refits, in raw units.

    Raises
    ------
    FitError
        If no start converges to a finite objective.
    """
    from threadpoolctl import threadpool_limits

    law = get_law(law)
    # L-BFGS-B makes many tiny BLAS calls; a threaded BLAS on a busy machine makes each one
    # wait for its threads (measured: 10x slower on 2 shared cores). Limit it once, here: the
    # limit itself costs milliseconds to set.
    with threadpool_limits(1, user_api="blas"):
        return _fit(runs, law, n_boot, seed, delta, max_starts, boot_starts)


def _fit(runs: Runs, law: Law, n_boot: int, seed: int, delta: float, max_starts: int,
         boot_starts: int) -> PointFit:
    problem, refs, grids, bounds = _setup(runs, law, delta)
    grid = [np.array(p) for p in itertools.product(*grids)]
    ones = np.ones(len(problem.y))
    if len(grid) > max_starts:
        scores = np.array([problem.value_and_grad(v, ones)[0] for v in grid])
        grid = [grid[i] for i in np.argsort(scores, kind="stable")[:max_starts]]
    found = _minimise(problem, grid, bounds, ones)
    if not found:
        raise FitError(f"baseline fit of law '{law.name}' failed from all {len(grid)} starts")
    best_fun, best = found[0]
    starts = [best]
    for _, x in found[1:]:
        if len(starts) >= boot_starts:
            break
        if all(np.max(np.abs(x - s)) > 1e-3 for s in starts):
            starts.append(x)
    rng = np.random.default_rng(seed)
    n = len(problem.y)
    boot = []
    for _ in range(n_boot):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        res = _minimise(problem, starts, bounds, w)
        boot.append(res[0][1] if res else best)

    def raw_of(vs: list[np.ndarray]) -> dict:
        thetas = [problem.theta(v) for v in vs]
        stacked = {k: np.array([t[k] for t in thetas], dtype=float) for k in thetas[0]}
        return to_raw(law, stacked, refs)

    raw_best = {k: float(v[0]) for k, v in raw_of([best]).items()}
    raw_boot = raw_of(boot) if boot else {k: np.array([v]) for k, v in raw_best.items()}
    return PointFit(law, raw_best, raw_boot, problem.residuals(best), best_fun, len(grid))
