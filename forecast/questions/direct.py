"""The direct law of a downstream accuracy: ``log(-log acc)`` linear in ``log C``.

The baseline that work on downstream metrics fits (Apple's 2025 study of downstream scaling
laws; PassUntil, Hu et al. 2024): with ``z = log(-log acc)``, ``z = a + b log C`` by ordinary
least squares on the fitted models, so ``acc = exp(-exp(a + b log C))``. A new model's
predictive is the least-squares prediction interval, Student-t with ``n - 2`` degrees of
freedom and the parameters' uncertainty included (``s sqrt(1 + h(x))``), mapped back through the
monotone transform. Accuracies of exactly 0 or 1 are clipped to ``[EPS, 1 - EPS]`` first.
NumPy and SciPy only; :func:`forecast.questions.backtest.backtest` scores it beside the model
for laws of accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecast.errors import InputError
from forecast.runs import Runs

__all__ = ["EPS", "DirectFit", "fit_direct"]

EPS = 1e-4


def _z(acc: np.ndarray) -> np.ndarray:
    return np.log(-np.log(np.clip(np.asarray(acc, dtype=float), EPS, 1 - EPS)))


@dataclass(frozen=True)
class DirectFit:
    """A least-squares fit of ``log(-log acc) = a + b log C``.

    Attributes
    ----------
    a, b : float
        Intercept and slope (per e-fold of compute, around ``x_mean``).
    s : float
        Residual standard deviation on the ``z`` scale.
    n : int
        Models fitted.
    x_mean, sxx : float
        Mean of ``log C`` and the sum of squares about it (for the leverage of a new point).
    """

    a: float
    b: float
    s: float
    n: int
    x_mean: float
    sxx: float

    def point(self, runs: Runs) -> np.ndarray:
        """Return the fitted accuracy at each run's compute."""
        z = self.a + self.b * (np.log(runs.flops) - self.x_mean)
        return np.exp(-np.exp(z))

    def draws(self, runs: Runs, rng: np.random.Generator, n_draws: int = 4000) -> np.ndarray:
        """Return predictive draws ``(n_draws, len(runs))`` of a new model's accuracy."""
        x = np.log(runs.flops) - self.x_mean
        scale = self.s * np.sqrt(1.0 + 1.0 / self.n + x ** 2 / self.sxx)
        t = rng.standard_t(self.n - 2, size=(n_draws, len(x)))
        return np.exp(-np.exp(self.a + self.b * x + scale * t))


def fit_direct(runs: Runs) -> DirectFit:
    """Fit the direct law to runs of an accuracy (``runs.y`` in [0, 1]).

    Raises
    ------
    InputError
        With fewer than 3 runs, or when every run has the same compute.
    """
    if len(runs) < 3:
        raise InputError(f"{runs.source}: the direct law needs at least 3 runs below the cutoff")
    x = np.log(np.asarray(runs.flops, dtype=float))
    z = _z(runs.y)
    x_mean = float(x.mean())
    sxx = float(np.sum((x - x_mean) ** 2))
    if sxx == 0:
        raise InputError(f"{runs.source}: every run below the cutoff has the same compute")
    b = float(np.sum((x - x_mean) * (z - z.mean())) / sxx)
    a = float(z.mean())
    resid = z - a - b * (x - x_mean)
    s = float(np.sqrt(np.sum(resid ** 2) / (len(x) - 2)))
    return DirectFit(a, b, s, len(x), x_mean, sxx)
