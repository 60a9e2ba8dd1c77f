"""Baseline for bench_fit.py: the same model as `forecast fit`, sampled with `pm.sample()` defaults.

Usage: python benchmarks/plain_pymc_fit.py RUNS.csv LAW SEED [Y_COLUMN] [frontier]

Prints one JSON line: sampling seconds, min bulk ESS and max R-hat over the law's sampled
parameters. The model is built by forecast.inference.model.build_model so both sides fit the same
thing.
"""

import json
import sys
import time

import arviz as az
import pymc as pm

from forecast.inference.model import build_model, data_priors, model_data
from forecast.inference.priors import resolve_priors
from forecast.laws import get_law
from forecast.runs import read_runs

path, law_name, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
y = sys.argv[4] if len(sys.argv) > 4 else "loss"
law = get_law(law_name)
runs = read_runs(path, law=law_name, y=y)
if "frontier" in sys.argv[5:]:
    runs = runs.frontier()
data = model_data(runs, law)
priors = resolve_priors(law, None, derived=data_priors(data, law))
model = build_model(data, law, priors, geometry="natural")  # the model as docs/math.md writes it
t0 = time.perf_counter()
with model:
    idata = pm.sample(random_seed=seed, progressbar=False)
t_sample = time.perf_counter() - t0
names = [n for n in priors if priors[n]["dist"] != "Fixed"]
s = az.summary(idata, var_names=names, kind="diagnostics")
print(json.dumps({"sampling_s": t_sample, "min_ess_bulk": float(s["ess_bulk"].min()),
                  "max_r_hat": float(s["r_hat"].max()),
                  "chains": int(idata.posterior.sizes["chain"]),
                  "draws": int(idata.posterior.sizes["draw"]),
                  "divergences": int(idata.sample_stats["diverging"].sum())}))
