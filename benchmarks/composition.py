"""Composition learnt from several lengths (``--k``) on public models' addition (docs/groups.md).

Usage: python benchmarks/composition.py [--schemes cutoff,lgo] [--variants LABEL,..] [--seed 1]
       [--out results.json]

Reads ``../shared/data/obsscaling_arithmetic_fitsplit/`` and keeps the two addition tasks
(2-digit and 3-digit, 44 public base models each, 13 families; 2000 items per task), the one
task of the split seen at two lengths. Every fit is ``--law cloglog --group family --trials
2000`` (the best of docs/groups.md), and

- **3da alone**: the 3-digit rows only (how docs/groups.md forecasts 3-digit addition);
- **--k fitted**: both lengths, ``acc_k = acc_2^((k/2)^gamma_k)`` with ``gamma_k`` learnt;
- **--k iid**: both lengths, ``gamma_k = 1`` (``P_3 = P_2^(3/2)``, i.i.d. steps);
- **--k --run model**: ``gamma_k`` learnt, and each model's compute shifted by a level of its
  own (partially pooled), shared by its two lengths;

scored on the 3-digit (and 2-digit) models held out by a compute cutoff (fit up to 1e22 FLOPs,
forecast the 21 models above) and, with ``lgo``, by leaving each family out. It also ranks the
two compositions by PSIS-LOO on all 88 rows (:mod:`forecast.questions.composition`).
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd

from forecast.inference.sampling import SamplerSettings
from forecast.questions.backtest import backtest
from forecast.questions.by_group import leave_group_out
from forecast.questions.composition import COMPOSITIONS, compare_compositions
from forecast.runs import read_runs

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "obsscaling_arithmetic_fitsplit"
ITEMS = 2000
OPTIONS = {"group": "family", "trials": ITEMS}


def tables(folder: Path) -> tuple[Path, Path]:
    """Write the addition rows (both lengths) and the 3-digit rows alone as CSVs."""
    data = pd.read_csv(DATA / "arithmetic_below_8.4e22flops.csv")
    both = data[data.operation == "addition"]
    paths = folder / "addition.csv", folder / "3da.csv"
    both.to_csv(paths[0], index=False)
    both[both.k == 3].to_csv(paths[1], index=False)
    return paths


def scores(result: dict, length: float | None) -> dict:
    """90% coverage and MAE of the held-out rows of one length (all rows for None)."""
    rows = [r for r in result["runs"] if length is None or r.get("k", 3.0) == length]
    inside = [r["model"]["q05"] <= r["y"] <= r["model"]["q95"] for r in rows]
    err = [abs(r["model"]["median"] - r["y"]) for r in rows]
    return {"n": len(rows), "coverage_90": sum(inside) / len(rows), "mae": sum(err) / len(rows)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--schemes", default="cutoff,lgo")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variants", default=None,
                    help="comma-separated variant labels to run (default: all)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    settings = SamplerSettings(seed=args.seed)
    out = {"variants": []}
    with tempfile.TemporaryDirectory() as tmp:
        both, alone = tables(Path(tmp))
        runs_both = read_runs(both, y="value", law="cloglog")
        runs_alone = read_runs(alone, y="value", law="cloglog")
        t0 = time.perf_counter()
        loo = compare_compositions(runs_both, "cloglog", "k", settings=settings, seed=args.seed,
                                   **OPTIONS)
        out["loo"] = {**loo, "seconds": round(time.perf_counter() - t0, 1)}
        print(json.dumps({"loo": {k: loo[k] for k in ("best_loo", "elpd_diff", "dse")}},
                         indent=None), flush=True)
        variants = [("3da alone", runs_alone, {}),
                    ("--k fitted", runs_both, {"k": "k", "priors": COMPOSITIONS["fitted"]}),
                    ("--k iid", runs_both, {"k": "k", "priors": COMPOSITIONS["iid"]}),
                    ("--k --run model", runs_both,
                     {"k": "k", "priors": COMPOSITIONS["fitted"], "run": "model"})]
        if args.variants:
            variants = [v for v in variants if v[0] in args.variants.split(",")]
        for scheme in args.schemes.split(","):
            for label, runs, extra in variants:
                t0 = time.perf_counter()
                if scheme == "cutoff":
                    result = backtest(runs, "cloglog", 1e22, settings=settings, seed=args.seed,
                                      **OPTIONS, **extra)
                else:
                    result = leave_group_out(runs, "cloglog", "family", settings=settings,
                                             seed=args.seed, trials=ITEMS, **extra)
                row = {"scheme": scheme, "variant": label,
                       "seconds": round(time.perf_counter() - t0, 1),
                       "k3": scores(result, 3.0),
                       "k2": scores(result, 2.0) if "k" in extra else None,
                       "gamma_k": (result.get("composition") or {}).get("gamma_k")}
                out["variants"].append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2))
    print("\nscheme   variant          3-digit: n  cov90   MAE     2-digit: n  cov90   MAE")
    for r in out["variants"]:
        k2 = r["k2"] or {"n": 0, "coverage_90": float("nan"), "mae": float("nan")}
        k3 = r["k3"]
        print(f"{r['scheme']:<8} {r['variant']:<16} {k3['n']:>10} {k3['coverage_90']:>6.2f}"
              f" {k3['mae']:>6.3f} {k2['n']:>12} {k2['coverage_90']:>6.2f} {k2['mae']:>6.3f}")
    print(f"LOO (all 88 rows): fitted - iid = {out['loo']['elpd_diff']:+.2f} "
          f"(se {out['loo']['dse']:.2f}); best {out['loo']['best_loo']}")


if __name__ == "__main__":
    main()
