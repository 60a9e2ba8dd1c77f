"""The small-ladder suite: the ladders most users bring, cut from public data at run time.

Each case is a runs table and the `forecast fit` arguments to fit it. Chinchilla subsets are
written to a temporary folder from ``../shared/data`` (never copied into the project):

* ``chin16``: 16 runs, 4 model sizes x 4 token counts (the shape of a public 190M-1B ladder);
* ``chin5``: 5 runs on the compute frontier, one per log-spaced compute bin, law ``power``;
* ``lookup``: the README Quickstart's fit (the harness lookup runs' frontier, joint weibull link);
* ``lookup1``: the seed-1 lookup replicate, per-step loss on the frontier, law ``power``;
* ``addition``: the harness addition runs, per-step loss on the frontier, law ``power``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CHINCHILLA = ROOT.parent / "shared/data/chinchilla_epoch/chinchilla_runs.csv"
FIX = ROOT / "fixtures"


def chinchilla_16() -> pd.DataFrame:
    """4 sizes (log-spaced among sizes with 4+ runs, 190M-1B) x 4 log-spaced token counts."""
    d = pd.read_csv(CHINCHILLA)
    counts = d.groupby("params").size()
    sizes = np.array(sorted(counts[counts >= 4].index))
    sizes = sizes[(sizes >= 1.5e8) & (sizes <= 1.2e9)]
    picks = [sizes[np.argmin(abs(np.log(sizes) - t))]
             for t in np.linspace(np.log(sizes[0]), np.log(sizes[-1]), 4)]
    rows = []
    for n in picks:
        runs = d[d.params == n].sort_values("tokens")
        logt = np.log(runs.tokens.to_numpy())
        idx = sorted({int(np.argmin(abs(logt - t)))
                      for t in np.linspace(logt[0], logt[-1], 4)})
        rows.append(runs.iloc[idx])
    return pd.concat(rows, ignore_index=True)


def chinchilla_5() -> pd.DataFrame:
    """The lowest loss in each of 5 log-spaced compute bins: a 5-run compute-only ladder."""
    d = pd.read_csv(CHINCHILLA)
    edges = np.linspace(np.log10(d.flops.min()), np.log10(d.flops.max()) + 1e-9, 6)
    b = np.digitize(np.log10(d.flops), edges) - 1
    return d.loc[d.groupby(b)["loss"].idxmin()].reset_index(drop=True)[["run_id", "flops",
                                                                        "loss"]]


def cases(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    """``name -> (csv, forecast fit arguments after the csv)``; writes the subsets to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    chin16, chin5 = folder / "chinchilla_16.csv", folder / "chinchilla_5.csv"
    chinchilla_16().to_csv(chin16, index=False)
    chinchilla_5().to_csv(chin5, index=False)
    return {
        "chin16": (chin16, ["--law", "chinchilla"]),
        "chin5": (chin5, ["--law", "power"]),
        "lookup": (FIX / "harness_lookup.csv",
                   ["--y", "step_loss", "--acc", "step_acc", "--frontier",
                    "--priors", str(FIX / "digit_chance.toml")]),
        "lookup1": (FIX / "harness_lookup_seed1.csv", ["--y", "step_loss", "--frontier"]),
        "addition": (FIX / "harness_addition.csv", ["--y", "step_loss", "--frontier"]),
    }
