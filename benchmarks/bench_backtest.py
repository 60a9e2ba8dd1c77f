"""Cost of a 10-cutoff backtest sweep against one backtest (target: at most 3x).

Usage: python benchmarks/bench_backtest.py [RUNS.csv] [--law power]

Runs `forecast backtest` twice in fresh processes, as a user would: once with one cutoff and
once with ten (`--cutoffs`), and prints the wall times, their ratio, and the per-cutoff fit and
baseline seconds that the sweep reports. Both include Python start-up and imports; the sweep
loops over forecast.inference.fitting.fit, so whatever that reuses between fits of one law
(compiled code) shows up here.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ["--draws", "500", "--tune", "500", "--chains", "2", "--boot", "50", "--seed", "0"]


def timed(args: list[str]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "forecast", "backtest", *args, *SETTINGS,
                          "--json"], capture_output=True, text=True, check=True, cwd=ROOT)
    return time.perf_counter() - t0, json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="?", default=str(ROOT / "fixtures" / "synthetic_power.csv"))
    ap.add_argument("--law", default="power")
    ap.add_argument("--lo", type=float, default=1e19)
    ap.add_argument("--hi", type=float, default=3e20)
    a = ap.parse_args()
    cutoffs = np.geomspace(a.lo, a.hi, 10)
    base = [a.runs, "--law", a.law]
    t_one, one = timed([*base, "--cutoff", f"{cutoffs[0]:.6g}"])
    t_ten, ten = timed([*base, "--cutoffs", ",".join(f"{c:.6g}" for c in cutoffs)])
    print(f"one backtest (cutoff {cutoffs[0]:.3g}): {t_one:.1f} s wall "
          f"(fit {one['seconds']['fit']:.1f} s, baseline {one['seconds']['baseline']:.1f} s)")
    print(f"10-cutoff sweep: {t_ten:.1f} s wall; ratio {t_ten / t_one:.2f} (target <= 3)")
    print(f"{'cutoff':>10}{'n_fit':>7}{'fit s':>8}{'base s':>8}{'APE %':>8}{'90% cov':>9}")
    for r in ten:
        print(f"{r['cutoff']:>10.3g}{r['n_fit']:>7}{r['seconds']['fit']:>8.1f}"
              f"{r['seconds']['baseline']:>8.1f}{r['model']['median_ape']:>8.2f}"
              f"{r['model']['coverage']['90']:>9.0%}")


if __name__ == "__main__":
    main()
