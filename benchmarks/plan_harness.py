"""The harness check of `forecast plan` (issue 18): does the plan's pick narrow the forecast more
than log-spaced or random picks of the same cost, on runs that really happened?

Usage: python benchmarks/plan_harness.py [--law chinchilla] [--replicates 6] [--y loss]

Data: ``fixtures/harness_lookup.csv`` and ``fixtures/harness_lookup_seed1.csv`` (5 model sizes x
20 checkpoints of the lookup task, fixtures/README.md), each run's first 10% of compute dropped
(as ``forecast fit --run run_id`` does by default).

Each replicate (a fixture and a seed):

1. start: a random 70% of the rows of the 3 smallest models (the subset changes with the seed);
   candidates: every other row (the rest of the small models, all of the two larger ones) of
   at most ``--budget-share`` times the target's compute;
   target: the compute of the largest model's last checkpoint;
2. fit the start (NUTS, 4 x 1000 draws, ``--extrapolation none``), plan 1 and 3 runs among the
   candidates (:func:`forecast.questions.plan.plan`, greedy for 3);
3. baselines of the same number of runs: *log-spaced* (the ladder: the rows nearest costs
   log-spaced from the cheapest candidate up to the largest affordable one; for one run, the
   largest affordable one), *log-same* (the same ladder with its top chosen so that its total
   cost is nearest the plan's; for one run, the row of cost nearest the plan's, often the
   plan's own) and *random* (a random set of rows other than the plan's, of total cost within a
   factor 1.5 of the plan's: the same cost spent elsewhere);
4. for each choice, add the rows' real outcomes from the fixture, refit, and measure the 90%
   width of the target quantity (the loss at the target compute; for chinchilla at the
   compute-optimal split): the realised width.

Prints a table per replicate and a summary: how often the plan's realised width is at most the
log-spaced one's and the random one's. Results are in docs/plan.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from forecast.inference.fitting import SamplerSettings, fit  # noqa: E402
from forecast.laws import get_law  # noqa: E402
from forecast.questions.plan import Candidates, outcomes_and_widths, plan  # noqa: E402
from forecast.runs import read_runs  # noqa: E402

FIXTURES = {0: ROOT / "fixtures" / "harness_lookup.csv",
            1: ROOT / "fixtures" / "harness_lookup_seed1.csv"}


def candidates_of(runs) -> Candidates:
    return Candidates(runs.flops.copy(), None if runs.params is None else runs.params.copy(),
                      None if runs.tokens is None else runs.tokens.copy(),
                      tuple(f"{a}@{int(s)}" for a, s in zip(runs.labels("run_id"),
                                                            runs.column("step"), strict=True)))


def realised_width(runs, start_idx, add_idx, law, target, seed) -> float:
    res = fit(runs.subset(np.concatenate([start_idx, add_idx]).astype(int)), law,
              settings=SamplerSettings(seed=seed), extrapolation="none")
    one = Candidates(np.array([target]), np.array([1.0]), np.array([1.0]))
    return outcomes_and_widths(res, one, target, outcomes=2, seed=seed)["current"]


def log_spaced(cost: np.ndarray, m: int, total: float | None = None) -> np.ndarray:
    """The ladder: m distinct candidates nearest costs log-spaced from the cheapest to a top.

    The top is the largest affordable candidate, or with ``total`` the one that makes the
    chosen rows' total cost nearest ``total``.
    """
    def choose(top: float) -> np.ndarray:
        want = np.geomspace(cost.min(), top, m) if m > 1 else np.array([top])
        picked: list[int] = []
        for w in want[::-1]:
            free = [i for i in range(cost.size) if i not in picked]
            picked.append(min(free, key=lambda i: abs(np.log(cost[i] / w))))
        return np.array(picked[::-1])

    if total is None:
        return choose(cost.max())
    tops = np.geomspace(cost.min(), cost.max(), 200)
    return choose(min(tops, key=lambda t: abs(np.log(cost[choose(t)].sum() / total))))


def random_same_cost(cost: np.ndarray, m: int, total: float, avoid: set, rng) -> np.ndarray:
    """m random candidates, another set than the plan's, of total cost nearest ``total``."""
    draws = [d for d in (rng.choice(cost.size, m, replace=False) for _ in range(400))
             if set(d.tolist()) != avoid]
    near = [d for d in draws if abs(np.log(cost[d].sum() / total)) < np.log(1.5)]
    if near:
        return near[int(rng.integers(len(near)))]
    return min(draws, key=lambda d: abs(np.log(cost[d].sum() / total)))


def replicate(fixture: int, seed: int, law, y: str, share: float, out: list) -> None:
    runs = read_runs(FIXTURES[fixture], y=y, law=law).drop_first("run_id", 0.1)
    rng = np.random.default_rng([18, fixture, seed])
    sizes = np.sort(np.unique(runs.params))
    small = np.flatnonzero(np.isin(runs.params, sizes[:3]))
    start = np.sort(rng.choice(small, int(round(0.7 * small.size)), replace=False))
    biggest = np.flatnonzero(runs.params == sizes[-1])
    target = float(runs.flops[biggest].max())
    rest = np.setdiff1d(np.arange(len(runs)), start)
    pool = rest[runs.flops[rest] <= share * target]
    cands = candidates_of(runs.subset(pool))
    cost = cands.flops
    t0 = time.perf_counter()
    base = fit(runs.subset(start), law, settings=SamplerSettings(seed=seed),
               extrapolation="none")
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = plan(base, cands, target, pick=3, seed=seed)
    t_plan = time.perf_counter() - t0
    now = res["current"]["width"]
    print(f"\nfixture seed {fixture}, replicate seed {seed}: {start.size} start rows, "
          f"{len(cands)} candidates (<= {share:g} x target {target:.3g} FLOPs); fit {t_fit:.0f} s,"
          f" plan {t_plan:.1f} s; today's width {now:.4g}")
    print(f"{'M':>2} {'choice':<10}{'total FLOPs':>12}{'expected':>10}{'realised':>10}  rows")
    done: dict = {}
    for m in (1, 3):
        chosen = {"plan": np.array([p["index"] for p in res["picks"][:m]])}
        total = float(cost[chosen["plan"]].sum())
        chosen["log-spaced"] = log_spaced(cost, m)
        chosen["log-same"] = log_spaced(cost, m, total)
        chosen["random"] = random_same_cost(cost, m, total, set(chosen["plan"].tolist()), rng)
        row = {"fixture": fixture, "seed": seed, "m": m, "now": now}
        for name, idx in chosen.items():
            key = (m, tuple(sorted(idx.tolist())))
            if key not in done:  # the same rows refit once (same seed: the same width)
                done[key] = realised_width(runs, start, pool[idx], law, target, seed + 1000)
            w = done[key]
            exp = res["picks"][m - 1]["expected_width"] if name == "plan" else None
            row[name] = w
            row[f"{name}_cost"] = float(cost[idx].sum())
            labels = ", ".join(cands.labels[i] for i in idx)
            print(f"{m:>2} {name:<10}{cost[idx].sum():>12.3g}"
                  f"{'' if exp is None else format(exp, '.4g'):>10}{w:>10.4g}  {labels}",
                  flush=True)
        out.append(row)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--law", default="chinchilla")
    p.add_argument("--y", default="loss")
    p.add_argument("--replicates", type=int, default=6)
    p.add_argument("--budget-share", type=float, default=0.3)
    args = p.parse_args()
    law = get_law(args.law)
    rows: list[dict] = []
    for r in range(args.replicates):
        replicate(r % 2, r // 2, law, args.y, args.budget_share, rows)
    print("\nsummary (realised 90% width at the target after adding the runs; lower is better)")
    print(f"{'M':>2}{'reps':>6}{'baseline':>12}{'plan <= it':>12}{'median plan/it':>16}"
          f"{'mean plan/it':>14}")
    for m in (1, 3):
        sub = [r for r in rows if r["m"] == m]
        pl = np.array([r["plan"] for r in sub])
        for name in ("log-spaced", "log-same", "random"):
            other = np.array([r[name] for r in sub])
            print(f"{m:>2}{len(sub):>6}{name:>12}{int(np.sum(pl <= other)):>9}/{len(sub)}"
                  f"{np.median(pl / other):>16.3f}{np.mean(pl / other):>14.3f}")


if __name__ == "__main__":
    main()
