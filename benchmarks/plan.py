"""`forecast plan`: the importance-reweighting update against full refits, and its cost.

Usage: python benchmarks/plan.py [--runs fixtures/synthetic_power.csv] [--law power]
       [--target 1e23] [--candidates 1e14,1e17,1e19,1e21,1e22] [--outcomes 8] [--seed 0]
       [--timing-only]

1. Fits the runs (4 chains x 1000 draws, ``--extrapolation none`` so that the refits and the
   reweighted fit carry the same model).
2. For each candidate compute, draws ``--outcomes`` outcomes from the posterior predictive
   (:func:`forecast.questions.plan.outcomes_and_widths`), and for each outcome computes the 90%
   width of the loss at ``--target`` twice: by reweighting the fit's draws, and by a full NUTS
   refit of the runs with that run added (same settings, another seed).
3. Prints, per candidate, the expected width of both, their ratio, and the weights' ESS.
4. Times `forecast plan --fit DIR` for 50 candidates (in-process, after one warm-up call) and
   the whole command with its own fit in a fresh process.

Results are in docs/plan.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast.inference.fitting import SamplerSettings, fit  # noqa: E402
from forecast.questions.plan import (  # noqa: E402
    Candidates,
    candidate_grid,
    outcomes_and_widths,
    plan,
)
from forecast.runs import read_runs, runs_from_frame  # noqa: E402


def refit_width(runs, law, flops: float, y: float, target: float, seed: int,
                target_steps=None) -> float:
    frame = runs.frame[["flops", runs.y_name]].copy()
    frame = pd.concat([frame, pd.DataFrame({"flops": [flops], runs.y_name: [y]})],
                      ignore_index=True)
    more = runs_from_frame(frame, y=runs.y_name, law=law)
    res = fit(more, law, settings=SamplerSettings(seed=seed), extrapolation="none")
    out = outcomes_and_widths(res, Candidates(np.array([flops])), target,
                              y=np.array([[y]]))
    return out["current"]


def accuracy(args) -> None:
    runs = read_runs(args.runs, law=args.law)
    t0 = time.perf_counter()
    base = fit(runs, args.law, settings=SamplerSettings(seed=args.seed), extrapolation="none")
    print(f"fit of {len(runs)} runs: {time.perf_counter() - t0:.1f} s")
    flops = np.array([float(c) for c in args.candidates.split(",")])
    t0 = time.perf_counter()
    approx = outcomes_and_widths(base, Candidates(flops), args.target, outcomes=args.outcomes,
                                 seed=args.seed)
    t_rw = time.perf_counter() - t0
    print(f"reweighting {flops.size} candidates x {args.outcomes} outcomes: {t_rw:.2f} s")
    print(f"today's width at {args.target:.3g}: {approx['current']:.4g}")
    print(f"{'C':>9}{'reweighted':>12}{'refit':>10}{'ratio':>8}{'ESS med':>9}{'ESS min':>9}"
          f"{'refit s':>9}")
    for i, c in enumerate(flops):
        t0 = time.perf_counter()
        ref = [refit_width(runs, args.law, c, approx["y"][j, i], args.target, 100 + j)
               for j in range(args.outcomes)]
        dt = (time.perf_counter() - t0) / args.outcomes
        rw = approx["width"][:, i].mean()
        e = approx["ess"][:, i]
        print(f"{c:>9.3g}{rw:>12.4g}{np.mean(ref):>10.4g}{rw / np.mean(ref):>8.3f}"
              f"{np.median(e):>9.0f}{e.min():>9.0f}{dt:>9.1f}", flush=True)


def timing(args) -> None:
    runs = read_runs(args.runs, law=args.law)
    with tempfile.TemporaryDirectory() as tmp:
        res = fit(runs, args.law, settings=SamplerSettings(seed=args.seed))
        res.save(tmp)
        cands = candidate_grid(res.law, runs.flops, args.budget, 50, params=runs.params,
                               tokens=runs.tokens)
        plan(res, cands, args.target, pick=1, seed=args.seed)  # warm-up
        for pick in (1, 3):
            t0 = time.perf_counter()
            plan(res, cands, args.target, pick=pick, seed=args.seed)
            print(f"plan, 50 candidates, --pick {pick} (in-process): "
                  f"{time.perf_counter() - t0:.2f} s")
        cmd = [sys.executable, "-m", "forecast", "plan", "--budget", f"{args.budget:g}",
               "--target", f"{args.target:g}", "--candidates", "50", "--seed", str(args.seed)]
        for label, extra in (("--fit DIR", ["--fit", tmp, "--out", tmp]),
                             ("RUNS.csv (fits, warm cache)", [str(args.runs), "--law",
                                                               args.law.name if hasattr(
                                                                   args.law, "name")
                                                               else args.law, "--out", tmp])):
            t0 = time.perf_counter()
            subprocess.run(cmd + extra, check=True, capture_output=True, cwd=ROOT)
            print(f"forecast plan {label}, 50 candidates (fresh process): "
                  f"{time.perf_counter() - t0:.1f} s")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", default=str(ROOT / "fixtures" / "synthetic_power.csv"))
    p.add_argument("--law", default="power")
    p.add_argument("--target", type=float, default=1e23)
    p.add_argument("--budget", type=float, default=1e22)
    p.add_argument("--candidates", default="1e14,1e17,1e19,1e21,1e22")
    p.add_argument("--outcomes", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timing-only", action="store_true")
    args = p.parse_args()
    if not args.timing_only:
        accuracy(args)
    timing(args)


if __name__ == "__main__":
    main()
