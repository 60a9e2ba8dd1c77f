"""Time `forecast report` on a fit of 4,000 draws (target: under 10 s).

    .venv/bin/python benchmarks/bench_report.py [FIT_DIR]

Without FIT_DIR, first fits the Chinchilla runs (../shared/data/chinchilla_epoch, 4 chains x
1,000 draws, `--budget 1e24`) into a temporary folder (minutes). Prints the wall and CPU time of
each stage in this process (imports excluded: they are paid once), then of the whole command
`forecast report FIT_DIR` in a fresh process (imports included; wall and CPU time, best of 3).
The load average is printed too: on a shared machine wall time grows with it, CPU time hardly
does, and on an idle one the wall time of this single-threaded command is about its CPU time.
"""

from __future__ import annotations

import io
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHINCHILLA = ROOT.parent / "shared" / "data" / "chinchilla_epoch" / "chinchilla_runs.csv"
FORECAST = str(Path(sys.executable).with_name("forecast"))


class Clock:
    """Wall and CPU seconds of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def fit_dir() -> Path:
    if len(sys.argv) > 1:
        return Path(sys.argv[1])
    out = Path(tempfile.mkdtemp(prefix="bench_report_")) / "chinchilla"
    print(f"fitting {CHINCHILLA} (4 x 1000 draws) into {out} ...", flush=True)
    subprocess.run([FORECAST, "fit", str(CHINCHILLA), "--law", "chinchilla", "--budget", "1e24",
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
    return out


def main() -> None:
    folder = fit_dir()
    import matplotlib

    matplotlib.use("Agg")
    import arviz  # noqa: F401  (imports are paid once; timed in the command below)

    from forecast.inference.fitting import load_fit
    from forecast.report import figures as F
    from forecast.report.page import fit_runs, make_report

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    rows = []
    with Clock() as c:
        fit = load_fit(folder)
    rows.append(("load_fit", c))
    n = fit.draws(fit.law.params[0]).size
    runs, _ = fit_runs(fit)
    budget = (fit.summary.get("allocation") or {}).get("budget")
    for name, draw in (("fit figure", lambda: F.fit_figure(runs, fit, budget=budget)),
                       ("marginals", lambda: F.marginals_figure(fit)),
                       ("pairs", lambda: F.pair_figure(fit)),
                       ("ranks", lambda: F.rank_figure(fit))):
        with Clock() as c:
            draw().savefig(io.BytesIO(), format="png", dpi=100)
        rows.append((f"{name} + png", c))
    with Clock() as c:
        make_report(folder, fit=fit)
    rows.append(("make_report (fit in memory)", c))
    print(f"fit: {folder} ({fit.law.name}, {n} draws, {len(runs)} runs)")
    print(f"{'stage':<30}{'wall s':>8}{'cpu s':>8}")
    for name, c in rows:
        print(f"{name:<30}{c.wall:>8.2f}{c.cpu:>8.2f}")
    walls, cpus = [], []
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([FORECAST, "report", str(folder)], check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    print(f"`forecast report` end to end (fresh process, imports included): wall best "
          f"{min(walls):.2f} s ({', '.join(f'{w:.2f}' for w in walls)}), CPU best "
          f"{min(cpus):.2f} s ({', '.join(f'{c:.2f}' for c in cpus)}); target < 10 s")
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
