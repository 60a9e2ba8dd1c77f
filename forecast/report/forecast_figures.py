"""Figures of a forecast: emergence (hard and soft metrics) and backtest calibration.

Like :mod:`forecast.report.figures`, each function takes its data and returns a new Figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from forecast.report.style import MEAN_COLOR, decade_ticks, new_figure, pow10

__all__ = ["calibration_figure", "emergence_figure"]


def _q(row: dict, key: str) -> float:
    v = row["log10_flops"].get(key)
    return math.inf if v is None else v


def emergence_figure(result: Mapping, *, max_curves: int = 12) -> object:
    """Emergence: the hard metric ``P_k(C)`` beside the soft one, for each k.

    Left: task success ``P_k`` (median and 90% band per k), the threshold, and per k the
    crossing interval (90% thin, 50% thick, median dot). Right: the soft metric, expected number
    of correct steps out of k: it rises smoothly and at the same compute for every k.

    Parameters
    ----------
    result : mapping
        The emergence result (``emergence.json``; :func:`forecast.questions.emergence.emergence`).
    max_curves : int
        Draw at most this many values of k (evenly picked, always the first and last).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib import colormaps

    curves = result["curves"]
    C = np.power(10.0, np.asarray(curves["log10_flops"]))
    hard = curves["hard"]
    if len(hard) > max_curves:
        idx = np.unique(np.round(np.linspace(0, len(hard) - 1, max_curves)).astype(int))
        hard = [hard[i] for i in idx]
    ks = [c["k"] for c in hard]
    soft = {c["k"]: c for c in curves["soft"]["expected_correct"]}
    rows = {r["k"]: r for r in result["steps"]}
    cmap = colormaps["plasma"]
    color = {k: cmap(0.85 * i / max(len(ks) - 1, 1)) for i, k in enumerate(ks)}
    tau = float(result["threshold"])
    fig = new_figure(12.0, 4.8)
    left, right = fig.subplots(1, 2)
    for c in hard:
        k = c["k"]
        left.fill_between(C, c["q05"], c["q95"], color=color[k], alpha=0.15, lw=0)
        left.plot(C, c["median"], color=color[k], lw=1.8, label=f"k = {k}", gid=f"hard_k{k}")
        s = soft[k]
        right.fill_between(C, s["q05"], s["q95"], color=color[k], alpha=0.15, lw=0)
        right.plot(C, s["median"], color=color[k], lw=1.8, label=f"k = {k}", gid=f"soft_k{k}")
        row = rows.get(k)
        if row is None:
            continue
        q05, q25, med, q75, q95 = (_q(row, n) for n in ("q05", "q25", "median", "q75", "q95"))
        edge = math.log10(C[-1])
        if math.isfinite(q05):
            left.plot(10.0 ** np.array([q05, min(q95, edge)]), [tau, tau], color=color[k], lw=1,
                      gid=f"crossing_k{k}")
        if math.isfinite(q25):
            left.plot(10.0 ** np.array([q25, min(q75, edge)]), [tau, tau], color=color[k], lw=4,
                      solid_capstyle="butt")
        if math.isfinite(med):
            left.plot([10.0 ** med], [tau], "o", color=color[k], mec="white", ms=6, zorder=6)
    left.axhline(tau, color="0.3", ls=":", lw=1)
    left.text(C[0], tau, f" threshold {tau:g}", va="bottom", fontsize=8, color="0.3")
    budget = result.get("budget")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlim(C[0], C[-1])
        decade_ticks(ax, "x")
        ax.set_xlabel("training compute (FLOPs)")
        ax.grid(True, alpha=0.3)
        if budget:
            ax.axvline(budget, color="#b22222", ls="--", lw=1.2, label="budget")
    left.set_ylim(-0.02, 1.02)
    left.set_ylabel("task success $P_k$ (hard: all k steps right)")
    left.set_title(f"hard metric, link {result['link']}: median, 90% band; "
                   "crossings 50%/90%", fontsize=10)
    right.set_ylabel("expected correct steps (soft)")
    right.set_title("soft metric: expected correct steps of k", fontsize=10)
    left.legend(fontsize=8, loc="upper left", ncols=2 if len(ks) > 6 else 1)
    return fig


def calibration_figure(results: Sequence[Mapping]) -> object:
    """Backtest calibration: coverage of the central intervals against their nominal level.

    One line per method (the Bayesian model, the point-fit baseline and, where present, the
    baseline with resampled residuals) and per cutoff; the diagonal is perfect calibration.

    Parameters
    ----------
    results : sequence of mapping
        Backtest results (:func:`forecast.questions.backtest.backtest`, as ``forecast backtest
        --json`` prints them).

    Returns
    -------
    matplotlib.figure.Figure
    """
    styles = {"model": (MEAN_COLOR, "o", "Bayesian model"),
              "baseline": ("0.35", "s", "point fit + bootstrap"),
              "baseline_noise": ("0.6", "^", "point fit + residuals")}
    fig = new_figure(5.5, 4.6)
    ax = fig.add_subplot()
    ax.plot([0, 100], [0, 100], color="0.6", ls=":", lw=1, label="perfect calibration")
    for i, res in enumerate(results):
        for key, (color, marker, label) in styles.items():
            if key not in res:
                continue
            cov = res[key]["coverage"]
            levels = sorted(cov, key=float)
            cut = f" (cutoff {pow10(res['cutoff'])})" if len(results) > 1 else ""
            ax.plot([float(lv) for lv in levels], [100 * cov[lv] for lv in levels],
                    marker=marker, color=color, alpha=1.0 - 0.5 * i / max(len(results), 1),
                    label=label + cut, gid=f"coverage_{key}_{i}")
    ax.set_xlim(40, 100)
    ax.set_ylim(0, 102)
    ax.set_xlabel("nominal interval (%)")
    ax.set_ylabel("held-out runs inside (%)")
    n_test = results[0].get("n_test") if results else None
    ax.set_title(f"backtest calibration ({n_test} held-out runs)" if n_test else
                 "backtest calibration", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return fig
