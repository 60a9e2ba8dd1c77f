"""Family offsets shared by the four arithmetic tasks (``--task``) against one fit per task.

Usage: python benchmarks/shared_offsets.py [--schemes cutoff,lgo] [--variants LABEL,..] [--seed 1]
       [--cutoff 1e22] [--out results.json]

Reads ``../shared/data/obsscaling_arithmetic_fitsplit/`` (44 public base models, 13 families,
four two-shot arithmetic tasks of 2000 items) and backtests ``cloglog --group family --trials
2000`` two ways, in the same run:

- **one fit per task** (docs/groups.md's model): each task's own offsets;
- **the four tasks together** (``--task task``): each task its own slope, midpoint and
  scatter, one set of family offsets for all four;
- **together, each model its own place** (``--task task --run model``, the variant labelled
  ``together --run model``): as above, and each
  model's compute shifted by a level of its own (partially pooled), shared by its four tasks;
- **fitted floor** (``... + fitted floor``): one fit per task, or together with ``--run model``,
  each task's floor fitted (prior Beta(1, 19)) in place of chance 0: where the models before
  the rise sit (docs/groups.md).

Schemes: a compute cutoff (fit the models at or below ``--cutoff`` FLOPs, 1e22 by default:
forecast the 21 above) and leave-one-family-out. Prints, per task and pooled, the 90% interval's
coverage and the mean absolute error in accuracy points of every held-out model, and the pooled
coverage's 5-95% range over resamples of the held-out models (a model's tasks hit or miss
together); and the direct law's, fitted to each task apart (the baseline of ``backtest``), from
the first of the variants that fit the four tasks together.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.inference.sampling import SamplerSettings
from forecast.questions.backtest import backtest
from forecast.questions.by_group import leave_group_out
from forecast.runs import read_runs

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "obsscaling_arithmetic_fitsplit"
OPTIONS = {"group": "family", "trials": 2000}
TASKS = ("2da", "3da", "3ds", "2dm")
# a floor fitted per task (where the models before the rise sit), in place of chance 0
FITTED_FLOOR = {"floor": {"dist": "Beta", "alpha": 1.0, "beta": 19.0}}
ALONE = {"one fit per task": {}, "one fit per task + fitted floor": {"priors": FITTED_FLOOR}}
JOINT = {"four tasks together": {"task": "task"},
         "together --run model": {"task": "task", "run": "model"},
         "together --run model + fitted floor": {"task": "task", "run": "model",
                                                "priors": FITTED_FLOOR}}


def scored(result: dict, task: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whether each held-out model lies in its 90% interval, its absolute error, its name."""
    rows = [r for r in result["runs"] if task is None or r.get("task", task) == task]
    inside = np.array([r["model"]["q05"] <= r["y"] <= r["model"]["q95"] for r in rows])
    return (inside, np.array([abs(r["model"]["median"] - r["y"]) for r in rows]),
            np.array([r["run_id"].split("|")[0] for r in rows]))


def by_model_interval(inside: np.ndarray, models: np.ndarray, seed: int,
                      resamples: int = 4000) -> list[float]:
    """5% and 95% of the pooled coverage over resamples of the held-out models.

    A model's four tasks hit or miss together (the same place in compute), so the models, not
    the rows, are the independent units: 84 forecasts of 21 models are worth about 21.
    """
    names, index = np.unique(models, return_inverse=True)
    hits = np.bincount(index, weights=inside.astype(float), minlength=names.size)
    rows = np.bincount(index, minlength=names.size)
    pick = np.random.default_rng(seed).integers(0, names.size, (resamples, names.size))
    rates = hits[pick].sum(axis=1) / rows[pick].sum(axis=1)
    return [round(float(q), 3) for q in np.quantile(rates, [0.05, 0.95])]


def run(path: Path, scheme: str, seed: int, cutoff: float, **extra) -> dict:
    runs = read_runs(path, y="value", law="cloglog")
    settings = SamplerSettings(seed=seed)
    if scheme == "cutoff":
        return backtest(runs, "cloglog", cutoff, settings=settings, seed=seed, **OPTIONS,
                        **extra)
    return leave_group_out(runs, "cloglog", "family", settings=settings, seed=seed,
                           trials=OPTIONS["trials"], **extra)


def fitted_floors(result: dict) -> str:
    """Each task's fitted floor (median [5%, 95%]), or '' for a fixed one."""
    tasks = result.get("tasks") or {"": {"params": result.get("params", {})}}
    out = []
    for task, part in tasks.items():
        f = part["params"].get("floor", {})
        if f.get("q95", 0) > f.get("q05", 0):
            out.append(f"{task} {f['median']:.4f} [{f['q05']:.4f}, {f['q95']:.4f}]")
    return "  ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--schemes", default="cutoff,lgo")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cutoff", type=float, default=1e22,
                    help="the cutoff scheme's compute in FLOPs (default 1e22)")
    ap.add_argument("--variants", default=None,
                    help=f"comma-separated variant labels to run: {ALONE!r}, "
                         + ", ".join(repr(v) for v in JOINT) + " (default: all)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    chosen = args.variants.split(",") if args.variants else [*ALONE, *JOINT]
    unknown = set(chosen) - set(ALONE) - set(JOINT)
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}; use {[*ALONE, *JOINT]}")
    data = pd.read_csv(DATA / "arithmetic_below_8.4e22flops.csv")
    data["task"] = data["task"].str.replace("arithmetic_", "")
    table, direct = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        together = Path(tmp) / "four.csv"
        data.insert(0, "run_id", data["model"] + "|" + data["task"])  # a held-out row's model
        data.to_csv(together, index=False)
        for task in TASKS:  # one CSV per task, for the fits of one task
            data[data.task == task].to_csv(Path(tmp) / f"{task}.csv", index=False)
        for scheme in args.schemes.split(","):
            cells, offsets, seconds = {}, {}, {}
            for variant, extra in ((v, e) for v, e in ALONE.items() if v in chosen):
                t0 = time.perf_counter()
                for task in TASKS:
                    alone = run(Path(tmp) / f"{task}.csv", scheme, args.seed, args.cutoff,
                                **extra)
                    cells[(variant, task)] = scored(alone, None)
                    if floors := fitted_floors(alone):
                        print(f"{variant} ({scheme}), {task}: floor {floors}", flush=True)
                    if "groups" in alone and not extra:  # offsets, to compare across tasks
                        offsets[task] = {g: v["median"]
                                         for g, v in alone["groups"]["groups"].items()}
                seconds[variant] = time.perf_counter() - t0
            if offsets:
                corr = pd.DataFrame(offsets).corr().round(2)
                print(f"offsets of one fit per task ({scheme}), correlation between tasks:\n"
                      f"{corr}", flush=True)
            for variant, extra in ((v, e) for v, e in JOINT.items() if v in chosen):
                t1 = time.perf_counter()
                joint = run(together, scheme, args.seed, args.cutoff, **extra)
                seconds[variant] = time.perf_counter() - t1
                if scheme not in direct:  # each task's direct law, the same in every variant
                    parts = joint["by_task"]["tasks"]
                    direct[scheme] = [parts[t]["direct"] for t in TASKS] + [joint["direct"]]
                for task in TASKS:
                    cells[(variant, task)] = scored(joint, task)
                if "sigma_run" in joint.get("params", {}):  # a cutoff fit's, in e-folds
                    print(f"{variant}: sigma_run {joint['params']['sigma_run']}", flush=True)
                if floors := fitted_floors(joint):
                    print(f"{variant} ({scheme}): floor {floors}", flush=True)
            for variant, took in seconds.items():
                per = {t: cells[(variant, t)] for t in TASKS}
                inside = np.concatenate([c for c, _, _ in per.values()])
                err = np.concatenate([e for _, e, _ in per.values()])
                models = np.concatenate([m for _, _, m in per.values()])
                row = {"scheme": scheme, "variant": variant, "seconds": round(took, 1),
                       "tasks": {t: {"n": int(c.size), "coverage_90": float(c.mean()),
                                     "mae": float(e.mean())} for t, (c, e, _) in per.items()},
                       "pooled": {"n": int(inside.size), "models": int(np.unique(models).size),
                                  "coverage_90": float(inside.mean()),
                                  "coverage_90_by_model_5_95": by_model_interval(
                                      inside, models, args.seed),
                                  "mae": float(err.mean())},
                       "misses": sorted({str(m) for m in models[~inside]})}
                table.append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"cutoff": args.cutoff, "variants": table,
                                              "direct": direct}, indent=2))
    if "cutoff" in args.schemes.split(","):
        print(f"\ncutoff: fitted at or below {args.cutoff:g} FLOPs, forecast above")
    print(f"\n{'scheme':<8}{'variant':<36}" + "".join(f"{t:>14}" for t in TASKS)
          + f"{'pooled':>14}{'seconds':>9}")
    for r in table:
        cells = [r["tasks"][t] for t in TASKS] + [r["pooled"]]
        print(f"{r['scheme']:<8}{r['variant']:<36}"
              + "".join(f"{c['coverage_90']:>8.2f}/{c['mae']:.3f}" for c in cells)
              + f"{r['seconds']:>9.0f}")
    for scheme, cells in direct.items():
        print(f"{scheme:<8}{'direct law, each task apart':<36}"
              + "".join(f"{c['coverage']['90']:>8.2f}/{c['mae']:.3f}" for c in cells))
    print("\npooled 90% coverage, 5-95% over resampled models (a model's tasks move together):")
    for r in table:
        lo, hi = r["pooled"]["coverage_90_by_model_5_95"]
        print(f"{r['scheme']:<8}{r['variant']:<36}{r['pooled']['coverage_90']:>6.2f}  [{lo:.2f}, "
              f"{hi:.2f}]  {r['pooled']['models']} models; missed: {', '.join(r['misses'])}")


if __name__ == "__main__":
    main()
