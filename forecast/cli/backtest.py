"""`forecast backtest`: fit below a compute cutoff, score the forecast above it."""

from __future__ import annotations

import json

import click

from forecast.cli.options import (
    CONTEXT,
    checkpoint_rows,
    composition_priors,
    fmt,
    group_option,
    k_options,
    law_option,
    parse_steps,
    run_options,
    sampler_options,
    task_option,
    trials_option,
    warn,
)
from forecast.cluster import scheduler_option


def _parse_cutoffs(cutoff: float | None, cutoffs: str | None) -> list[float]:
    from forecast.errors import InputError

    if (cutoff is None) == (cutoffs is None):
        raise InputError("give exactly one of --cutoff FLOPS or --cutoffs a,b,c")
    if cutoff is not None:
        return [cutoff]
    try:
        return [float(c) for c in cutoffs.split(",") if c.strip()]
    except ValueError:
        raise InputError(f"--cutoffs {cutoffs!r}: give FLOPs separated by commas, e.g. "
                         "1e20,3e20,1e21") from None


def _print_backtest(result: dict) -> None:
    if result.get("scheme") == "leave-group-out":
        click.echo(f"backtest of law {result['law']} on {result['y']!r}, leaving out one "
                   f"{result['group']!r} at a time: {len(result['folds'])} fits, "
                   f"{result['n_test']} runs forecast by the fit that did not see their group")
    else:
        click.echo(f"backtest of law {result['law']} on {result['y']!r}: fitted "
                   f"{result['n_fit']} runs with flops <= {result['cutoff']:.3g}, forecast "
                   f"{result['n_test']} above")
    click.echo(f"{'':<16}{'median APE':>11}{'MAE':>9}{'50%':>7}{'80%':>7}{'90%':>7}{'95%':>7}"
               f"{'CRPS':>10}")
    for key, label in (("model", "model"), ("baseline", "baseline"),
                       ("baseline_noise", "baseline+resid"), ("direct", "direct law")):
        if key not in result:
            continue
        s = result[key]
        cov = "".join(f"{s['coverage'][lv]:>7.0%}" for lv in ("50", "80", "90", "95"))
        click.echo(f"{label:<16}{s['median_ape']:>10.2f}%{s['mae']:>9.4g}{cov}"
                   f"{s['crps']:>10.4g}")
    by_part = result.get("by_length") or result.get("by_task") or {}
    for v, part in (by_part.get("lengths") or by_part.get("tasks") or {}).items():
        parts = [f"{label} {part[key]['coverage']['90']:.0%} / {part[key]['mae']:.3g}"
                 for key, label in (("model", "model"), ("baseline", "baseline"),
                                    ("direct", "direct")) if key in part]
        click.echo(f"  {by_part['column']}={v:<4} {part['n_test']:>3} runs  90% covered / MAE: "
                   + ",  ".join(parts))
    for f in result.get("folds", []):
        click.echo(f"  without {f['group']:<18} {f['n_test']:>3} runs  90% covered "
                   f"{f['model']['coverage']['90']:>5.0%}  MAE {f['model']['mae']:.3g}")
    if result.get("crossing"):
        click.echo(f"crossing of {result['threshold']:g} (log10 FLOPs): k, observed, forecast "
                   "median [5%, 95%], error in decades, inside the 90% interval")
        for c in result["crossing"]:
            q = c["forecast"]
            click.echo(f"  k={c['k']:<3}{fmt(c['observed_log10_flops']):>8}{fmt(q['median']):>8}"
                       f" [{fmt(q['q05'])}, {fmt(q['q95'])}]  {fmt(c['error_decades']):>8}  "
                       f"{'yes' if c['inside_90'] else 'no'}"
                       f"{'' if c['observed_above_cutoff'] else ' (crossed below the cutoff)'}")
    click.echo("")


@click.command("backtest", context_settings=CONTEXT)
@click.argument("runs_csv", metavar="RUNS.csv", type=click.Path(dir_okay=True))
@click.option("--cutoff", type=float, default=None, metavar="FLOPS",
              help="Fit the runs with flops at or below this, forecast those above.")
@click.option("--cutoffs", default=None, metavar="A,B,C",
              help="Several cutoffs, comma-separated: one backtest each.")
@click.option("--leave-group-out", "by_group", is_flag=True,
              help="Instead of a cutoff: for each group of --group, fit on the others and "
                   "forecast it (a family the fit has never seen).")
@law_option("Scaling law to fit (see `forecast fit --help`).")
@click.option("--y", "y_col", default="loss", show_default=True, metavar="COLUMN",
              help="Metric column to forecast.")
@group_option
@trials_option
@run_options
@k_options
@task_option
@click.option("--boot", type=click.IntRange(min=10), default=200, show_default=True,
              help="Bootstrap resamples of the point-fit baseline.")
@sampler_options
@scheduler_option("fit the cutoffs")
@click.option("--steps", "steps_text", default=None, metavar="K[,K..]",
              help="Crossing backtest too: forecast where exact_kK crosses --threshold (fit a "
                   "per-step loss, e.g. --y step_loss) and compare with the observed crossing.")
@click.option("--threshold", type=float, default=0.5, show_default=True,
              help="Success level of the crossing backtest.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON (a list of results with --cutoffs) instead of a table.")
def backtest_cmd(runs_csv, cutoff, cutoffs, by_group, law, y_col, group, trials, run,
                 drop_first, k_column, composition, task, boot, draws,
                 tune, chains, seed, extrapolation, scheduler, steps_text, threshold, as_json):
    """Backtest a law on RUNS.csv: fit below a compute cutoff, score the forecast above it.

    Scores the posterior median's median absolute percentage error, the coverage of the central
    50/80/90/95% predictive intervals for a new run, and the CRPS; and the same for the usual
    point fit (Huber on log loss, L-BFGS-B from a grid, bootstrap percentile intervals).
    """
    from forecast.errors import InputError
    from forecast.questions.backtest import split_runs, sweep
    from forecast.questions.crossings import require_exact
    from forecast.runs import read_runs

    if by_group and (group is None or cutoff is not None or cutoffs is not None or steps_text):
        raise InputError("--leave-group-out needs --group COLUMN, and takes no --cutoff, "
                         "--cutoffs or --steps")
    levels = [] if by_group else _parse_cutoffs(cutoff, cutoffs)
    steps = parse_steps(steps_text) if steps_text else []
    if steps and not 0 < threshold < 1:
        raise InputError(f"--threshold {threshold}: must lie strictly between 0 and 1")
    runs = read_runs(runs_csv, y=y_col, law=law)
    from forecast.inference.groups import checked_parts

    checked_parts(runs, law, group, trials, run, k_column, task)  # bad input before sampling
    runs = checkpoint_rows(runs, run, drop_first)
    for c in levels:
        split_runs(runs, c, law)
    require_exact(runs, steps)
    for line in runs.warnings:
        warn(line)

    from forecast.inference.sampling import SamplerSettings

    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, seed=seed)
    common = {"settings": settings, "n_boot": boot, "seed": seed, "extrapolation": extrapolation,
              "trials": trials, "run": run, "k": k_column, "task": task,
              "priors": composition_priors(None, k_column, composition)}
    if by_group:
        from forecast.questions.by_group import leave_group_out

        results = [leave_group_out(runs, law, group, scheduler=scheduler, **common)]
        for f in results[0]["folds"]:
            for line in f["warnings"][len(runs.warnings):]:
                warn(f"without {f['group']}: {line}")
        _show(results, as_json, single=True)
        return
    results = sweep(runs, law, levels, scheduler=scheduler, steps=steps, threshold=threshold,
                    group=group, **common)
    for r in results:
        for line in r["warnings"][len(runs.warnings):]:
            warn(f"cutoff {r['cutoff']:.3g}: {line}")
    _show(results, as_json, single=cutoffs is None)


def _show(results: list[dict], as_json: bool, single: bool) -> None:
    if as_json:
        click.echo(json.dumps(results[0] if single else results, indent=2, sort_keys=True))
    else:
        for r in results:
            _print_backtest(r)
