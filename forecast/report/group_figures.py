"""The figure of a fit with ``--group``: each family's offset, and each family's curve.

Like :mod:`forecast.report.figures`, the function takes its data and returns a new Figure.
"""

from __future__ import annotations

import numpy as np

from forecast.laws import predict
from forecast.report.style import decade_ticks, new_figure

__all__ = ["groups_figure"]


def groups_figure(fit, runs, *, max_curves: int = 13) -> object:
    """Family offsets (left) and each family's median curve against its models (right).

    Left: each group's offset in decades of compute (median, 50% and 90% intervals), most
    efficient first. Right: the law's posterior median at each group's offset, over the
    compute of the runs, with the group's runs as dots of the same colour (at most
    ``max_curves`` groups, those with the most runs); for a fit of one task at several lengths
    (``--k``), the shortest length's runs, whose accuracy the law is.

    Parameters
    ----------
    fit : forecast.inference.fitting.Fit
        A fit with ``--group``.
    runs : forecast.runs.Runs
        Its runs, with the group column.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if fit.k_column is not None:  # one task at several lengths: the law is the shortest one's
        runs = runs.subset(runs.column(fit.k_column) == fit.k_ref)
    groups = fit.summary["groups"]["groups"]
    order = sorted(groups, key=lambda g: groups[g]["median"])
    fig = new_figure(10.0, max(3.2, 0.28 * len(order) + 1.2))
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.5])
    from matplotlib import colormaps

    palette = colormaps["tab20"]  # 20 distinct colours: thirteen families stay apart
    colors = {g: palette(i % 20) for i, g in enumerate(reversed(order))}
    for i, g in enumerate(order):
        q = groups[g]
        left.plot([q["q05"], q["q95"]], [i, i], color=colors[g], lw=1.2)
        left.plot([q["q25"], q["q75"]], [i, i], color=colors[g], lw=3.5)
        left.plot(q["median"], i, "o", color=colors[g], ms=4)
    left.axvline(0.0, color="0.6", lw=0.8, ls="--")
    left.set_yticks(range(len(order)), [f"{g} ({groups[g]['n_runs']})" for g in order])
    left.set_xlabel("offset, decades of compute (10^offset x compute)")
    left.set_title("family offsets: median, 50%, 90%", fontsize=10)

    labels = runs.labels(fit.group_column)
    shown = sorted(order, key=lambda g: -groups[g]["n_runs"])[:max_curves]
    grid = np.geomspace(runs.flops.min() / 2, runs.flops.max() * 2, 120)
    raw = {k: np.median(v) for k, v in fit.raw().items()}
    names = fit.group_names
    post = np.asarray(fit.idata.posterior["offset"]).reshape(-1, len(names))
    offset = dict(zip(names, np.median(post, axis=0), strict=True))
    for g in shown:
        right.plot(grid, predict(fit.law, raw, C=grid * np.exp(offset[g])), color=colors[g],
                   lw=1.3, label=g)
        mine = labels == g
        right.plot(runs.flops[mine], runs.y[mine], "o", color=colors[g], ms=4)
    right.set_xscale("log")
    if fit.law.metric == "positive":
        right.set_yscale("log")
    right.set_xlabel("training compute (FLOPs)")
    right.set_ylabel(fit.y_name)
    right.set_title("each family's median curve and its models"
                    + (f" ({fit.k_column} = {fit.k_ref:g})" if fit.k_column else ""), fontsize=10)
    right.legend(fontsize=7, ncol=2, frameon=False)
    decade_ticks(right, "x")
    return fig
