"""Long reference runs of the laws' posteriors, which `tests/test_reference_posteriors.py` checks
the whole pipeline of `forecast.fit` against.

Usage: python benchmarks/reference_posteriors.py [--cases power8,chinchilla16] [--draws 10000]
       [--tune 3000] [--out tests/reference/posteriors.json]

Each case is a short ladder cut from a shipped synthetic fixture (rows listed in the output, so the
test rebuilds the same runs). The reference is PyMC's own NUTS (`pm.sample`, an implementation
independent of nutpie) on the model in the law's own parameters (`geometry="natural"`, the
model docs/math.md and docs/priors.md write down), 4 chains, long, `target_accept` 0.95. For each
raw-unit parameter (E, A, alpha ... in the user's units, via `forecast.laws.to_raw`) and sigma it
stores the mean and the 5/25/50/75/95% quantiles with their Monte Carlo standard errors, and the
run's R-hat and ESS so that a poor reference shows.
"""

import argparse
import json
import time
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from forecast.inference.model import build_model, data_priors, model_data
from forecast.inference.priors import resolve_priors
from forecast.laws import get_law, to_raw
from forecast.runs import runs_from_frame

ROOT = Path(__file__).resolve().parents[1]
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def chinchilla_rows(frame: pd.DataFrame) -> list[int]:
    """4 middle sizes x 4 middle token counts: 16 runs with short spans (a weak floor)."""
    sizes = sorted(frame.params.unique())[2:6]
    tokens = sorted(frame.tokens.unique())[1:5]
    return [int(i) for i in frame.index[frame.params.isin(sizes) & frame.tokens.isin(tokens)]]


CASES = {
    # 8 runs, every fifth of the 40 synthetic power-law runs
    "power8": ("fixtures/synthetic_power.csv", "power", lambda f: list(range(0, 40, 5))),
    "chinchilla16": ("fixtures/synthetic_chinchilla.csv", "chinchilla", chinchilla_rows),
}


def case_runs(csv: str, law: str, rows: list[int]):
    frame = pd.read_csv(ROOT / csv).iloc[rows].reset_index(drop=True)
    return runs_from_frame(frame, y="loss", law=law)


def summarise(draws: dict[str, np.ndarray]) -> dict:
    """Mean and quantiles of each parameter (chains x draws arrays) with their MCSEs."""
    out = {}
    for name, x in draws.items():
        ds = az.convert_to_dataset({name: x})
        stats = {"mean": [float(x.mean()), float(az.mcse(ds, method="mean")[name])]}
        for q in QUANTILES:
            stats[f"q{round(q * 100):02d}"] = [
                float(np.quantile(x, q)), float(az.mcse(ds, method="quantile", prob=q)[name])]
        out[name] = stats
    return out


def raw_draws(posterior, law, refs) -> dict[str, np.ndarray]:
    theta = {n.removesuffix("_scaled"): np.asarray(posterior[n]) for n in posterior.data_vars}
    raw = to_raw(law, theta, refs)
    return {**{k: np.asarray(raw[k]) for k in law.params}, "sigma": np.asarray(theta["sigma"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=10000)
    ap.add_argument("--tune", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=20261203)
    ap.add_argument("--out", default=str(ROOT / "tests/reference/posteriors.json"))
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated; others kept")
    args = ap.parse_args()
    out = Path(args.out)
    result = {"pymc": pm.__version__, "cases": {}}
    if out.exists():
        result["cases"] = json.loads(out.read_text())["cases"]
    for name in args.cases.split(","):
        csv, law_name, pick = CASES[name]
        rows = pick(pd.read_csv(ROOT / csv))
        runs = case_runs(csv, law_name, rows)
        law = get_law(law_name)
        data = model_data(runs, law)
        priors = resolve_priors(law, derived=data_priors(data, law))
        t0 = time.perf_counter()
        with build_model(data, law, priors, geometry="natural"):
            idata = pm.sample(draws=args.draws, tune=args.tune, chains=4, cores=2,
                              target_accept=0.95, random_seed=args.seed, progressbar=False,
                              compute_convergence_checks=False)
        diag = az.summary(idata, var_names=list(priors), kind="diagnostics")
        result["cases"][name] = {
            "csv": csv, "law": law_name, "rows": rows, "draws": args.draws, "tune": args.tune,
            "chains": 4, "target_accept": 0.95, "seed": args.seed,
            "seconds": round(time.perf_counter() - t0, 1),
            "divergences": int(idata.sample_stats["diverging"].sum()),
            "max_r_hat": float(diag["r_hat"].max()), "min_ess_bulk": float(diag["ess_bulk"].min()),
            "stats": summarise(raw_draws(idata.posterior, law, data.refs)),
        }
        c = result["cases"][name]
        print(name, c["seconds"], "s, R-hat", c["max_r_hat"], "ESS", c["min_ess_bulk"],
              "div", c["divergences"], flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")  # after each case
        print("wrote", out, flush=True)


if __name__ == "__main__":
    main()
