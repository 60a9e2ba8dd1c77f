"""Benchmark `forecast fit` against a plain PyMC script, cold and warm, side by side.

Usage:
    python benchmarks/bench_fit.py [--repeats 3] [--cases chinchilla,power] [--json out.json]

For each case (the Chinchilla runs with law chinchilla, fixtures/synthetic_power.csv with law
power) and each tool (`benchmarks/plain_pymc_fit.py`: the same model with `pm.sample()`
defaults; `forecast fit` with its defaults) this runs subprocesses, interleaving the tools so
that both see the same load:

* cold: a fresh, empty ``HOME`` and ``XDG_CACHE_HOME`` (so PyTensor's compile directory and
  every other cache start empty), once per repeat;
* warm: the same folders again, filled by the cold run.

``--ladders`` runs the small-ladder suite instead (``benchmarks/ladders.py``: Chinchilla cut to
16 runs and to 5, and the harness fixtures), warm, each case's default `forecast fit` beside
plain `pm.sample()` of the same model (the Quickstart's joint ``--acc`` fit: forecast only),
with each fit's max R-hat, min bulk ESS, divergences, time and sampling passes.

It prints whole-process wall time, CPU time of the process tree (user + sys, which the load of
other processes on the machine changes much less than wall time), sampling time, min bulk ESS,
ESS per second of wall time, max R-hat and the ratios forecast / plain; medians over repeats.
Also `forecast --help` and a bad-input error. Run by hand; results go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {
    "chinchilla": (ROOT.parent / "shared/data/chinchilla_epoch/chinchilla_runs.csv", "chinchilla"),
    "power": (ROOT / "fixtures/synthetic_power.csv", "power"),
}
PY = sys.executable
FORECAST = [PY, "-m", "forecast"]


def _run(cmd: list[str], env: dict) -> tuple[float, float, subprocess.CompletedProcess]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc


def _diagnostics_of(nc: Path) -> tuple[float, float]:
    """Min bulk ESS and max R-hat over every scalar variable of a saved posterior."""
    import warnings

    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = az.from_netcdf(nc).posterior
        names = [n for n, v in post.data_vars.items() if v.dims == ("chain", "draw")]
        s = az.summary(post, var_names=names, kind="diagnostics")
    return float(s["ess_bulk"].min()), float(s["r_hat"].max())


def run_plain(csv: Path, law: str, env: dict, seed: int, extra: tuple = ()) -> dict:
    wall, cpu, proc = _run([PY, str(ROOT / "benchmarks/plain_pymc_fit.py"), str(csv), law,
                            str(seed), *extra], env)
    if proc.returncode:
        raise RuntimeError(f"plain script failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall": wall, "cpu": cpu, "sampling": out["sampling_s"],
            "min_ess": out["min_ess_bulk"], "max_rhat": out["max_r_hat"],
            "divergences": out["divergences"], "draws": out["chains"] * out["draws"]}


def run_forecast(csv: Path, law: str, env: dict, seed: int, args: list | None = None) -> dict:
    import warnings

    import arviz as az

    args = ["--law", law] if args is None else args
    with tempfile.TemporaryDirectory() as out:
        wall, cpu, proc = _run([*FORECAST, "fit", str(csv), *args, "--seed", str(seed),
                                "--out", out, "--json"], env)
        if proc.returncode:
            raise RuntimeError(f"forecast fit failed:\n{proc.stderr[-2000:]}")
        nc = Path(out) / "fit.nc"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            attrs = az.from_netcdf(nc).attrs
        ess, rhat = _diagnostics_of(nc)
        summary = json.loads(proc.stdout)
    passes = json.loads(attrs.get("sampling_passes", "[]"))
    return {"wall": wall, "cpu": cpu, "sampling": float(attrs["sampling_time"]),
            "min_ess": ess, "max_rhat": rhat, "divergences": summary["divergences"],
            "draws": passes[-1]["draws"] * summary["sampler"]["chains"],
            "passes": len(passes), "warnings": len(summary["warnings"])}


def _env(home: Path) -> dict:
    """The environment with ``HOME`` and ``XDG_CACHE_HOME`` in ``home``: caches start there."""
    env = dict(os.environ)
    env.pop("PYTENSOR_FLAGS", None)
    env["HOME"] = str(home)
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    home.mkdir(parents=True, exist_ok=True)
    return env


def bench_ladders(repeats: int) -> str:
    """The small-ladder suite, warm: forecast and plain pm.sample() side by side, per case."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from ladders import cases

    lines = []
    head = (f"{'case':<10}{'tool':<9}{'n':>4}{'wall s':>8}{'min ESS':>9}{'max R-hat':>10}"
            f"{'div':>5}{'passes':>7}{'warn':>5}")
    lines += [head, "-" * len(head)]
    with tempfile.TemporaryDirectory() as tmp:
        env = _env(Path(tmp) / "home")
        for name, (csv, args) in cases(Path(tmp) / "data").items():
            law = args[args.index("--law") + 1] if "--law" in args else "power"
            extra = ()
            if "--y" in args:
                extra = (args[args.index("--y") + 1], *(["frontier"] * ("--frontier" in args)))
            tools = [("forecast", lambda s, c=csv, a=args, la=law: run_forecast(c, la, env, s, a))]
            if "--acc" not in args:
                tools.insert(0, ("plain", lambda s, c=csv, la=law, e=extra:
                                 run_plain(c, la, env, s, e)))
            n = len(open(csv).readlines()) - 1
            for tool, fn in tools:
                fn(0)  # fill the caches: the rows below are warm
                rows = [fn(rep) for rep in range(repeats)]
                for r in rows:
                    print(f"  {name} {tool}: {r}", flush=True)
                lines.append(
                    f"{name:<10}{tool:<9}{n:>4}{_median(rows, 'wall'):>8.1f}"
                    f"{min(r['min_ess'] for r in rows):>9.0f}"
                    f"{max(r['max_rhat'] for r in rows):>10.3f}"
                    f"{max(r['divergences'] for r in rows):>5}"
                    f"{max(r.get('passes', 1) for r in rows):>7}"
                    f"{max(r.get('warnings', 0) for r in rows):>5}")
    return "\n".join(lines)


def bench_case(name: str, repeats: int, warm_repeats: int) -> dict:
    csv, law = CASES[name]
    rows: dict[str, dict[str, list[dict]]] = {t: {"cold": [], "warm": []}
                                              for t in ("plain", "forecast")}
    for rep in range(repeats):
        for tool, fn in (("plain", run_plain), ("forecast", run_forecast)):
            with tempfile.TemporaryDirectory() as tmp:
                env = _env(Path(tmp) / "home")
                rows[tool]["cold"].append(fn(csv, law, env, rep))
                print(f"  {name} {tool} cold #{rep}: {rows[tool]['cold'][-1]}", flush=True)
                for w in range(warm_repeats):
                    rows[tool]["warm"].append(fn(csv, law, env, rep))
                    print(f"  {name} {tool} warm #{rep}.{w}: {rows[tool]['warm'][-1]}",
                          flush=True)
    return rows


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def _quick_commands() -> dict:
    env = dict(os.environ)
    out = {}
    walls = [_run([*FORECAST, "--help"], env)[0] for _ in range(3)]
    out["help"] = statistics.median(walls)
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "bad.csv"
        bad.write_text("flops,loss\n1e18,abc\n")
        res = [_run([*FORECAST, "fit", str(bad), "--out", str(Path(tmp) / "o")], env)
               for _ in range(3)]
        out["bad_input"] = statistics.median(r[0] for r in res)
        out["bad_input_exit"] = res[0][2].returncode
        out["bad_input_message"] = res[0][2].stderr.strip().splitlines()[-1]
    return out


def report(results: dict, quick: dict) -> str:
    lines = []
    head = (f"{'case':<11}{'tool':<9}{'cache':<6}{'wall s':>8}{'cpu s':>8}{'sample s':>9}"
            f"{'min ESS':>9}{'ESS/s':>8}{'max R-hat':>10}{'n':>3}")
    lines += [head, "-" * len(head)]
    for case, rows in results.items():
        for mode in ("cold", "warm"):
            for tool in ("plain", "forecast"):
                r = rows[tool][mode]
                wall, ess = _median(r, "wall"), _median(r, "min_ess")
                lines.append(f"{case:<11}{tool:<9}{mode:<6}{wall:>8.1f}{_median(r, 'cpu'):>8.1f}"
                             f"{_median(r, 'sampling'):>9.1f}{ess:>9.0f}{ess / wall:>8.0f}"
                             f"{max(x['max_rhat'] for x in r):>10.3f}{len(r):>3}")
    lines.append("")
    lines.append("ratios forecast / plain (medians; same benchmark run):")
    for case, rows in results.items():
        for mode in ("cold", "warm"):
            f, p = rows["forecast"][mode], rows["plain"][mode]
            per_rep = [a["wall"] / b["wall"] for a, b in zip(f, p, strict=False)]
            speed = ((_median(f, "min_ess") / _median(f, "wall"))
                     / (_median(p, "min_ess") / _median(p, "wall")))
            lines.append(
                f"  {case:<11}{mode:<5} wall {_median(f, 'wall') / _median(p, 'wall'):.3f}"
                f" (per pair: {', '.join(f'{x:.2f}' for x in per_rep)})"
                f"  cpu {_median(f, 'cpu') / _median(p, 'cpu'):.3f}  ESS/s x{speed:.1f}")
    lines.append("")
    lines.append(f"forecast --help: {quick['help']:.2f} s; bad input: {quick['bad_input']:.2f} s, "
                 f"exit {quick['bad_input_exit']}: {quick['bad_input_message']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2, help="cold runs per tool and case")
    ap.add_argument("--warm", type=int, default=2, help="warm runs after each cold run")
    ap.add_argument("--cases", default="chinchilla,power")
    ap.add_argument("--json", type=Path, default=None, help="also write raw results here")
    ap.add_argument("--ladders", action="store_true", help="run the small-ladder suite instead")
    args = ap.parse_args()
    if args.ladders:
        print(f"load average before: {os.getloadavg()}", flush=True)
        out = bench_ladders(args.repeats)
        print(f"load average after: {os.getloadavg()}")
        print(out)
        return
    print(f"load average before: {os.getloadavg()}", flush=True)
    quick = _quick_commands()
    results = {c: bench_case(c, args.repeats, args.warm) for c in args.cases.split(",")}
    print(f"load average after: {os.getloadavg()}")
    print(report(results, quick))
    if args.json:
        args.json.write_text(json.dumps({"results": results, "quick": quick}, indent=1))


if __name__ == "__main__":
    main()
