"""Make the figures and numbers of ``docs/emergence.md``.

Usage (from the repository root)::

    python docs/make_emergence_figures.py            # theory figures only (no data, seconds)
    python docs/make_emergence_figures.py WORKDIR    # also the ObsScaling worked example

``WORKDIR`` holds the fits of the worked example (``WORKDIR/fit_2da``, ``WORKDIR/fit_3da``, made
by ``forecast fit`` as docs/emergence.md shows; they are fitted here if absent). The data are read
from ``../shared/data/obsscaling_arithmetic_fitsplit/`` and never copied into the repository.
Figures go to ``docs/figures/``. Every plot function returns a matplotlib Figure.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.laws.compose import gumbel_shift_decades, gumbel_width_decades
from forecast.laws.links import exp_link

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"
DATA = ROOT.parent / "shared" / "data" / "obsscaling_arithmetic_fitsplit" / (
    "arithmetic_below_8.4e22flops.csv")
KS = (1, 2, 4, 8)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fig_gumbel(alpha: float = 0.3, A: float = 1e6):
    """P_k = exp(-k A C^-alpha) and its slope in log compute: a shift, not a sharpening."""
    plt = _plt()
    fig, (ax, slope) = plt.subplots(1, 2, figsize=(10, 3.8))
    x = np.linspace(17, 27, 500)
    p = exp_link(A * (10.0**x) ** -alpha)
    for k in KS:
        ax.plot(x, p**k, label=f"k = {k}")
        slope.plot(x, np.gradient(p**k, x), label=f"k = {k}")
    w = gumbel_width_decades(alpha)
    ax.set(xlabel="log10 compute (FLOPs)", ylabel="task success P_k = p^k",
           title=f"each doubling of k shifts the curve {gumbel_shift_decades(2, alpha):.2f} dec;"
                 f"\nthe 10-90% width stays {w:.2f} dec (alpha = {alpha})")
    slope.set(xlabel="log10 compute (FLOPs)", ylabel="dP_k / dlog10 C",
              title="gain per decade: the same bump, moved right")
    ax.legend()
    fig.tight_layout()
    return fig


def fig_text_loss_cap(E: float = 1.69, A: float = 1.2e3, alpha: float = 0.155):
    """exp(-average text loss) never passes exp(-E): 0.18 for Chinchilla's E = 1.69 nats."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    x = np.linspace(18, 30, 300)
    loss = E + A * (10.0**x) ** -alpha
    for k in (1, 2, 4):
        ax.plot(x, exp_link(loss) ** k, label=f"exp(-L)^{k}")
    ax.axhline(math.exp(-E), color="k", ls=":", label=f"ceiling exp(-E) = {math.exp(-E):.2f}")
    ax.axhline(0.5, color="grey", ls="--", label="threshold 0.5")
    ax.set(ylim=(0, 0.6), xlabel="log10 compute (FLOPs)", ylabel="success",
           title="average text loss (E = 1.69 nats) as a per-step loss")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def fig_mirage(alpha: float = 0.3, A: float = 1e6, k: int = 8):
    """Plot the hard metric (exact match, P_k) against the soft ones, densely and sparsely."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    x = np.linspace(17, 25, 400)
    p = exp_link(A * (10.0**x) ** -alpha)
    ax.plot(x, p, label="per-step accuracy p (soft)")
    ax.plot(x, p, ls=":", lw=3, alpha=0.5, label=f"expected correct steps / {k} (soft)")
    ax.plot(x, p**k, label=f"exact match P_{k} = p^{k} (hard)")
    sparse = np.arange(17, 25.1, 1.5)
    ps = exp_link(A * (10.0**sparse) ** -alpha)
    ax.plot(sparse, ps**k, "o", color="C2", label="hard metric at a few model sizes")
    ax.plot(sparse, ps, "o", color="C0")
    ax.set(xlabel="log10 compute (FLOPs)", ylabel="metric",
           title="same model, two metrics: a smooth rise and a 'sudden' one")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _obs_tasks() -> pd.DataFrame:
    d = pd.read_csv(DATA)
    return d.pivot_table(index=["model", "family", "flops"], columns="task",
                         values="value").reset_index().sort_values("flops")


def fit_tasks(workdir: Path) -> None:
    """Fit the logistic law to 2da and 3da accuracy with `forecast fit` (if not yet done)."""
    d = pd.read_csv(DATA)
    for task in ("2da", "3da"):
        out = workdir / f"fit_{task}"
        if (out / "fit.nc").exists():
            continue
        csv = workdir / f"arithmetic_{task}.csv"
        d[d["task"] == f"arithmetic_{task}"].to_csv(csv, index=False)
        subprocess.run([sys.executable, "-m", "forecast", "fit", str(csv), "--law", "logistic",
                        "--y", "value", "--out", str(out), "--seed", "1"], check=True)


def worked_example(workdir: Path) -> dict:
    """Numbers of the worked example: the 3-digit forecast from 2 digits, against 3 digits."""
    from forecast.inference.fitting import load_fit
    from forecast.questions.emergence import emergence, step_success

    fit2, fit3 = load_fit(workdir / "fit_2da"), load_fit(workdir / "fit_3da")
    from2 = emergence(step_success(fit2, from_k=2), [2, 3])
    direct3 = emergence(step_success(fit3, from_k=3), [3])
    w = _obs_tasks()
    pred = w["arithmetic_2da"] ** 1.5
    obs = w["arithmetic_3da"]
    mid = (w["arithmetic_2da"] > 0.1) & (w["arithmetic_2da"] < 0.95)
    return {
        "forecast_3da_from_2da": from2["steps"][1],
        "fit_2da_crossing": from2["steps"][0],
        "fit_3da_direct": direct3["steps"][0],
        "per_model": {
            "n_models": int(len(w)),
            "mean_abs_gap": float(np.mean(np.abs(pred - obs))),
            "median_ratio_pred_over_obs_mid": float(np.median(pred[mid] / obs[mid])),
            "n_mid": int(mid.sum()),
            "mean_abs_gap_mid": float(np.mean(np.abs(pred[mid] - obs[mid]))),
            "pred_above_obs": int((pred > obs).sum()),
        },
        "families": w[["model", "flops", "arithmetic_2da", "arithmetic_3da"]].assign(
            pred_3da=pred.round(4)).to_dict(orient="records"),
    }


def fig_obsscaling(workdir: Path):
    """Observed 2- and 3-digit accuracy, the 2-digit fit, and P_2^(3/2) against 3-digit data."""
    from forecast.inference.fitting import load_fit
    from forecast.questions.emergence import step_success

    plt = _plt()
    w = _obs_tasks()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    x = np.linspace(20, 25, 200)
    for task, fit_dir, k_from, color in (("2da", "fit_2da", 2, "C0"),
                                         ("3da", "fit_3da", 3, "C1")):
        s = step_success(load_fit(workdir / fit_dir), from_k=k_from)
        acc = s.p(x[None, :]) ** k_from
        lo, med, hi = np.quantile(acc, [0.05, 0.5, 0.95], axis=0)
        ax.plot(x, med, color=color, label=f"logistic fit to {task} (median, 90%)")
        ax.fill_between(x, lo, hi, color=color, alpha=0.2)
        ax.plot(np.log10(w["flops"]), w[f"arithmetic_{task}"], "o", color=color, ms=4,
                label=f"observed {task}")
        if task == "2da":
            pred = s.p(x[None, :]) ** 3
            lo, med, hi = np.quantile(pred, [0.05, 0.5, 0.95], axis=0)
            ax.plot(x, med, color="C2", ls="--", label="3da forecast P_2^(3/2)")
            ax.fill_between(x, lo, hi, color="C2", alpha=0.15)
    ax.axhline(0.5, color="grey", lw=0.8)
    ax.set(xlabel="log10 training compute (FLOPs)", ylabel="accuracy (2-shot exact match)",
           title="ObsScaling arithmetic, 44 models <= 8.4e22 FLOPs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main() -> None:
    """Write the figures; with WORKDIR also fit and print the worked example."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    for name, make in (("emergence_gumbel", fig_gumbel), ("emergence_text_loss_cap",
                                                          fig_text_loss_cap),
                       ("emergence_mirage", fig_mirage)):
        make().savefig(FIGURES / f"{name}.png", dpi=110)
    if len(sys.argv) > 1:
        workdir = Path(sys.argv[1])
        workdir.mkdir(parents=True, exist_ok=True)
        fit_tasks(workdir)
        fig_obsscaling(workdir).savefig(FIGURES / "emergence_obsscaling.png", dpi=110)
        print(json.dumps(worked_example(workdir), indent=1))


if __name__ == "__main__":
    main()
