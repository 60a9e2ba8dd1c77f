"""The ``forecast`` command line: a thin click layer over the library.

Library errors (:class:`forecast.errors.ForecastError`) become one line on stderr and their exit
status (2 for bad input, 1 for failed work); heavy modules are imported inside the commands so
``--help`` and input errors return at once.
"""

from __future__ import annotations

import json
import sys
import warnings

import click

from forecast import __version__
from forecast.errors import ForecastError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
LAW_NAMES = ["power", "pure", "chinchilla", "broken", "logistic"]


class _CleanError(click.ClickException):
    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class _Group(click.Group):
    """A group that turns the tool's own errors into a clean message and exit status."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ForecastError as exc:
            raise _CleanError(str(exc), exc.exit_code) from None


def warn(message: str) -> None:
    """Print a warning line on stderr."""
    click.secho(f"warning: {message}", fg="yellow", err=True)


def _quiet_imports() -> None:
    # ArviZ announces its refactor on import; users of a CLI need not see it.
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
    warnings.filterwarnings("ignore", message=".*ArviZ is undergoing.*")


@click.group(cls=_Group, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="forecast")
def main() -> None:
    """Bayesian scaling-law fits and emergence forecasts for composed tasks.

    Typical use: `forecast fit runs.csv`, then `forecast emergence --steps 8`.
    """
    _quiet_imports()


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}"


def _print_fit_table(summary: dict, out: str) -> None:
    lo, hi = summary["flops_range"]
    click.echo(f"law {summary['law']}: {summary['formula']}   (C in FLOPs, N params, D tokens)")
    click.echo(f"{summary['n_runs']} runs of {summary['y']!r}, compute {lo:.3g} .. {hi:.3g} FLOPs")
    click.echo("")
    click.echo(f"{'param':<8}{'median':>12}{'5%':>12}{'95%':>12}{'r_hat':>8}{'ess_bulk':>10}")
    for name, p in summary["params"].items():
        click.echo(f"{name:<8}{_fmt(p['median']):>12}{_fmt(p['q05']):>12}{_fmt(p['q95']):>12}"
                   f"{_fmt(p['r_hat']):>8}{p['ess_bulk'] or 0:>10.0f}")
    click.echo("")
    click.echo(f"divergences: {summary['divergences']}")
    alloc = summary.get("allocation")
    if alloc:
        click.echo(f"compute-optimal at {alloc['budget']:.3g} FLOPs (median [5%, 95%]):")
        for key, label in (("params", "N*"), ("tokens", "D*"), ("tokens_per_param", "D*/N*"),
                           ("loss", "loss")):
            q = alloc[key]
            click.echo(f"  {label:<7}{q['median']:.4g}  [{q['q05']:.4g}, {q['q95']:.4g}]")
    click.echo(f"wrote {out}/fit.nc and {out}/summary.json")


@main.command("fit", context_settings=CONTEXT)
@click.argument("runs_csv", metavar="RUNS.csv", type=click.Path(dir_okay=True))
@click.option("--law", type=click.Choice(LAW_NAMES), default="power", show_default=True,
              help="Scaling law: power E + A C^-alpha; pure A C^-alpha; chinchilla "
                   "E + A N^-alpha + B D^-beta; broken (one smooth break); logistic "
                   "(accuracy against log compute).")
@click.option("--y", "y_col", default="loss", show_default=True, metavar="COLUMN",
              help="Metric column to fit (e.g. step_loss, or an accuracy with --law logistic).")
@click.option("--acc", default=None, metavar="COLUMN",
              help="Per-step accuracy column: fit the sigmoid link acc = floor + (1 - floor) "
                   "sigmoid(s (L0 - L)) jointly with the loss law (for `emergence --link "
                   "sigmoid`).")
@click.option("--out", default="forecast-out", show_default=True, type=click.Path(),
              help="Folder for fit.nc and summary.json (written atomically).")
@click.option("--priors", "priors_path", type=click.Path(), default=None,
              help="TOML file overriding default priors (see docs/priors.md).")
@click.option("--draws", type=click.IntRange(min=10), default=1000, show_default=True,
              help="Posterior draws per chain.")
@click.option("--tune", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Tuning steps per chain.")
@click.option("--chains", type=click.IntRange(min=1), default=4, show_default=True,
              help="Independent NUTS chains (run in this process).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed: the same seed gives the same numbers.")
@click.option("--budget", type=float, default=None, metavar="FLOPS",
              help="With --law chinchilla: compute-optimal N*, D* and D*/N* at this budget.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary JSON instead of a table.")
@click.option("--report", "with_report", is_flag=True,
              help="Also write OUT/report.html and OUT/figures/ (as `forecast report OUT`).")
def fit_cmd(runs_csv, law, y_col, acc, out, priors_path, draws, tune, chains, seed, budget,
            as_json, with_report):
    """Fit a scaling law to RUNS.csv and write OUT/fit.nc and OUT/summary.json."""
    from forecast.errors import InputError
    from forecast.outputs import check_out_dir
    from forecast.priors import load_priors
    from forecast.runs import read_runs

    runs = read_runs(runs_csv, y=y_col, law=law)
    user_priors = load_priors(priors_path) if priors_path else None
    if budget is not None and not (budget > 0 and budget < float("inf")):
        raise InputError(f"--budget {budget}: must be a positive number of FLOPs, e.g. 1e24")
    if budget is not None and law != "chinchilla":
        raise InputError("--budget needs --law chinchilla (N and D must both be in the law)")
    check_out_dir(out)
    for line in runs.warnings:
        warn(line)

    from forecast.fitting import SamplerSettings, fit, optimal_allocation

    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, seed=seed,
                               progress=sys.stderr.isatty())
    result = fit(runs, law, priors=user_priors, settings=settings,
                 priors_source=str(priors_path or "priors"), acc=acc)
    if budget is not None:
        result.summary["allocation"] = optimal_allocation(result, budget)
    result.save(out)
    if with_report:
        from forecast.report import make_report

        click.echo(f"wrote {make_report(out, fit=result, budget=budget)}", err=True)
    for line in result.summary["warnings"][len(runs.warnings):]:
        warn(line)
    if as_json:
        click.echo(json.dumps(result.summary, indent=2, sort_keys=True))
    else:
        _print_fit_table(result.summary, out)


# --- forecast emergence (issue 3) ---------------------------------------------------------------

def _parse_steps(text: str) -> list[int]:
    """``"8"`` -> 1..8; ``"1,2,4,8"`` -> those; anything else is an InputError."""
    from forecast.errors import InputError

    parts = [p.strip() for p in str(text).split(",")]
    if not all(p.isdigit() for p in parts):
        raise InputError(f"--steps {text}: give a whole number K >= 1 (k = 1..K) or a list "
                         "such as 1,2,4,8")
    ks = [int(p) for p in parts]
    if min(ks) < 1 or max(ks) > 1000:
        raise InputError(f"--steps {text}: every k must lie between 1 and 1000")
    return list(range(1, ks[0] + 1)) if len(ks) == 1 else sorted(set(ks))


def _print_emergence(result: dict, out: str | None) -> None:
    comp = "p^k" if not result["heterogeneous"] else "prod of the first k steps' p"
    if result["phi"] is not None:
        comp = f"E[p^k], p ~ Beta(phi={result['phi']:g})"
    if result["allow_errors"]:
        comp = f"at least k-{result['allow_errors']} of k steps right ({comp} otherwise)"
    click.echo(f"P_k = {comp}; link {result['link']}, law {result['law']} of "
               f"{result['y']!r}, {result['n_draws']} draws")
    budget = result["budget"] is not None
    click.echo(f"threshold {result['threshold']:g}: log10 FLOPs where P_k crosses it "
               "('-': among never-crossing draws)")
    head = f"{'k':>3}{'median':>9}{'5%':>8}{'25%':>8}{'75%':>8}{'95%':>8}{'p_never':>9}"
    head += f"{'p_budget':>10}" if budget else ""
    click.echo(head + f"{'width':>8}")
    for row in result["steps"]:
        q = row["log10_flops"]
        cells = "".join(f"{'-' if q[n] is None else format(q[n], '.2f'):>{w}}"
                        for n, w in (("median", 9), ("q05", 8), ("q25", 8), ("q75", 8),
                                     ("q95", 8)))
        line = f"{row['k']:>3}{cells}{row['p_never']:>9.3f}"
        line += f"{row['p_by_budget']:>10.3f}" if budget else ""
        width = row["width_decades"]["hard"]["median"]
        click.echo(line + f"{'-' if width is None else format(width, '.2f'):>8}")
    click.echo("width: median decades between P_k = 0.1 and 0.9 (the hard metric's 10-90% rise)")
    for note in result["notes"]:
        click.echo(f"note: {note}")
    if out:
        click.echo(f"wrote {out}/emergence.json")


@main.command("emergence", context_settings=CONTEXT)
@click.option("--fit", "fit_dirs", multiple=True, default=["forecast-out"], show_default=True,
              metavar="DIR", help="Fit folder (from `forecast fit`). Give it once per step for "
                                  "heterogeneous steps (e.g. one fit per answer digit).")
@click.option("--steps", "steps_text", required=True, metavar="K|k1,k2,..",
              help="Chain lengths: K for k = 1..K, or a list such as 1,2,4,8.")
@click.option("--threshold", type=float, default=0.5, show_default=True,
              help="Task success to reach, in (0, 1).")
@click.option("--link", type=click.Choice(["exp", "sigmoid", "logistic"]), default=None,
              help="Per-step success: exp p = exp(-L) (per-step loss fit); sigmoid (fit with "
                   "--acc); logistic (accuracy fit, p = acc^(1/from-k)). Default: what the fit "
                   "holds.")
@click.option("--from-k", type=click.IntRange(min=1), default=1, show_default=True,
              help="With a logistic fit: the steps of the task it was fitted to (2-digit "
                   "addition: 2).")
@click.option("--phi", type=float, default=None,
              help="Correlated steps: per-item p ~ Beta with this concentration (small: "
                   "items differ a lot).")
@click.option("--allow-errors", type=click.IntRange(min=0), default=0, show_default=True,
              help="The task still succeeds with this many wrong steps.")
@click.option("--budget", type=float, default=None, metavar="FLOPS",
              help="Also print the probability of crossing within this compute.")
@click.option("--out", default=None, type=click.Path(),
              help="Folder for emergence.json (default: the first --fit folder).")
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON instead of a table.")
def emergence_cmd(fit_dirs, steps_text, threshold, link, from_k, phi, allow_errors, budget, out,
                  as_json):
    """Forecast the compute at which a k-step task crosses THRESHOLD, for k = 1..K.

    Writes emergence.json (crossings and the curves of P_k and of the soft metrics) next to the
    fit; see docs/emergence.md.
    """
    from forecast.errors import InputError
    from forecast.outputs import check_out_dir

    ks = _parse_steps(steps_text)
    if not 0.0 < threshold < 1.0:
        raise InputError(f"--threshold {threshold}: must lie strictly between 0 and 1")
    if budget is not None and not (0.0 < budget < float("inf")):
        raise InputError(f"--budget {budget}: must be a positive number of FLOPs, e.g. 1e24")
    if phi is not None and not (0.0 < phi < float("inf")):
        raise InputError(f"--phi {phi}: the Beta concentration must be a positive number")
    out = out or fit_dirs[0]
    check_out_dir(out)

    from forecast.compose import Composition
    from forecast.emergence import emergence, step_success, write_emergence
    from forecast.fitting import load_fit

    steps = [step_success(load_fit(d), link, from_k=from_k) for d in fit_dirs]
    result = emergence(steps, ks, threshold=threshold, budget=budget,
                       composition=Composition(phi=phi, allow_errors=allow_errors))
    result["fit_dirs"] = [str(d) for d in fit_dirs]
    path = write_emergence(result, out)
    if as_json:  # the curves stay in the file: stdout gets the crossings
        brief = {k: v for k, v in result.items() if k != "curves"}
        click.echo(json.dumps({**brief, "emergence_json": str(path)}, indent=2, sort_keys=True))
    else:
        _print_emergence(result, out)

# --- forecast report (issue 5) ------------------------------------------------------------------
@main.command("report", context_settings=CONTEXT)
@click.argument("fit_dir", metavar="[DIR]", default="forecast-out", type=click.Path())
@click.option("--budget", type=float, default=None, metavar="FLOPS",
              help="Compute budget to mark on the fit (default: the fit's or emergence's).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the new-run bands' noise and of the pair plot's thinning.")
def report_cmd(fit_dir, budget, seed):
    """Write DIR/report.html (self-contained) and DIR/figures/*.png for the fit in DIR.

    Adds the emergence forecast, backtest calibration and law comparison when DIR holds
    emergence.json, backtest.json (`forecast backtest --json` output) or compare.json.
    """
    from forecast.errors import InputError

    if budget is not None and not (0.0 < budget < float("inf")):
        raise InputError(f"--budget {budget}: must be a positive number of FLOPs, e.g. 1e24")
    from forecast.report import make_report

    path = make_report(fit_dir, budget=budget, seed=seed)
    click.echo(f"wrote {path} and {path.parent / 'figures'}/*.png")
