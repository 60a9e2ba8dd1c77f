"""The crossing backtest: where a k-step task's observed success crosses a threshold, forecast.

A harness table holds each run's exact-match success of every chain length (``exact_k1`` ..
``exact_kK``); :func:`observed_crossing` finds where it crosses, :func:`crossing_scores` scores the
forecast crossing of a fit (:func:`forecast.questions.emergence.emergence`) against it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from forecast.errors import InputError
from forecast.runs import Runs

__all__ = ["crossing_scores", "observed_crossing", "require_exact"]


def observed_crossing(flops: np.ndarray, success: np.ndarray, threshold: float) -> float | None:
    """``log10`` compute at which an observed success first reaches ``threshold``.

    Rows are sorted by compute; the crossing is interpolated linearly in ``log10 C`` between the
    last row below the threshold and the first at or above it (the first row's compute if that
    one is already there). ``None`` if no row reaches it.
    """
    order = np.argsort(flops, kind="stable")
    x, s = np.log10(np.asarray(flops, dtype=float)[order]), np.asarray(success, float)[order]
    hit = np.flatnonzero(s >= threshold)
    if hit.size == 0:
        return None
    i = int(hit[0])
    if i == 0:
        return float(x[0])
    x0, x1, s0, s1 = x[i - 1], x[i], s[i - 1], s[i]
    return float(x0 + (threshold - s0) / (s1 - s0) * (x1 - x0)) if s1 > s0 else float(x1)


def require_exact(runs: Runs, ks: Sequence[int]) -> None:
    """Check that ``runs`` has a numeric column ``exact_k{k}`` for every k (else InputError)."""
    for k in ks:
        col = f"exact_k{k}"
        if col not in runs.frame:
            raise InputError(f"{runs.source}: no column {col} for the crossing backtest of "
                             f"--steps {k}; the harness writes exact_k1 .. exact_kK")
        values = np.asarray(runs.frame[col].astype(float), dtype=float)
        if not np.all(np.isfinite(values)):
            raise InputError(f"{runs.source}: column {col} has empty or non-numeric values")


def crossing_scores(result, runs: Runs, ks: Sequence[int], cutoff: float, *,
                    threshold: float = 0.5, link: str | None = None) -> list[dict]:
    """Score the forecast crossing of each k-step task against the one observed in ``runs``.

    The forecast is :func:`forecast.questions.emergence.emergence` of the fit (runs at or below the
    cutoff); the observation is :func:`observed_crossing` of the column ``exact_k{k}`` over all
    runs. ``error_decades`` is the forecast median minus the observed ``log10 C``; ``inside_90``
    whether the observation lies in the forecast's 90% interval; ``observed_above_cutoff``
    whether the crossing was beyond the fitted runs (a true forecast) or already in them.

    Raises
    ------
    InputError
        If a column ``exact_k{k}`` is missing or not numeric.
    """
    from forecast.questions.emergence import emergence, step_success

    require_exact(runs, ks)
    forecast = emergence(step_success(result, link), ks, threshold=threshold)
    out = []
    for row in forecast["steps"]:
        k = row["k"]
        values = np.asarray(runs.frame[f"exact_k{k}"].astype(float), dtype=float)
        obs = observed_crossing(runs.flops, values, threshold)
        q = row["log10_flops"]
        err = None if obs is None or q["median"] is None else q["median"] - obs
        inside = (obs is not None and q["q05"] is not None
                  and q["q05"] <= obs <= (np.inf if q["q95"] is None else q["q95"]))
        out.append({"k": k, "observed_log10_flops": obs, "forecast": q,
                    "p_never": row["p_never"], "error_decades": err, "inside_90": bool(inside),
                    "observed_above_cutoff": bool(obs is not None and obs > np.log10(cutoff))})
    return out
