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
def fit_cmd(runs_csv, law, y_col, out, priors_path, draws, tune, chains, seed, budget, as_json):
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
                 priors_source=str(priors_path or "priors"))
    if budget is not None:
        result.summary["allocation"] = optimal_allocation(result, budget)
    result.save(out)
    for line in result.summary["warnings"][len(runs.warnings):]:
        warn(line)
    if as_json:
        click.echo(json.dumps(result.summary, indent=2, sort_keys=True))
    else:
        _print_fit_table(result.summary, out)
