"""`forecast compare`: rank laws by PSIS-LOO and leave-future-out."""

from __future__ import annotations

import json

import click

from forecast.cli.options import (
    CONTEXT,
    LAW_NAMES,
    group_option,
    sampler_options,
    trials_option,
    warn,
)
from forecast.cluster import scheduler_option


@click.command("compare", context_settings=CONTEXT)
@click.argument("runs_csv", metavar="RUNS.csv", type=click.Path(dir_okay=True))
@click.option("--laws", "laws_text", default=None, metavar="A,B",
              help="Laws to compare, comma-separated [default: those the columns allow: power, "
                   "pure, broken, and chinchilla with params and tokens].")
@click.option("--y", "y_col", default="loss", show_default=True, metavar="COLUMN",
              help="Metric column (a loss).")
@group_option
@trials_option
@click.option("--k", "k_column", default=None, metavar="COLUMN",
              help="Compare compositions instead of laws: the table holds one task at several "
                   "lengths (this column); fit --laws' one accuracy law with gamma_k fitted and "
                   "with i.i.d. steps (gamma_k = 1), rank them by PSIS-LOO, and with --cutoff "
                   "backtest both, length by length (docs/groups.md).")
@click.option("--cutoff", type=float, default=None, metavar="FLOPS",
              help="Leave-future-out cutoff [default: the largest 20% of runs are held out; "
                   "with --k, none unless given].")
@sampler_options
@scheduler_option("fit the laws")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def compare_cmd(runs_csv, laws_text, y_col, group, trials, k_column, cutoff, draws, tune, chains,
                seed, extrapolation, scheduler, as_json):
    """Rank scaling laws on RUNS.csv by PSIS-LOO and by a leave-future-out score.

    Each law is fitted to all runs (for LOO and stacking weights) and to the runs at or below
    the cutoff (scored on those above). The chosen law is the best at leave-future-out.
    """
    from forecast.errors import InputError
    from forecast.questions.backtest import split_runs
    from forecast.questions.compare import candidate_laws, compare_laws, lfo_cutoff
    from forecast.runs import read_runs

    if k_column is not None:
        _compare_compositions(runs_csv, laws_text, y_col, group, trials, k_column, cutoff,
                              (draws, tune, chains, seed), as_json)
        return
    if trials is not None:
        raise InputError("--trials applies to an accuracy: compare laws of loss without it, or "
                         "compositions with --k")
    base = read_runs(runs_csv, y=y_col, law="power")
    if laws_text is None:
        laws = candidate_laws(base.frame.columns)
    else:
        laws = [s.strip() for s in laws_text.split(",") if s.strip()]
        bad = [s for s in laws if s not in LAW_NAMES or s in ("logistic", "cloglog")]
        if bad or not laws:
            raise InputError(f"--laws {laws_text!r}: use loss laws among power, pure, "
                             "chinchilla, broken, separated by commas")
    runs_by_law = {law: read_runs(runs_csv, y=y_col, law=law) for law in laws}
    cut = lfo_cutoff(base) if cutoff is None else cutoff
    for law, runs in runs_by_law.items():
        split_runs(runs, cut, law)
    if group is not None:
        base.labels(group, what="for --group")
    for line in base.warnings:
        warn(line)

    from forecast.inference.sampling import SamplerSettings

    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, seed=seed)
    result = compare_laws(runs_by_law, cutoff=cut, scheduler=scheduler, settings=settings,
                          seed=seed, extrapolation=extrapolation, group=group)
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
        return
    click.echo(f"{len(laws)} laws on {result['y']!r}; leave-future-out: fit {result['n_fit']} "
               f"runs with flops <= {result['cutoff']:.3g}, score {result['n_test']} above")
    click.echo(f"{'law':<12}{'elpd_lfo':>10}{'APE':>8}{'90% cov':>9}{'elpd_loo':>10}{'se':>7}"
               f"{'weight':>8}{'k>0.7':>7}")
    for r in result["laws"]:
        click.echo(f"{r['law']:<12}{r['elpd_lfo']:>10.2f}{r['median_ape']:>7.2f}%"
                   f"{r['coverage_90']:>9.0%}{r['elpd_loo']:>10.2f}{r['se']:>7.2f}"
                   f"{r['weight']:>8.2f}{r['pareto_k_bad']:>7d}")
    click.echo(f"chosen (best leave-future-out): {result['chosen']}; best by LOO: "
               f"{result['best_loo']}")


def _compare_compositions(runs_csv, laws_text, y_col, group, trials, k_column, cutoff, sampler,
                          as_json) -> None:
    from forecast.errors import InputError
    from forecast.inference.groups import checked_parts
    from forecast.inference.sampling import SamplerSettings
    from forecast.laws import get_law
    from forecast.questions.backtest import split_runs
    from forecast.questions.composition import compare_compositions
    from forecast.runs import read_runs

    names = [s.strip() for s in (laws_text or "cloglog").split(",") if s.strip()]
    if len(names) != 1 or names[0] not in ("logistic", "cloglog"):
        raise InputError(f"--k compares compositions of one accuracy law: give --laws logistic "
                         f"or --laws cloglog, not {laws_text!r}")
    law = get_law(names[0])
    runs = read_runs(runs_csv, y=y_col, law=law)
    checked_parts(runs, law, group, trials, None, k_column)
    if cutoff is not None:
        split_runs(runs, cutoff, law)
    for line in runs.warnings:
        warn(line)
    draws, tune, chains, seed = sampler
    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, seed=seed)
    result = compare_compositions(runs, law, k_column, cutoff=cutoff, settings=settings,
                                  seed=seed, group=group, trials=trials)
    if as_json:
        click.echo(json.dumps(result, indent=2, sort_keys=True))
        return
    click.echo(f"compositions of law {result['law']} on {result['y']!r} over lengths "
               f"{k_column!r} ({result['n_runs']} rows): fitted gamma_k against i.i.d. steps")
    click.echo(f"{'composition':<13}{'gamma_k [5%, 95%]':>26}{'elpd_loo':>10}{'se':>7}"
               f"{'k>0.7':>7}" + ("   backtest 90% cov / MAE by length" if cutoff else ""))
    for r in result["compositions"]:
        g = r["gamma_k"]
        gamma = f"{g['median']:.3g} [{g['q05']:.3g}, {g['q95']:.3g}]"
        line = (f"{r['composition']:<13}{gamma:>26}{r['elpd_loo']:>10.2f}{r['se']:>7.2f}"
                f"{r['pareto_k_bad']:>7d}")
        if "backtest" in r:
            line += "   " + ",  ".join(f"k={v}: {p['coverage_90']:.0%} / {p['mae']:.3g}"
                                       for v, p in r["backtest"]["by_length"].items())
        click.echo(line)
    click.echo(f"LOO: fitted - iid = {result['elpd_diff']:+.2f} (se {result['dse']:.2f}); best "
               f"by LOO: {result['best_loo']}"
               + (f"; best backtest of the longest length: {result['best_backtest']}"
                  if cutoff else ""))
