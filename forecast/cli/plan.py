"""`forecast plan`: which run to train next, by the expected width of the forecast's interval."""

from __future__ import annotations

import json
import math
import sys

import click

from forecast.cli.options import CONTEXT, fmt, law_option, sampler_options, warn


def _flops(text: str, name: str) -> float:
    """Read a positive, finite number of FLOPs from an option's text (else an InputError)."""
    from forecast.errors import InputError

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0.0 < value < math.inf):
        raise InputError(f"{name} {text}: must be a positive number of FLOPs, e.g. 1e21")
    return value


def _print_plan(result: dict, out: str) -> None:
    cur = result["current"]
    what = (f"log10 FLOPs where the {result['steps']}-step task crosses {result['threshold']:g}"
            if result["steps"] else f"{result['y']} at {result['target_flops']:.3g} FLOPs")
    click.echo(f"law {result['law']}: 90% interval of {what}")
    click.echo(f"now: median {fmt(cur['median'])}, [{fmt(cur['lo'])}, {fmt(cur['hi'])}], "
               f"width {fmt(cur['width'])}  ({result['n_draws']} draws, {result['outcomes']} "
               "simulated outcomes per candidate, importance reweighting)")
    nd = "params" in result["candidates"][0]
    unb = any(r["unbounded"] > 0 for r in result["candidates"])
    head = (f"{'N':>10}{'D':>10}" if nd else "") + f"{'C (FLOPs)':>11}{'width':>10}" \
        f"{'reduction':>10}{'ESS med':>9}{'ESS min':>9}" + (f"{'unbounded':>11}" if unb else "")
    click.echo(head)
    rows = sorted(result["candidates"], key=lambda r: (
        math.inf if r["expected_width"] is None else r["expected_width"], r["unbounded"]))
    for r in rows:
        cells = f"{r['params']:>10.3g}{r['tokens']:>10.3g}" if nd else ""
        red = "-" if r["reduction"] is None else f"{r['reduction']:+.1%}"
        click.echo(f"{cells}{r['flops']:>11.3g}{fmt(r['expected_width']):>10}{red:>10}"
                   f"{r['ess']['median']:>9.0f}{r['ess']['min']:>9.0f}"
                   + (f"{r['unbounded']:>11.0%}" if unb else "")
                   + ("  ESS low" if r["ess_low"] else ""))
    click.echo("greedy picks:")
    for p in result["picks"]:
        size = f"N {p['params']:.3g}, D {p['tokens']:.3g}, " if nd else ""
        click.echo(f"  {p['step']}. {size}C {p['flops']:.3g} FLOPs -> expected width "
                   f"{fmt(p['expected_width'])} (total {p['total_flops']:.3g} FLOPs)")
    for note in result["notes"]:
        click.echo(f"note: {note}")
    click.echo(f"wrote {out}/plan.json")


@click.command("plan", context_settings=CONTEXT)
@click.argument("runs_csv", metavar="[RUNS.csv]", required=False,
                type=click.Path(dir_okay=True))
@click.option("--fit", "fit_dir", default=None, metavar="DIR",
              help="Plan from this fit folder (`forecast fit --out DIR`) instead of fitting "
                   "RUNS.csv.")
@click.option("--budget", required=True, metavar="FLOPS",
              help="The most compute one candidate run may cost (6 N D, or C).")
@click.option("--target", required=True, metavar="FLOPS",
              help="Compute of the forecast to make more certain.")
@click.option("--steps", type=click.IntRange(min=1), default=None, metavar="K",
              help="Plan for the compute at which a K-step task crosses --threshold (p^K with "
                   "the fit's link; a law of compute) instead of the loss at --target.")
@click.option("--threshold", type=float, default=0.5, show_default=True,
              help="With --steps: the task success to reach, in (0, 1).")
@law_option("Scaling law fitted to RUNS.csv (power, pure, broken: candidates over C; "
            "chinchilla: over N and D).")
@click.option("--y", "y_col", default="loss", show_default=True, metavar="COLUMN",
              help="Metric column to fit (a loss).")
@click.option("--candidates", "n_candidates", type=int, default=50, show_default=True,
              help="Candidate runs within the budget.")
@click.option("--pick", type=int, default=1, show_default=True,
              help="Runs to choose, greedily (each added with its simulated outcome).")
@click.option("--outcomes", type=int, default=32, show_default=True,
              help="Simulated outcomes per candidate.")
@click.option("--out", default=None, type=click.Path(),
              help="Folder for plan.json (default: the --fit folder, else forecast-out; a fit "
                   "made here is saved there too, for `forecast report`).")
@sampler_options
@click.option("--json", "as_json", is_flag=True, help="Print plan.json instead of a table.")
def plan_cmd(runs_csv, fit_dir, budget, target, steps, threshold, law, y_col, n_candidates,
             pick, outcomes, out, draws, tune, chains, seed, extrapolation, as_json):
    """Rank candidate runs by how much each would narrow the forecast at --target.

    Preposterior analysis (docs/plan.md): for each candidate, outcomes drawn from the posterior
    predictive, the posterior updated by importance reweighting, the 90% interval's width
    averaged over the outcomes.
    """
    from forecast.errors import InputError
    from forecast.outputs import check_out_dir

    budget_v, target_v = _flops(budget, "--budget"), _flops(target, "--target")
    if (runs_csv is None) == (fit_dir is None):
        raise InputError("give RUNS.csv to fit, or --fit DIR of an existing fit (one of them)")
    if steps is not None and not 0.0 < threshold < 1.0:
        raise InputError(f"--threshold {threshold}: must lie strictly between 0 and 1")
    if n_candidates < 1:
        raise InputError(f"--candidates {n_candidates}: give at least 1")
    if not 1 <= pick <= n_candidates:
        raise InputError(f"--pick {pick}: must lie between 1 and --candidates ({n_candidates})")
    out = out or fit_dir or "forecast-out"
    check_out_dir(out)

    from forecast.inference.fitting import SamplerSettings, fit, load_fit
    from forecast.outputs import write_json
    from forecast.questions.plan import candidate_grid, plan

    if fit_dir is not None:
        result = load_fit(fit_dir)
        runs = result.fitted_runs()
    else:
        from forecast.runs import read_runs

        runs = read_runs(runs_csv, y=y_col, law=law)
        if law.metric != "positive":
            raise InputError(f"forecast plan forecasts a loss; law '{law.name}' is an accuracy "
                             "law: use power, pure, chinchilla or broken")
        for line in runs.warnings:
            warn(line)
        settings = SamplerSettings(draws=draws, tune=tune, chains=chains, seed=seed,
                                   progress=sys.stderr.isatty())
        # the candidates first: a budget below every sensible run fails before the fit
        cands = candidate_grid(law, runs.flops, budget_v, n_candidates, params=runs.params,
                               tokens=runs.tokens)
        result = fit(runs, law, settings=settings, extrapolation=extrapolation)
        result.save(out)
    if fit_dir is not None:
        cands = candidate_grid(result.law, runs.flops, budget_v, n_candidates,
                               params=runs.params, tokens=runs.tokens)
    res = plan(result, cands, target_v, steps=steps, threshold=threshold, pick=pick,
               outcomes=outcomes, seed=seed)
    res.update({"budget": budget_v, "source": str(fit_dir or runs_csv),
                "fit_warnings": result.summary.get("warnings", [])})
    for line in res["fit_warnings"]:
        warn(f"fit: {line}")
    write_json(f"{out}/plan.json", res)
    if as_json:
        click.echo(json.dumps(res, indent=2, sort_keys=True))
    else:
        _print_plan(res, out)
