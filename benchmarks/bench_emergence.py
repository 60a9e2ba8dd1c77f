"""Speed of `forecast emergence`: K = 8 on a fit of 4,000 draws, after loading (target < 0.2 s).

Usage: python benchmarks/bench_emergence.py [FIT_DIR]

Without FIT_DIR it simulates 40 runs of a per-step loss (L = 0.04 + A C^-0.3, 2% noise, seeded),
fits the `power` law with 4 chains x 1000 draws and saves the fit in a temporary folder. Then it
times, each the median of 15 repeats: loading the fit; `emergence` for k = 1..8 with the closed
form (power law, exp link); the same with the vectorised root-finding forced; heterogeneous steps
(8 positions, root-finding); and the whole command in a fresh process (imports included).
"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from forecast.inference.fitting import SamplerSettings, fit, load_fit
from forecast.laws.compose import Composition
from forecast.questions.emergence import emergence, step_success
from forecast.runs import runs_from_frame


def timed(f, repeats=15):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def make_fit(folder: Path) -> Path:
    rng = np.random.default_rng(sum(map(ord, "bench_emergence")))
    flops = np.sort(10 ** rng.uniform(16, 20, 40))
    loss = (0.04 + 0.46 * (flops / 1e18) ** -0.3) * np.exp(rng.normal(0, 0.02, 40))
    runs = runs_from_frame(pd.DataFrame({"flops": flops, "step_loss": loss}), y="step_loss")
    t0 = time.perf_counter()
    result = fit(runs, "power", settings=SamplerSettings(draws=1000, tune=1000, chains=4, seed=0))
    print(f"fit (4 x 1000 draws, sampling + compile): {time.perf_counter() - t0:.1f} s")
    return result.save(folder / "fit")


def main() -> None:
    tmp = tempfile.mkdtemp(prefix="bench_emergence_")
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else make_fit(Path(tmp))
    t_load, f = timed(lambda: load_fit(folder), repeats=5)
    steps = step_success(f)
    print(f"draws: {steps.n_draws}")
    print(f"load_fit:                               {t_load * 1e3:8.1f} ms")
    cases = {
        "emergence K=8, closed form":           lambda: emergence(steps, range(1, 9)),
        "emergence K=8, root-finding forced":   lambda: emergence(steps, range(1, 9),
                                                                  method="root"),
        "emergence K=8, phi=5 (bisection p*)":  lambda: emergence(
            steps, range(1, 9), composition=Composition(phi=5.0)),
        "emergence K=8, 8 heterogeneous steps": lambda: emergence([steps] * 8, range(1, 9)),
    }
    results = {}
    for name, f_case in cases.items():
        t, out = timed(f_case, repeats=15 if "heterogeneous" not in name else 3)
        results[name] = out
        print(f"{name:<40}{t * 1e3:8.1f} ms")
    closed = results["emergence K=8, closed form"]["steps"]
    root = results["emergence K=8, root-finding forced"]["steps"]
    worst = max(abs(10 ** (b["log10_flops"]["median"] - a["log10_flops"]["median"]) - 1)
                for a, b in zip(closed, root, strict=True))
    print(f"closed form vs root-finding, worst relative gap in median C*: {worst:.2e}")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "forecast", "emergence", "--fit", str(folder),
                    "--steps", "8", "--json"], check=True, capture_output=True)
    print(f"`forecast emergence --steps 8` end to end (fresh process): "
          f"{time.perf_counter() - t0:.2f} s")
    print("k  median log10 C*  [5%, 95%]  p_never")
    for row in closed:
        q = row["log10_flops"]
        print(f"{row['k']}  {q['median']:.2f}  [{q['q05']:.2f}, {q['q95']:.2f}]  {row['p_never']}")


if __name__ == "__main__":
    main()
