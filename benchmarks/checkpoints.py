"""Checkpoint tables fitted three ways, scored by backtest (the numbers in docs/checkpoints.md).

Usage: python benchmarks/checkpoints.py [--fixtures lookup,lookup_seed1,addition] [--seed 1]
       [--out results.json]

Each harness fixture (``fixtures/harness_*.csv``: 5 model sizes x 20 log-spaced checkpoints, a
constant learning rate after warm-up, so every checkpoint is a fair run of its own length) is
split two ways:

- **cutoff**: fit the rows at or below a compute (3e11 FLOPs for lookup, 2e11 for addition),
  forecast the rows above it (the later checkpoints of the three largest models);
- **new run**: fit the four smaller models, forecast the largest (Choshen et al.'s question:
  the final loss of a larger model from smaller ones' curves).

and fitted, on the fitting rows, as

- ``chinchilla``, every checkpoint an independent run (the old default);
- ``chinchilla``, first 10% of each run dropped, still independent;
- ``chinchilla --run run_id --drop-first 0`` and ``--drop-first 0.1`` (a level per training run);
- ``power --frontier`` (the compute frontier, Hoffmann et al.'s approach 1);
- ``power`` on one row per run (each run's last fitted checkpoint), where that is enough rows.

Scores (90% coverage, MAE and median APE of the loss, CRPS) are of the held-out checkpoints
(each run's first 10% excluded, the same rows for every variant) for the laws of N and D, and of
the held-out rows on the full table's compute frontier for every variant (what a law of compute
forecasts). The held-out rows are all after the fitted ones, so the forecasts extrapolate.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from forecast.inference.fitting import fit
from forecast.inference.sampling import SamplerSettings
from forecast.questions.backtest import score
from forecast.questions.predictive import model_draws
from forecast.runs import read_runs

ROOT = Path(__file__).resolve().parents[1]
CUTOFFS = {"lookup": 3e11, "lookup_seed1": 3e11, "addition": 2e11}
RUN = "run_id"
VARIANTS = (  # label, law, options, rows (all, dropped first 10%, frontier, last per run)
    ("chinchilla, independent", "chinchilla", {}, "all"),
    ("chinchilla, drop 10%, independent", "chinchilla", {}, "dropped"),
    ("chinchilla --run, drop 0", "chinchilla", {"run": RUN}, "all"),
    ("chinchilla --run, drop 10%", "chinchilla", {"run": RUN}, "dropped"),
    ("power --frontier", "power", {}, "frontier"),
    ("power, one row per run", "power", {}, "last"),
)


def pick(runs, rows: str):
    """The fitting rows of a variant."""
    if rows == "dropped":
        return runs.drop_first(RUN, 0.1)
    if rows == "frontier":
        return runs.frontier()
    if rows == "last":
        labels = runs.labels(RUN)
        return runs.subset(np.array([i for i in range(len(runs)) if runs.flops[i] ==
                                     runs.flops[labels == labels[i]].max()]))
    return runs


def splits(runs, name: str):
    """(label, fitting rows, held-out checkpoints, held-out frontier rows) of a fixture."""
    kept = runs.drop_first(RUN, 0.1)  # held-out rows never include a run's first 10%
    on_front = np.isin(kept.flops, runs.frontier().flops)
    cut = CUTOFFS[name]
    labels, top = runs.labels(RUN), kept.labels(RUN)
    largest = labels[np.argmax(runs.params)]
    yield (f"cutoff {cut:.0e}", runs.subset(runs.flops <= cut), kept.subset(kept.flops > cut),
           kept.subset((kept.flops > cut) & on_front))
    yield ("new run", runs.subset(labels != largest), kept.subset(top == largest),
           kept.subset((top == largest) & on_front))


def scored(result, test, seed: int) -> dict:
    if len(test) == 0:
        return {}
    mean, pred = model_draws(result, test, np.random.default_rng(seed))
    s = score(pred, test.y, np.median(mean, axis=0))
    return {"n": len(test), "coverage_90": s["coverage"]["90"], "mae": s["mae"],
            "median_ape": s["median_ape"], "crps": s["crps"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixtures", default="lookup,lookup_seed1,addition")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    results = []
    for name in args.fixtures.split(","):
        for law_name in ("chinchilla", "power"):
            runs = read_runs(ROOT / "fixtures" / f"harness_{name}.csv", y="loss", law=law_name)
            for split, fit_rows, test, front in splits(runs, name):
                for label, law, opts, rows in VARIANTS:
                    if law != law_name:
                        continue
                    some = pick(fit_rows, rows)
                    row = {"fixture": name, "split": split, "variant": label,
                           "n_fit": len(some)}
                    if len(some) < 7:
                        row["skipped"] = f"{len(some)} rows, too few for law {law}"
                        results.append(row)
                        print(json.dumps(row), flush=True)
                        continue
                    t0 = time.perf_counter()
                    result = fit(some, law, settings=SamplerSettings(seed=args.seed), **opts)
                    row["seconds"] = round(time.perf_counter() - t0, 1)
                    row["divergences"] = result.summary["divergences"]
                    row["kappa"] = result.extrapolation["kappa_per_decade"]
                    if "N" in result.law.covariates:
                        row["checkpoints"] = scored(result, test, args.seed)
                    row["frontier"] = scored(result, front, args.seed)
                    if opts.get("run"):
                        row["sigma_run"] = result.summary["params"]["sigma_run"]["median"]
                    results.append(row)
                    print(json.dumps(row), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))
    print("\nfixture        split         variant                              n_fit"
          "   ckpt cov90   MAE    front cov90   MAE")
    for r in results:
        c, f = r.get("checkpoints") or {}, r.get("frontier") or {}
        print(f"{r['fixture']:<14} {r['split']:<13} {r['variant']:<36} {r['n_fit']:>5}   "
              f"{c.get('coverage_90', float('nan')):>9.2f} {c.get('mae', float('nan')):>7.4f}"
              f"   {f.get('coverage_90', float('nan')):>9.2f} {f.get('mae', float('nan')):>7.4f}"
              f"{'  ' + r['skipped'] if 'skipped' in r else ''}")


if __name__ == "__main__":
    main()
