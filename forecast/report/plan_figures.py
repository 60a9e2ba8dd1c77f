"""The figure of a plan (``forecast plan``): each candidate's expected width against its cost.

Like :mod:`forecast.report.figures`, the function takes its data and returns a new Figure.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from forecast.report.style import DATA_COLOR, MEAN_COLOR, NEW_COLOR, decade_ticks, new_figure

__all__ = ["PLAN_CAPTION", "plan_figure", "plan_spec"]

PLAN_CAPTION = ("Each candidate run's expected width of the 90% interval at the target, once "
                "it is trained (preposterior analysis: simulated outcomes, the posterior "
                "reweighted), against what the run costs. Dashed: today's width. Orange rings: "
                "candidates whose weights' effective sample size is low (their width is too "
                "optimistic); numbers: the greedy picks in order, each at its width as the "
                "first run (docs/plan.md).")


def plan_figure(plan: Mapping) -> object:
    """Draw expected interval width against candidate cost, with today's width and picks.

    Parameters
    ----------
    plan : mapping
        The plan (``plan.json``; :func:`forecast.questions.plan.plan`).

    Returns
    -------
    matplotlib.figure.Figure
        One axes: the candidates (gid ``candidates``, x their FLOPs, y their expected width),
        today's width (gid ``current``), flagged candidates (gid ``ess_low``), the picks.
    """
    rows = [r for r in plan["candidates"] if r["expected_width"] is not None]
    fig = new_figure(6.4, 4.0)
    ax = fig.subplots()
    x = np.array([r["flops"] for r in rows], dtype=float)
    y = np.array([r["expected_width"] for r in rows], dtype=float)
    ax.plot(x, y, "o", color=MEAN_COLOR, ms=4, label="candidate", gid="candidates")
    low = np.array([r["ess_low"] for r in rows], dtype=bool)
    if low.any():
        ax.plot(x[low], y[low], "o", mfc="none", mec=NEW_COLOR, ms=9, label="low ESS",
                gid="ess_low")
    width = plan["current"]["width"]
    if width is not None:
        ax.axhline(width, color=DATA_COLOR, ls="--", lw=1, label="today", gid="current")
    first = {r.get("index"): r for r in rows}
    for p in plan.get("picks", []):  # each pick marked at its own point of the first step
        r = first.get(p.get("index"))
        if r is not None:
            ax.annotate(str(p["step"]), (r["flops"], r["expected_width"]), fontsize=9,
                        xytext=(4, 4), textcoords="offset points", color=DATA_COLOR)
    ax.set_xscale("log")
    if x.size:
        ax.set_xlim(x.min() / 1.5, x.max() * 1.5)
    decade_ticks(ax, "x")
    ax.set_xlabel("candidate's cost, FLOPs")
    what = ("decades of crossing compute" if plan.get("steps")
            else f"{plan.get('y', 'loss')} at {plan['target_flops']:.3g} FLOPs")
    ax.set_ylabel(f"expected 90% width ({what})")
    ax.legend(fontsize=8, loc="best")
    return fig


def plan_spec(plan: Mapping) -> tuple[str, str, object, str]:
    """Return the report's entry for a plan: file stem, title, figure and caption."""
    return "plan", "Which run to train next", plan_figure(plan), PLAN_CAPTION
