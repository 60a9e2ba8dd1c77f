"""`forecast plan`: the importance-reweighting update against full refits, and its cost.

Usage: python benchmarks/plan.py [--runs fixtures/synthetic_power.csv] [--law power]
       [--target 1e23] [--budget 1e22] [--candidates 1e14,1e17,1e19,1e21,1e22 | --n-check 5]
       [--outcomes 8] [--seed 0] [--below FLOPS] [--timing-only]

1. Fits the runs (4 chains x 1000 draws, ``--extrapolation none`` so that the refits and the
   reweighted fit carry the same model).
2. For each candidate (given, or ``--n-check`` of the command's grid at ``--budget``), draws
   ``--outcomes`` outcomes from the posterior predictive
   (:func:`forecast.questions.plan.outcomes_and_widths`), and for each outcome computes the
   90% width of the loss at ``--target`` twice: by reweighting the fit's draws, and by a full
   NUTS refit of the runs with that run added (same settings, another seed).
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


def refit_width(runs, law, cands: Candidates, i: int, y: float, target: float,
                seed: int) -> float:
    """The 90% width at the target after a full NUTS refit with candidate i's outcome y."""
    row = {"flops": [float(cands.flops[i])], runs.y_name: [y]}
    cols = ["flops", runs.y_name]
    if cands.params is not None:
        row.update({"params": [float(cands.params[i])], "tokens": [float(cands.tokens[i])]})
        cols += ["params", "tokens"]
    frame = pd.concat([runs.frame[cols], pd.DataFrame(row)], ignore_index=True)
    more = runs_from_frame(frame, y=runs.y_name, law=law)
    res = fit(more, law, settings=SamplerSettings(seed=seed), extrapolation="none")
    return outcomes_and_widths(res, cands, target, outcomes=2, seed=seed)["current"]


def accuracy(args) -> None:
    runs = read_runs(args.runs, law=args.law)
    if args.below:
        runs = runs.subset(runs.flops <= args.below)
    t0 = time.perf_counter()
    base = fit(runs, args.law, settings=SamplerSettings(seed=args.seed), extrapolation="none")
    print(f"fit of {len(runs)} runs ({args.law}): {time.perf_counter() - t0:.1f} s")
    if args.candidates:
        cands = Candidates(np.array([float(c) for c in args.candidates.split(",")]))
    else:  # a few of the command's own grid, evenly spread in cost
        grid = candidate_grid(base.law, runs.flops, args.budget, 50, params=runs.params,
                              tokens=runs.tokens)
        keep = np.unique(np.round(np.linspace(0, len(grid) - 1, args.n_check)).astype(int))
        cands = Candidates(grid.flops[keep], None if grid.params is None else grid.params[keep],
                           None if grid.tokens is None else grid.tokens[keep])
    t0 = time.perf_counter()
    approx = outcomes_and_widths(base, cands, args.target, outcomes=args.outcomes,
                                 seed=args.seed)
    t_rw = time.perf_counter() - t0
    print(f"reweighting {len(cands)} candidates x {args.outcomes} outcomes: {t_rw:.2f} s")
    print(f"today's width at {args.target:.3g}: {approx['current']:.4g}")
    nd = cands.params is not None
    print((f"{'N':>9}{'D':>9}" if nd else "") + f"{'C':>9}{'reweighted':>12}{'refit':>10}"
          f"{'ratio':>8}{'ESS med':>9}{'ESS min':>9}{'refit s':>9}")
    for i, c in enumerate(cands.flops):
        t0 = time.perf_counter()
        ref = [refit_width(runs, args.law, cands, i, approx["y"][j, i], args.target, 100 + j)
               for j in range(args.outcomes)]
        dt = (time.perf_counter() - t0) / args.outcomes
        rw = approx["width"][:, i].mean()
        e = approx["ess"][:, i]
        size = f"{cands.params[i]:>9.3g}{cands.tokens[i]:>9.3g}" if nd else ""
        print(f"{size}{c:>9.3g}{rw:>12.4g}{np.mean(ref):>10.4g}{rw / np.mean(ref):>8.3f}"
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
                             ("RUNS.csv (fits, warm cache)",
                              [str(args.runs), "--law", args.law, "--out", tmp])):
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
    p.add_argument("--candidates", default=None,
                   help="Compute of candidates to check (a law of C); default: --n-check of "
                        "the command's grid at --budget")
    p.add_argument("--n-check", type=int, default=5)
    p.add_argument("--below", type=float, default=None,
                   help="Keep only the runs of at most this compute (a small ladder)")
    p.add_argument("--outcomes", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timing-only", action="store_true")
    args = p.parse_args()
    if not args.timing_only:
        accuracy(args)
    if not args.below:
        timing(args)


if __name__ == "__main__":
    main()
