"""Figures of a backtest for docs/backtest.md, from the JSON that `forecast backtest --json` prints.

Usage: python benchmarks/backtest_figures.py RESULT.json NAME
Writes docs/figures/backtest_NAME_runs.png (each held-out run: observed, the model's median and
90% predictive interval, the baseline's point and 90% bootstrap interval) and
docs/figures/backtest_NAME_calibration.png (forecast.report.forecast_figures.calibration_figure).
"""

import json
import sys
from pathlib import Path

import numpy as np

from forecast.report.forecast_figures import calibration_figure

DOCS = Path(__file__).resolve().parents[1] / "docs" / "figures"


def heldout_figure(result: dict):
    """Held-out runs against compute: observed loss, model and baseline with 90% intervals."""
    from matplotlib.figure import Figure

    runs = sorted(result["runs"], key=lambda r: r["flops"])
    x = np.arange(len(runs))
    fig = Figure(figsize=(8, 3.8))
    ax = fig.add_subplot()
    m = np.array([[r["model"]["q05"], r["model"]["median"], r["model"]["q95"]] for r in runs])
    b = np.array([[r["baseline"]["q05"], r["baseline"]["point"], r["baseline"]["q95"]]
                  for r in runs])
    ax.errorbar(x - 0.15, m[:, 1], yerr=[m[:, 1] - m[:, 0], m[:, 2] - m[:, 1]], fmt="o",
                ms=4, color="#1f5fa8", label="model: median, 90% predictive", gid="model")
    ax.errorbar(x + 0.15, b[:, 1], yerr=[b[:, 1] - b[:, 0], b[:, 2] - b[:, 1]], fmt="s",
                ms=4, color="0.5", label="baseline: Huber fit, 90% bootstrap", gid="baseline")
    ax.plot(x, [r["y"] for r in runs], "x", color="#222222", ms=7, label="observed",
            gid="observed")
    ax.set_xticks(x, [f"{r['flops']:.2g}" for r in runs], rotation=70, fontsize=7)
    ax.set_xlabel("held-out run (training FLOPs)")
    ax.set_ylabel(result["y"])
    ax.set_title(f"law {result['law']}: fitted {result['n_fit']} runs with flops <= "
                 f"{result['cutoff']:.3g}, forecast {result['n_test']}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    result = json.loads(Path(sys.argv[1]).read_text())
    name = sys.argv[2]
    results = result if isinstance(result, list) else [result]
    heldout_figure(results[-1]).savefig(DOCS / f"backtest_{name}_runs.png", dpi=110)
    calibration_figure(results).savefig(DOCS / f"backtest_{name}_calibration.png", dpi=110)
    print(f"wrote {DOCS}/backtest_{name}_runs.png and _calibration.png")
