"""`forecast report`: the HTML report of a fit folder."""

from __future__ import annotations

import click

from forecast.cli.options import CONTEXT


@click.command("report", context_settings=CONTEXT)
@click.argument("fit_dir", metavar="[DIR]", default="forecast-out", type=click.Path())
@click.option("--budget", type=float, default=None, metavar="FLOPS",
              help="Compute budget to mark on the fit (default: the fit's or emergence's).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the new-run bands' noise and of the pair plot's thinning.")
@click.option("--task", default=None, metavar="NAME",
              help="For a fit of several tasks (`forecast fit --task`): the task to report.")
def report_cmd(fit_dir, budget, seed, task):
    """Write DIR/report.html (self-contained) and DIR/figures/*.png for the fit in DIR.

    Adds the emergence forecast, backtest calibration and law comparison when DIR holds
    emergence.json, backtest.json (`forecast backtest --json` output) or compare.json.
    """
    from forecast.errors import InputError

    if budget is not None and not (0.0 < budget < float("inf")):
        raise InputError(f"--budget {budget}: must be a positive number of FLOPs, e.g. 1e24")
    from forecast.report import make_report

    path = make_report(fit_dir, budget=budget, seed=seed, task=task)
    click.echo(f"wrote {path} and {path.parent / 'figures'}/*.png")
