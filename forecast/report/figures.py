"""Figures of a fit (bands, marginals, pairs, ranks): functions that return a Figure.

Every function takes its data first and options by keyword, draws on a new
:class:`matplotlib.figure.Figure` (no pyplot state, so nothing is shown and nothing leaks between
calls) and returns it. Artists that tests and readers look up carry a ``gid``: ``runs``,
``median``, ``mean_50``, ``mean_90``, ``new_50``, ``new_90`` (bands), ``hard_k3``, ``soft_k3``,
``crossing_k3``, ``coverage_model`` ... The figures of a forecast are in
:mod:`forecast.report.forecast_figures`, the common style in :mod:`forecast.report.style`.
"""

from __future__ import annotations

import math

import numpy as np

from forecast.laws import Law, compute_optimal, predict
from forecast.report.style import (
    DATA_COLOR,
    MEAN_COLOR,
    NEW_COLOR,
    band,
    decade_ticks,
    human,
    new_figure,
    plain_log_ticks,
    pow10,
)

__all__ = ["BAND_LEVELS", "fit_bands", "fit_figure", "marginals_figure", "pair_figure",
           "rank_figure"]

BAND_LEVELS = {"q05": 0.05, "q25": 0.25, "median": 0.5, "q75": 0.75, "q95": 0.95}
# Parameters that span decades (raw-unit coefficients, break and mid-point compute): shown as log10.
LOG_PARAMS = ("A", "B", "Cb", "C50")
NOISE_PARAMS = ("sigma", "nu", "kappa")


def _quantile_bands(draws: np.ndarray) -> dict[str, np.ndarray]:
    qs = np.quantile(draws, list(BAND_LEVELS.values()), axis=0)
    return dict(zip(BAND_LEVELS, qs, strict=True))


def fit_bands(fit, C: np.ndarray, *, seed: int = 0, length: float | None = None
              ) -> dict[str, dict[str, np.ndarray]]:
    """Posterior bands of the law's mean and of a new run's metric at compute ``C``.

    For laws of compute the mean is the law at ``C``; for ``chinchilla`` it is the loss along the
    compute-optimal frontier (:func:`forecast.laws.compute_optimal`: the best model one can
    train with ``C`` FLOPs).
    A new run adds the fitted noise: ``mean * exp(sigma t_nu + kappa d z)`` per draw (Student-t
    in log space, plus the extrapolation error beyond the fitted compute), or a Beta draw for
    accuracy laws (:func:`forecast.questions.backtest.model_draws`).

    Parameters
    ----------
    fit : forecast.inference.fitting.Fit
        The fit.
    C : numpy.ndarray
        Compute in FLOPs, shape ``(m,)``.
    seed : int
        Seed of the new-run noise.
    length : float, optional
        For a fit of one task at several lengths (``--k``): the length to draw (default the
        shortest, the law's own).

    Returns
    -------
    dict
        ``{"mean": {...}, "new": {...}}``, each mapping ``q05``, ``q25``, ``median``, ``q75``,
        ``q95`` to arrays of shape ``(m,)``.
    """
    import pandas as pd

    from forecast.questions.predictive import model_draws
    from forecast.runs import Runs

    C = np.asarray(C, dtype=float)
    N = D = None
    if "C" not in fit.law.covariates:
        N, D = compute_optimal({k: v[:, None] for k, v in fit.raw().items()}, C[None, :])
    frame = (pd.DataFrame({fit.k_column: np.full(C.size, float(length))})
             if length is not None and fit.k_column is not None else pd.DataFrame())
    grid = Runs("<grid>", frame, fit.y_name, C, np.empty(0), N, D)
    with np.errstate(over="ignore"):  # a t draw with nu < 1 can overflow exp: cap it
        mean, new = model_draws(fit, grid, np.random.default_rng(seed))
    return {"mean": _quantile_bands(mean), "new": _quantile_bands(np.minimum(new, 1e300))}


def fit_figure(runs, fit, *, budget: float | None = None, seed: int = 0,
               n_grid: int = 200) -> object:
    """Draw the fit in log-log axes: runs, posterior median, 50%/90% bands (mean and new run).

    Compute beyond the runs (extrapolation) is shaded; ``budget`` draws a vertical line. For the
    ``chinchilla`` law the curve is the loss along the compute-optimal frontier (see
    :func:`fit_bands`), the runs are coloured by model size and thin lines show the law's median
    for a few fixed model sizes as compute (tokens) grows.

    Parameters
    ----------
    runs : forecast.runs.Runs
        The runs that were fitted (x: ``runs.flops``, y: ``runs.y``).
    fit : forecast.inference.fitting.Fit
        The fit.
    budget : float, optional
        Compute budget in FLOPs, drawn as a vertical line (and the curve extended to it).
    seed : int
        Seed of the new-run noise.
    n_grid : int
        Points of the compute grid.

    Returns
    -------
    matplotlib.figure.Figure
    """
    law: Law = fit.law
    lo, hi = float(np.min(runs.flops)), float(np.max(runs.flops))
    top = max(hi * 100.0, (budget or 0.0) * 3.0)
    C = np.logspace(math.log10(lo) - 0.5, math.log10(top), n_grid)
    bands = fit_bands(fit, C, seed=seed)
    fig = new_figure(8.5, 5.8)
    ax = fig.add_subplot()
    ax.set_xscale("log")
    unit = law.metric == "unit"
    if not unit:
        ax.set_yscale("log")
    new, mean = bands["new"], bands["mean"]
    band(ax, C, new["q05"], new["q95"], gid="new_90", color=NEW_COLOR, alpha=0.15,
          label="new run, 90%")
    band(ax, C, new["q25"], new["q75"], gid="new_50", color=NEW_COLOR, alpha=0.25,
          label="new run, 50%")
    band(ax, C, mean["q05"], mean["q95"], gid="mean_90", color=MEAN_COLOR, alpha=0.25,
          label="mean, 90%")
    band(ax, C, mean["q25"], mean["q75"], gid="mean_50", color=MEAN_COLOR, alpha=0.4,
          label="mean, 50%")
    what = "compute-optimal frontier" if law.name == "chinchilla" else "posterior median"
    ax.plot(C, mean["median"], color=MEAN_COLOR, lw=2, label=what, gid="median")
    if law.name == "chinchilla":
        _size_curves(ax, runs, fit, C)
    elif fit.k_column is not None:
        _length_curves(ax, runs, fit, C, seed)
    else:
        ax.scatter(runs.flops, runs.y, s=14, color=DATA_COLOR, zorder=5, label="runs",
                   gid="runs")
    ax.axvspan(hi, C[-1], color="0.5", alpha=0.12, lw=0, label="extrapolation", gid="extrap")
    if budget is not None:
        ax.axvline(budget, color="#b22222", ls="--", lw=1.2, gid="budget",
                   label=f"budget {pow10(budget)} FLOPs")
    ax.set_xlim(C[0], C[-1])
    if not unit:
        ylo = min(float(np.min(runs.y)), float(np.min(new["q05"])))
        yhi = max(float(np.max(runs.y)), float(np.max(mean["q95"][C >= lo])))
        ax.set_ylim(ylo / 1.05, yhi * 1.05)
        plain_log_ticks(ax, "y")
    else:
        ax.set_ylim(-0.02, 1.02)
    decade_ticks(ax, "x")
    ax.set_xlabel("training compute (FLOPs)")
    ax.set_ylabel(fit.y_name)
    ax.set_title(f"{law.name}: {law.formula}", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncols=4,
              frameon=False)
    return fig


def _length_curves(ax, runs, fit, C: np.ndarray, seed: int) -> None:
    """Draw a ``--k`` fit's runs by length, with each longer length's median curve."""
    lengths = runs.column(fit.k_column)
    ref = lengths == fit.k_ref
    ax.scatter(runs.flops[ref], runs.y[ref], s=14, color=DATA_COLOR, zorder=5, gid="runs",
               label=f"runs, {fit.k_column} = {fit.k_ref:g} (the bands)")
    for i, v in enumerate(sorted(set(lengths[~ref].tolist()))):
        color = f"C{i + 1}"
        median = fit_bands(fit, C, seed=seed, length=v)["mean"]["median"]
        ax.plot(C, median, color=color, lw=1.5, ls="--", label=f"median, {fit.k_column} = {v:g}")
        mine = lengths == v
        ax.scatter(runs.flops[mine], runs.y[mine], s=14, color=color, zorder=5, marker="s",
                   label=f"runs, {fit.k_column} = {v:g}")


def _size_curves(ax, runs, fit, C: np.ndarray) -> None:
    """Chinchilla: runs coloured by model size, and the median law at a few fixed sizes."""
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm

    norm = LogNorm(float(np.min(runs.params)), float(np.max(runs.params)))
    cmap = colormaps["viridis"]
    points = ax.scatter(runs.flops, runs.y, s=14, c=runs.params, cmap=cmap, norm=norm,
                        zorder=5, label="runs (colour: params)", gid="runs")
    cbar = ax.figure.colorbar(points, ax=ax, pad=0.01)
    cbar.set_label("model size (parameters)")
    if math.log10(norm.vmax / norm.vmin) >= 1.5:
        decade_ticks(cbar.ax, "y")
    raw = {k: v[:1000, None] for k, v in fit.raw().items()}  # 1,000 draws fix a median
    sizes = np.exp(np.linspace(np.log(norm.vmin), np.log(norm.vmax), 4))
    for i, n in enumerate(sizes):
        L = np.median(predict(fit.law, raw, N=np.full_like(C, n), D=C / (6.0 * n)), axis=0)
        ax.plot(C, L, color=cmap(norm(n)), lw=1, alpha=0.9, gid=f"size_{i}",
                label=f"N = {human(n)}" if i in (0, len(sizes) - 1) else None)


def _param_draws(group, name: str) -> tuple[np.ndarray, str]:
    x = np.asarray(group[name], dtype=float).reshape(-1)
    if name in LOG_PARAMS:
        return np.log10(x), f"log10 {name}"
    return x, name


def _panel_names(fit, *, noise: bool = True) -> list[str]:
    """Return the parameters that vary (law's, and noise's): fixed ones (a floor) are left out."""
    names = list(fit.law.params)
    if noise:
        names += [n for n in NOISE_PARAMS if n in fit.idata.posterior]
    return [n for n in names if np.ptp(np.asarray(fit.idata.posterior[n])) > 0]


def _grid(n: int, ncols: int, width: float, height: float):
    """Make a grid of panels with fixed margins in inches (no layout engine: fast to draw)."""
    from matplotlib.figure import Figure

    nrows = math.ceil(n / ncols)
    total = height * nrows
    fig = Figure(figsize=(width, total))
    # per row: 0.5 in above the axes for a two-line title, 0.45 in below for ticks and label
    fig.subplots_adjust(left=0.45 / width, right=1 - 0.15 / width, top=1 - 0.5 / total,
                        bottom=0.45 / total, wspace=0.25, hspace=0.95 / (height - 0.95))
    axes = fig.subplots(nrows, ncols, squeeze=False).reshape(-1)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def marginals_figure(fit, *, bins: int = 30) -> object:
    """Posterior marginals (filled) with the prior (outline) of each parameter, in raw units.

    Coefficients that span decades (``A``, ``B``, ``Cb``, ``C50``) are shown as ``log10``. The
    window is the posterior's central 99% widened by 1.5 times its width each side (or the
    prior's central 96% if that is narrower): a prior that looks flat there is one the data
    overruled; a posterior that looks like its prior is one the data did not inform.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from scipy.stats import gaussian_kde

    names = _panel_names(fit)
    has_prior = "prior" in fit.idata.groups()
    fig, axes = _grid(len(names), 4, 11.0, 2.4)
    for ax, name in zip(axes, names, strict=True):
        post, label = _param_draws(fit.idata.posterior, name)
        plo, phi = np.quantile(post, [0.005, 0.995])
        width = max(phi - plo, 1e-12 * max(abs(phi), 1.0))
        lo, hi = plo - 1.5 * width, phi + 1.5 * width
        dens, edges = np.histogram(post, bins=np.linspace(plo, phi, bins + 1), density=True)
        ax.stairs(dens, edges, fill=True, color=MEAN_COLOR, alpha=0.6, label="posterior",
                  gid=f"posterior_{name}")
        if has_prior and name in fit.idata.prior:
            prior = _param_draws(fit.idata.prior, name)[0]
            prior = prior[np.isfinite(prior)]
            qlo, qhi = np.quantile(prior, [0.02, 0.98])
            lo, hi = max(lo, min(qlo, plo)), min(hi, max(qhi, phi))
            x = np.linspace(lo, hi, 200)
            ax.plot(x, gaussian_kde(prior)(x), color="0.3", lw=1.2, label="prior",
                    gid=f"prior_{name}")
            p5, p95 = np.quantile(prior, [0.05, 0.95])
            label += f"\nprior 90%: {p5:.3g} .. {p95:.3g}"
        ax.set_xlim(lo, hi)
        ax.set_title(label, fontsize=9)
        ax.set_yticks([])
        ax.tick_params(labelsize=8)
        ax.xaxis.get_major_formatter().set_useOffset(False)
    axes[0].legend(fontsize=8)
    return fig


def pair_figure(fit, *, max_points: int = 1000, seed: int = 0) -> object:
    """Pair plot of the law's parameters: scatter below, histograms on, correlations above.

    Divergent draws are red. Returns a :class:`matplotlib.figure.Figure`.
    """
    names = _panel_names(fit, noise=False)
    post = fit.idata.posterior
    cols = [_param_draws(post, n) for n in names]
    n_draws = cols[0][0].size
    pick = np.sort(np.random.default_rng(seed).permutation(n_draws)[:max_points])
    div = np.zeros(n_draws, dtype=bool)
    if "sample_stats" in fit.idata.groups() and "diverging" in fit.idata.sample_stats:
        div = np.asarray(fit.idata.sample_stats["diverging"]).reshape(-1)
    k = len(names)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2.0 * k + 1.0, 2.0 * k + 0.6))  # fixed margins: cheap for k^2 axes
    fig.subplots_adjust(left=0.9 / (2 * k + 1), right=0.98, bottom=0.6 / (2 * k + 0.6),
                        top=0.98, wspace=0.08, hspace=0.08)
    axes = fig.subplots(k, k, squeeze=False)
    lims = []
    for x, _ in cols:
        lo, hi = np.quantile(x, [0.001, 0.999])
        pad = 0.05 * (hi - lo) or 0.5
        lims.append((lo - pad, hi + pad))
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            xi, xj = cols[i][0], cols[j][0]
            ax.set_xlim(lims[j])
            if i == j:
                counts, edges = np.histogram(xi, bins=np.linspace(*lims[i], 31))
                ax.stairs(counts, edges, fill=True, color=MEAN_COLOR, alpha=0.7,
                          gid=f"hist_{names[i]}")
                ax.set_yticks([])
            elif i > j:
                ax.set_ylim(lims[i])
                ax.scatter(xj[pick], xi[pick], s=3, alpha=0.35, color=MEAN_COLOR, lw=0,
                           gid=f"pair_{names[j]}_{names[i]}")
                bad = pick[div[pick]]
                if bad.size:
                    ax.scatter(xj[bad], xi[bad], s=6, color="red", lw=0)
            else:
                r = float(np.corrcoef(xj, xi)[0, 1])
                ax.text(0.5, 0.5, f"r = {r:+.2f}", ha="center", va="center",
                        fontsize=9 + 5 * abs(r), transform=ax.transAxes)
                ax.set_xticks([])
                ax.set_yticks([])
            ax.tick_params(labelsize=7)
            if i < k - 1:
                ax.set_xticklabels([])
            else:
                ax.set_xlabel(cols[j][1], fontsize=9)
            if j > 0 and i != j:
                ax.set_yticklabels([])
            elif j == 0 and i > 0:
                ax.set_ylabel(cols[i][1], fontsize=9)
    return fig


def rank_figure(fit, *, bins: int = 20) -> object:
    """Rank plots: per chain, a histogram of its draws' ranks among all chains' draws.

    Chains that sample the same distribution give flat histograms at the dashed line (as ArviZ's
    ``plot_rank``, drawn here with one artist per chain: it is many times faster to render).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from scipy.stats import rankdata

    names = _panel_names(fit)
    fig, axes = _grid(len(names), 4, 11.0, 2.2)
    colors = ["C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7"]
    for ax, name in zip(axes, names, strict=True):
        x = np.asarray(fit.idata.posterior[name], dtype=float)
        chains, draws = x.shape[0], x.shape[1]
        ranks = rankdata(x.reshape(-1)).reshape(chains, draws)
        edges = np.linspace(0.5, chains * draws + 0.5, bins + 1)
        for c in range(chains):
            counts, _ = np.histogram(ranks[c], bins=edges)
            height = 0.6 * counts / (draws / bins)  # uniform ranks: 0.6
            ax.stairs(c + height, edges, baseline=c, fill=True, color=colors[c % 8],
                      gid=f"rank_{name}_{c}")
            ax.axhline(c + 0.6, color="k", ls="--", lw=0.8)
        ax.set_yticks(range(chains))
        ax.set_ylim(0, chains)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_title(name, fontsize=10)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("rank (all chains)", fontsize=8)
        ax.set_ylabel("chain", fontsize=8)
    return fig
