"""`forecast fit`: fit a law to a runs table and write the fit folder."""

from __future__ import annotations

import json
import sys

import click

from forecast.cli.options import (
    CONTEXT,
    checkpoint_rows,
    composition_priors,
    fmt,
    group_option,
    k_options,
    law_option,
    run_options,
    sampler_options,
    task_option,
    trials_option,
    warn,
)


def _print_fit_table(summary: dict, out: str) -> None:
    lo, hi = summary["flops_range"]
    click.echo(f"law {summary['law']}: {summary['formula']}   (C in FLOPs, N params, D tokens)")
    click.echo(f"{summary['n_runs']} runs of {summary['y']!r}, compute {lo:.3g} .. {hi:.3g} FLOPs")
    if summary.get("frontier"):
        click.echo(f"(the compute frontier: {summary['frontier']['runs']} of "
                   f"{summary['frontier']['of']} runs)")
    cp = summary.get("checkpoints")
    if cp:
        click.echo(f"({cp['rows']} rows of {cp['training_runs']} training runs by "
                   f"{cp['run']!r}, each with its own level in {cp['level']}, spread sigma_run)")
    click.echo("")
    click.echo(f"{'param':<8}{'median':>12}{'5%':>12}{'95%':>12}{'r_hat':>8}{'ess_bulk':>10}")
    for name, p in summary["params"].items():
        click.echo(f"{name:<8}{fmt(p['median']):>12}{fmt(p['q05']):>12}{fmt(p['q95']):>12}"
                   f"{fmt(p['r_hat']):>8}{p['ess_bulk'] or 0:>10.0f}")
    for name, t in (summary.get("tasks") or {}).items():
        own = "  ".join(f"{p} {fmt(q['median'])} [{fmt(q['q05'])}, {fmt(q['q95'])}]"
                        for p, q in t["params"].items() if q["sd"] > 0)
        click.echo(f"  task {name} ({t['n_runs']} runs): {own}")
    comp = summary.get("composition")
    if comp:
        g = comp["gamma_k"]
        click.echo(f"(lengths {', '.join(f'{v:g}' for v in comp['lengths'])} by {comp['k']!r}: "
                   f"the law is k = {comp['k_ref']:g}'s accuracy, {comp['form']}; steps "
                   f"{comp['steps']}, gamma_k {fmt(g['median'])} [{fmt(g['q05'])}, "
                   f"{fmt(g['q95'])}])")
    groups = summary.get("groups")
    if groups:
        tau = groups["tau_decades"]
        click.echo("")
        click.echo(f"compute offsets by {groups['column']!r}, decades (10^offset times the "
                   f"compute of the median group; spread tau {fmt(tau['median'])} "
                   f"[{fmt(tau['q05'])}, {fmt(tau['q95'])}]):")
        for name, g in sorted(groups["groups"].items(), key=lambda kv: -kv[1]["median"]):
            click.echo(f"  {name:<20}{g['median']:>+8.2f}  [{g['q05']:+.2f}, {g['q95']:+.2f}]"
                       f"  ({g['n_runs']} run{'s' * (g['n_runs'] != 1)})")
    click.echo("")
    click.echo(f"divergences: {summary['divergences']}")
    ext = summary.get("extrapolation") or {}
    if ext.get("method") == "lfo":
        click.echo(f"extrapolation error: {ext['kappa_per_decade']:.3g} (log units) per decade "
                   f"beyond {ext['flops_max']:.3g} FLOPs (refit on {ext['n_inner_fit']} runs, "
                   f"scored on the {ext['n_inner_test']} largest)")
    elif ext:
        click.echo(f"extrapolation error: none ({ext.get('reason', '')})")
    alloc = summary.get("allocation")
    if alloc:
        click.echo(f"compute-optimal at {alloc['budget']:.3g} FLOPs (median [5%, 95%]):")
        for key, label in (("params", "N*"), ("tokens", "D*"), ("tokens_per_param", "D*/N*"),
                           ("loss", "loss")):
            q = alloc[key]
            click.echo(f"  {label:<7}{q['median']:.4g}  [{q['q05']:.4g}, {q['q95']:.4g}]")
    click.echo(f"wrote {out}/fit.nc and {out}/summary.json")


@click.command("fit", context_settings=CONTEXT)
@click.argument("runs_csv", metavar="RUNS.csv", type=click.Path(dir_okay=True))
@law_option("Scaling law: power E + A C^-alpha; pure A C^-alpha; chinchilla "
            "E + A N^-alpha + B D^-beta; broken (one smooth break); logistic "
            "(accuracy against log compute, symmetric); cloglog (accuracy, 1 - 2^-(C/C50)^s: "
            "leaves chance slowly, nears 1 fast; docs/groups.md).")
@click.option("--y", "y_col", default="loss", show_default=True, metavar="COLUMN",
              help="Metric column to fit (e.g. step_loss, or an accuracy with --law logistic).")
@click.option("--acc", default=None, metavar="COLUMN",
              help="Per-step accuracy column: fit the weibull link acc = floor + (1 - floor) "
                   "exp(-(L/L0)^s) jointly with the loss law (for `emergence --link "
                   "weibull`).")
@group_option
@trials_option
@run_options
@k_options
@task_option
@click.option("--frontier", is_flag=True,
              help="Fit only the compute frontier: the runs whose metric beats every run of no "
                   "more compute (the envelope of learning curves, Hoffmann et al.'s approach "
                   "1; for tables of checkpoints). Laws of compute only.")
@click.option("--out", default="forecast-out", show_default=True, type=click.Path(),
              help="Folder for fit.nc and summary.json (written atomically).")
@click.option("--priors", "priors_path", type=click.Path(), default=None,
              help="TOML file overriding default priors (see docs/priors.md).")
@sampler_options
@click.option("--budget", type=float, default=None, metavar="FLOPS",
              help="With --law chinchilla: compute-optimal N*, D* and D*/N* at this budget.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary JSON instead of a table.")
@click.option("--strict", is_flag=True,
              help="Exit with status 1 if sampling raised a warning (divergences, R-hat > 1.01, "
                   "low ESS, a posterior piled against a prior bound); outputs are still written.")
@click.option("--report", "with_report", is_flag=True,
              help="Also write OUT/report.html and OUT/figures/ (as `forecast report OUT`).")
def fit_cmd(runs_csv, law, y_col, acc, group, trials, run, drop_first, k_column, composition,
            task, frontier, out,
            priors_path, draws, tune, chains, seed, extrapolation, budget, as_json, strict,
            with_report):
    """Fit a scaling law to RUNS.csv and write OUT/fit.nc and OUT/summary.json.

    Besides the sampler's diagnostics, it warns when the law should not be trusted beyond the
    runs: its extrapolation error at the bound, or memorisation (a train_loss column far below
    the fitted held-out loss on the largest runs, as before grokking).
    """
    from forecast.errors import InputError
    from forecast.inference.priors import load_priors
    from forecast.outputs import check_out_dir
    from forecast.runs import read_runs

    runs = read_runs(runs_csv, y=y_col, law=law)
    n_read = len(runs)
    if run is not None and frontier:
        raise InputError("--run fits every checkpoint of each run, --frontier only the best at "
                         "each compute: give one of them")
    from forecast.inference.groups import checked_parts

    checked_parts(runs, law, group, trials, run, k_column, task)  # bad input before sampling
    if task is not None and with_report:
        raise InputError("--report of a fit of several tasks: run `forecast report OUT --task "
                         "NAME` after the fit, one task at a time")
    runs = checkpoint_rows(runs, run, drop_first)
    if frontier:
        if "C" not in law.covariates:
            raise InputError(f"--frontier needs a law of compute; '{law.name}' is a law of "
                             "params and tokens (use --law power, pure, broken, logistic or "
                             "cloglog)")
        runs = runs.frontier(higher_is_better=law.metric == "unit")
        if len(runs) < law.n_params + 2:
            raise InputError(f"{runs_csv}: only {len(runs)} runs are on the compute frontier, "
                             f"too few for law '{law.name}'; fit all runs (drop --frontier)")
    user_priors = composition_priors(load_priors(priors_path) if priors_path else None,
                                     k_column, composition)
    if budget is not None and not (budget > 0 and budget < float("inf")):
        raise InputError(f"--budget {budget}: must be a positive number of FLOPs, e.g. 1e24")
    if budget is not None and law.name != "chinchilla":
        raise InputError("--budget needs --law chinchilla (N and D must both be in the law)")
    check_out_dir(out)
    for line in runs.warnings:
        warn(line)

    from forecast.inference.fitting import SamplerSettings, fit, optimal_allocation

    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, seed=seed,
                               progress=sys.stderr.isatty())
    result = fit(runs, law, priors=user_priors, settings=settings,
                 priors_source=str(priors_path or "priors"), acc=acc,
                 extrapolation=extrapolation, group=group, trials=trials, run=run, k=k_column,
                 task=task)
    if budget is not None:
        result.summary["allocation"] = optimal_allocation(result, budget)
    if frontier:
        result.summary["frontier"] = {"runs": len(runs), "of": n_read}
    if run is not None:
        result.summary["checkpoints"].update({"drop_first": drop_first, "of": n_read})
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
    if strict and not result.summary["converged"]:
        from forecast.errors import FitError

        raise FitError("--strict: the sampler warned (see above); the fit is written but "
                       "should not be trusted")
