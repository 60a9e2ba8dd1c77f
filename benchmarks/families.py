"""Backtests of family offsets on public models' arithmetic (the numbers in docs/groups.md).

Usage: python benchmarks/families.py [--tasks 2da,3da,3ds,2dm] [--schemes cutoff,lgo,lgo-one-law]
       [--seed 1] [--out results.json]

Reads ``../shared/data/obsscaling_arithmetic_fitsplit/`` (44 public base models, 13 families,
up to 8.4e22 FLOPs; ObsScaling's two-shot lm-eval arithmetic, 2000 items per task), writes one
CSV per task to a temporary folder, and for each task runs

- a compute-cutoff backtest (fit the models at or below 1e22 FLOPs, forecast the rest) with one
  law for all families (``--law logistic --y value``, today's default fit), and with
  ``--group family --trials 2000`` for the logistic and the cloglog law;
- a leave-one-family-out backtest (``--group family --trials 2000``) of both laws, and of the
  one law for all families (``lgo-one-law``: each family forecast by the ungrouped default fit
  to the other families' models).

(``--group`` without ``--trials`` is left out: its Beta likelihood samples for minutes on the
near-zero accuracies of 3-digit tasks; see docs/groups.md.)

It prints, per task and scheme, the 90% coverage and the mean absolute error (accuracy points)
of the model, of the point fit with bootstrap intervals, and of the direct law; the pooled rows
are over the four tasks' held-out models together.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.inference.sampling import SamplerSettings
from forecast.laws import get_law
from forecast.questions.backtest import backtest, fit_and_score, held_out_scores
from forecast.questions.by_group import leave_group_out
from forecast.runs import read_runs

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "obsscaling_arithmetic_fitsplit"
ITEMS = 2000  # lm-eval's arithmetic tasks have 2000 test items each
SCHEMES = (  # (label, scheme, law, options)
    ("cutoff 1e22, logistic, one law", "cutoff", "logistic", {}),
    ("cutoff 1e22, logistic --group --trials", "cutoff", "logistic",
     {"group": "family", "trials": ITEMS}),
    ("cutoff 1e22, cloglog --group --trials", "cutoff", "cloglog",
     {"group": "family", "trials": ITEMS}),
    ("leave-family-out, logistic --trials", "lgo", "logistic", {"trials": ITEMS}),
    ("leave-family-out, cloglog --trials", "lgo", "cloglog", {"trials": ITEMS}),
    ("leave-family-out, logistic, one law", "lgo-one-law", "logistic", {}),
)


def run(path: Path, scheme: str, law: str, kwargs: dict, seed: int) -> dict:
    runs = read_runs(path, y="value", law=law)
    settings = SamplerSettings(seed=seed)
    if scheme == "cutoff":
        return backtest(runs, law, 1e22, settings=settings, seed=seed, **kwargs)
    if scheme == "lgo-one-law":
        return one_law_without_each_family(runs, law, settings, seed)
    return leave_group_out(runs, law, "family", settings=settings, seed=seed, **kwargs)


def one_law_without_each_family(runs, law: str, settings, seed: int) -> dict:
    """Each family's models forecast by one law (no groups) fitted to the other families'.

    ``leave_group_out`` fits with the groups; this is the ungrouped fit's side of the same split.
    """
    families, held = runs.labels("family"), []
    for family in sorted(set(families)):
        fit_runs, test = runs.subset(families != family), runs.subset(families == family)
        _, _, draws = fit_and_score(fit_runs, test, get_law(law), settings=settings, priors=None,
                                    n_boot=200, seed=seed, extrapolation="lfo", group=None,
                                    trials=None)
        held += held_out_scores(test, draws, None)["runs"]
    return {"runs": held}  # no "direct": the direct law is ungrouped, as in the lgo rows


def rows(result: dict, key: str) -> tuple[float, float]:
    """Coverage of the 90% interval and MAE, from the per-run rows (to pool across tasks)."""
    r = result["runs"]
    y = np.array([x["y"] for x in r])
    if key == "model":
        lo, hi = (np.array([x["model"][q] for x in r]) for q in ("q05", "q95"))
        point = np.array([x["model"]["median"] for x in r])
    else:
        lo, hi = (np.array([x["baseline"][q] for x in r]) for q in ("q05", "q95"))
        point = np.array([x["baseline"]["point"] for x in r])
    return ((y >= lo) & (y <= hi)), np.abs(point - y)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="2da,3da,3ds,2dm")
    ap.add_argument("--schemes", default="cutoff,lgo,lgo-one-law",
                    help="which kinds of backtest to run (default: all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None, help="also write every result as JSON here")
    a = ap.parse_args()
    table = pd.read_csv(DATA / "arithmetic_below_8.4e22flops.csv")
    results, pooled = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in a.tasks.split(","):
            path = Path(tmp) / f"{task}.csv"
            table[table.task == f"arithmetic_{task}"].to_csv(path, index=False)
            for label, scheme, law, kwargs in SCHEMES:
                if scheme not in a.schemes.split(","):
                    continue
                t0 = time.perf_counter()
                r = run(path, scheme, law, kwargs, a.seed)
                secs = time.perf_counter() - t0
                results[f"{task} | {label}"] = r
                cov_m, err_m = rows(r, "model")
                cov_b, err_b = rows(r, "baseline")
                d = r.get("direct", {})
                p = pooled.setdefault(label, {"model": [], "base": [], "direct": []})
                p["model"].append((cov_m, err_m))
                p["base"].append((cov_b, err_b))
                p["direct"].append((d.get("coverage", {}).get("90", np.nan), d.get("mae", np.nan),
                                    len(r["runs"])))
                print(f"{task:<4} {label:<40} n={len(r['runs']):>2}  model {cov_m.mean():.2f} / "
                      f"{err_m.mean():.3f}   point fit {cov_b.mean():.2f} / {err_b.mean():.3f}   "
                      f"direct {d.get('coverage', {}).get('90', np.nan):.2f} / "
                      f"{d.get('mae', np.nan):.3f}   ({secs:.0f} s)", flush=True)
    print("\npooled over tasks: 90% coverage / MAE")
    for label, p in pooled.items():
        cm = np.concatenate([c for c, _ in p["model"]])
        em = np.concatenate([e for _, e in p["model"]])
        cb = np.concatenate([c for c, _ in p["base"]])
        eb = np.concatenate([e for _, e in p["base"]])
        n = np.array([k for *_, k in p["direct"]])
        dc = np.sum([c * k for c, _, k in p["direct"]]) / n.sum()
        de = np.sum([e * k for _, e, k in p["direct"]]) / n.sum()
        print(f"  {label:<40} model {cm.mean():.2f} / {em.mean():.3f}   point fit "
              f"{cb.mean():.2f} / {eb.mean():.3f}   direct {dc:.2f} / {de:.3f}")
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
