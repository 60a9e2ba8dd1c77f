"""Simulation-based calibration (Talts et al. 2018) of the `power` law with its default priors.

Usage:
    python benchmarks/sbc.py run [--reps 100] [--draws 300] [--tune 300] [--chains 2] [--seed 0]
    python benchmarks/sbc.py report [--out docs/figures/sbc_ranks.png]

`run` draws (parameters, runs) jointly from the model's prior predictive (the law's own
parameters), refits each simulated data set with the same model and sampler the tool uses
(forecast.inference.model.build_model, which samples the law at the data's reference point, and
forecast.inference.sampling.sample; a wrong Jacobian of that reparametrisation shows as non-uniform
ranks) and appends the rank of each true parameter among L = 99 thinned
posterior draws to benchmarks/sbc_ranks.jsonl (one line per replicate, so a run can be stopped
and resumed). `report` tests each parameter's ranks for uniformity (chi-square over 10 bins, 1%
level), prints the table and writes the rank histograms.

The design is fixed (30 runs, log-uniform compute over 1e17..1e21 FLOPs) and so are the reference
scales (y0 = 1, C0 = the compute's geometric mean): with data-dependent scales (as `forecast fit`
uses) the prior would depend on the data and SBC would not hold exactly.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
RANKS = HERE / "sbc_ranks.jsonl"  # --ranks FILE to change
PARAMS = ("E_scaled", "A_scaled", "alpha", "sigma", "nu")
L = 99  # posterior draws per rank: ranks take L + 1 = 100 values, 10 per bin
BINS = 10
N_RUNS = 30


def build(seed: int):
    from forecast.inference.model import build_model, data_priors, model_data
    from forecast.inference.priors import resolve_priors
    from forecast.laws import get_law
    from forecast.runs import runs_from_frame

    rng = np.random.default_rng(seed)
    flops = np.sort(10 ** rng.uniform(17, 21, N_RUNS))
    runs = runs_from_frame(pd.DataFrame({"flops": flops, "loss": np.ones(N_RUNS)}))
    law = get_law("power")
    data = model_data(runs, law, refs={"y": 1.0, "C": float(np.exp(np.log(flops).mean()))})
    priors = resolve_priors(law, None, derived=data_priors(data, law))
    return data, law, priors, build_model(data, law, priors, geometry="natural")


def ranks_of(idata, truth: dict) -> dict:
    post = idata.posterior
    out = {}
    for name in PARAMS:
        x = np.asarray(post[name]).reshape(-1)
        pick = np.linspace(0, x.size - 1, L).round().astype(int)  # thin: fewer correlated draws
        out[name] = int(np.sum(x[pick] < truth[name]))
    return out


def run(args) -> None:
    import pymc as pm

    from forecast.inference.model import ModelData, build_model
    from forecast.inference.sampling import SamplerSettings, sample

    data, law, priors, model = build(args.seed)
    prior = pm.sample_prior_predictive(draws=args.reps, model=model, random_seed=args.seed)
    ranks_path = Path(args.ranks)
    done = sum(1 for _ in ranks_path.open()) if ranks_path.exists() else 0
    for r in range(done, args.reps):
        truth = {n: float(prior.prior[n].values[0, r]) for n in PARAMS}
        y_sim = prior.prior_predictive["obs"].values[0, r]
        # a fresh model per replicate (y0 = 1, so y = exp(obs)); the compiled code is cached
        sim = build_model(ModelData(data.X, np.exp(y_sim), data.refs), law, priors)
        t0 = time.perf_counter()
        settings = SamplerSettings(draws=args.draws, tune=args.tune, chains=args.chains,
                                   seed=args.seed + 1 + r)
        idata = sample(sim, settings, prior_model=model)
        line = {"rep": r, "truth": truth, "ranks": ranks_of(idata, truth),
                "divergences": int(idata.sample_stats["diverging"].sum()),
                "seconds": time.perf_counter() - t0, "settings": settings.as_dict()}
        with ranks_path.open("a") as fh:
            fh.write(json.dumps(line) + "\n")
        print(r, line["ranks"], f"{line['seconds']:.1f}s", flush=True)


def uniformity(ranks: np.ndarray) -> tuple[np.ndarray, float]:
    from scipy.stats import chisquare

    counts = np.bincount(ranks * BINS // (L + 1), minlength=BINS)
    return counts, float(chisquare(counts).pvalue)


def rank_figure(table: dict[str, np.ndarray]):
    """Rank histograms, one panel per parameter, with the 99% band of a uniform histogram."""
    import matplotlib.pyplot as plt
    from scipy.stats import binom

    n = len(next(iter(table.values())))
    fig, axes = plt.subplots(1, len(table), figsize=(3 * len(table), 2.6), sharey=True)
    lo, hi = binom.ppf([0.005, 0.995], n, 1 / BINS)
    for ax, (name, ranks) in zip(axes, table.items(), strict=True):
        counts, p = uniformity(ranks)
        ax.axhspan(lo, hi, color="0.85")
        ax.bar(np.arange(BINS), counts, width=0.9, color="C0")
        ax.set_title(f"{name}  (p = {p:.2f})", fontsize=9)
        ax.set_xlabel("rank bin")
    axes[0].set_ylabel(f"replicates (of {n})")
    fig.tight_layout()
    return fig


def report(args) -> None:
    lines = [json.loads(s) for s in Path(args.ranks).read_text().splitlines() if s.strip()]
    table = {n: np.array([ln["ranks"][n] for ln in lines]) for n in PARAMS}
    div = sum(ln["divergences"] > 0 for ln in lines)
    secs = np.median([ln["seconds"] for ln in lines])
    print(f"{len(lines)} replicates, settings {lines[0]['settings']}, median {secs:.1f} s per "
          f"fit, {div} with divergences")
    print(f"{'parameter':<10}{'chi2 p':>8}  uniform at 1%   counts per bin")
    for name, ranks in table.items():
        counts, p = uniformity(ranks)
        print(f"{name:<10}{p:>8.3f}  {'yes' if p > 0.01 else 'NO':<13}  {counts.tolist()}")
    rank_figure(table).savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--reps", type=int, default=100)
    r.add_argument("--draws", type=int, default=300)
    r.add_argument("--tune", type=int, default=300)
    r.add_argument("--chains", type=int, default=2)
    r.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("report")
    p.add_argument("--out", default=str(HERE.parent / "docs" / "figures" / "sbc_ranks.png"))
    for sp in (r, p):
        sp.add_argument("--ranks", default=str(RANKS), help="JSON-lines file of ranks")
    args = ap.parse_args()
    run(args) if args.cmd == "run" else report(args)
