"""The ``forecast`` command line: a thin click layer over the library.

Library errors (:class:`forecast.errors.ForecastError`) become one line on stderr and their exit
status (2 for bad input, 1 for failed work); heavy modules are imported inside the commands so
``--help`` and input errors return at once.
"""

from __future__ import annotations

import gc
import json
import sys
import warnings

import click

from forecast import __version__
from forecast.errors import ForecastError, Interrupted

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
        except (ForecastError, Interrupted) as exc:
            raise _CleanError(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise _CleanError("interrupted; nothing was written", 130) from None


def warn(message: str) -> None:
    """Print a warning line on stderr."""
    click.secho(f"warning: {message}", fg="yellow", err=True)


def _quiet_imports() -> None:
    # ArviZ announces its refactor on import; users of a CLI need not see it.
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
    warnings.filterwarnings("ignore", message=".*ArviZ is undergoing.*")


def sampler_options(command):
    """Add the options shared by every command that fits (sampler settings, extrapolation)."""
    options = [
        click.option("--draws", type=click.IntRange(min=10), default=1000, show_default=True,
                     help="Posterior draws per chain."),
        click.option("--tune", type=click.IntRange(min=0), default=1000, show_default=True,
                     help="Tuning (warmup) steps per chain of the first pass. You should not "
                          "need it: when a pass shows divergences, R-hat above 1.01 or bulk ESS "
                          "below 400, the fit samples again by itself, at most twice (twice the "
                          "warmup; a higher target acceptance for divergences, up to 4x the "
                          "draws for too few effective ones) and says so."),
        click.option("--chains", type=click.IntRange(min=1), default=4, show_default=True,
                     help="Independent NUTS chains."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
                     help="Random seed of everything random: the same seed gives the same "
                          "numbers."),
        click.option("--extrapolation", type=click.Choice(["lfo", "none"]), default="lfo",
                     show_default=True,
                     help="Extrapolation error of forecasts beyond the fitted compute: lfo "
                          "estimates it by refitting without the largest 10% of runs and "
                          "scoring them (docs/backtest.md); none leaves it out."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


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
    if summary.get("frontier"):
        click.echo(f"(the compute frontier: {summary['frontier']['runs']} of "
                   f"{summary['frontier']['of']} runs)")
    click.echo("")
    click.echo(f"{'param':<8}{'median':>12}{'5%':>12}{'95%':>12}{'r_hat':>8}{'ess_bulk':>10}")
    for name, p in summary["params"].items():
        click.echo(f"{name:<8}{_fmt(p['median']):>12}{_fmt(p['q05']):>12}{_fmt(p['q95']):>12}"
                   f"{_fmt(p['r_hat']):>8}{p['ess_bulk'] or 0:>10.0f}")
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


@main.command("fit", context_settings=CONTEXT)
@click.argument("runs_csv", metavar="RUNS.csv", type=click.Path(dir_okay=True))
@click.option("--law", type=click.Choice(LAW_NAMES), default="power", show_default=True,
              help="Scaling law: power E + A C^-alpha; pure A C^-alpha; chinchilla "
                   "E + A N^-alpha + B D^-beta; broken (one smooth break); logistic "
                   "(accuracy against log compute).")
@click.option("--y", "y_col", default="loss", show_default=True, metavar="COLUMN",
              help="Metric column to fit (e.g. step_loss, or an accuracy with --law logistic).")
@click.option("--acc", default=None, metavar="COLUMN",
              help="Per-step accuracy column: fit the weibull link acc = floor + (1 - floor) "
                   "exp(-(L/L0)^s) jointly with the loss law (for `emergence --link "
                   "weibull`).")
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
def fit_cmd(runs_csv, law, y_col, acc, frontier, out, priors_path, draws, tune, chains, seed,
            extrapolation, budget, as_json, strict, with_report):
    """Fit a scaling law to RUNS.csv and write OUT/fit.nc and OUT/summary.json.

    Besides the sampler's diagnostics, it warns when the law should not be trusted beyond the
    runs: its extrapolation error at the bound, or memorisation (a train_loss column far below
    the fitted held-out loss on the largest runs, as before grokking).
    """
    from forecast.errors import InputError
    from forecast.outputs import check_out_dir
    from forecast.inference.priors import load_priors
    from forecast.runs import read_runs

    runs = read_runs(runs_csv, y=y_col, law=law)
    n_read = len(runs)
    if frontier:
        from forecast.laws import get_law

        spec = get_law(law)
        if "C" not in spec.covariates:
            raise InputError(f"--frontier needs a law of compute; '{law}' is a law of params and "
                             "tokens (use --law power, pure, broken or logistic)")
        runs = runs.frontier(higher_is_better=spec.metric == "unit")
        if len(runs) < spec.n_params + 2:
            raise InputError(f"{runs_csv}: only {len(runs)} runs are on the compute frontier, "
                             f"too few for law '{law}'; fit all runs (drop --frontier)")
    user_priors = load_priors(priors_path) if priors_path else None
    if budget is not None and not (budget > 0 and budget < float("inf")):
        raise InputError(f"--budget {budget}: must be a positive number of FLOPs, e.g. 1e24")
    if budget is not None and law != "chinchilla":
        raise InputError("--budget needs --law chinchilla (N and D must both be in the law)")
    check_out_dir(out)
    for line in runs.warnings:
        warn(line)

    from forecast.inference.fitting import SamplerSettings, fit, optimal_allocation

    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, seed=seed,
                               progress=sys.stderr.isatty())
    result = fit(runs, law, priors=user_priors, settings=settings,
                 priors_source=str(priors_path or "priors"), acc=acc,
                 extrapolation=extrapolation)
    if budget is not None:
        result.summary["allocation"] = optimal_allocation(result, budget)
    if frontier:
        result.summary["frontier"] = {"runs": len(runs), "of": n_read}
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
@click.option("--link", type=click.Choice(["exp", "weibull", "logistic"]), default=None,
              help="Per-step success: exp p = exp(-L) (per-step loss fit); weibull (fit with "
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

    from forecast.laws.compose import Composition
    from forecast.questions.emergence import emergence, step_success, write_emergence
    from forecast.inference.fitting import load_fit

    fits = [load_fit(d) for d in fit_dirs]
    steps = [step_success(f, link, from_k=from_k, seed=i) for i, f in enumerate(fits)]
    result = emergence(steps, ks, threshold=threshold, budget=budget,
                       composition=Composition(phi=phi, allow_errors=allow_errors))
    result["fit_dirs"] = [str(d) for d in fit_dirs]
    # a forecast inherits its fits' caveats (once per folder)
    result["fit_warnings"] = {str(d): f.summary.get("warnings", [])
                              for d, f in zip(fit_dirs, fits, strict=True)}
    for d, lines in result["fit_warnings"].items():
        for line in lines:
            warn(f"fit {d}: {line}")
    path = write_emergence(result, out)
    if as_json:  # the curves stay in the file: stdout gets the crossings
        brief = {k: v for k, v in result.items() if k != "curves"}
        click.echo(json.dumps({**brief, "emergence_json": str(path)}, indent=2, sort_keys=True))
    else:
        _print_emergence(result, out)


# --- forecast backtest and forecast compare (issue 6) -------------------------------------------
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
    click.echo(f"backtest of law {result['law']} on {result['y']!r}: fitted {result['n_fit']} "
               f"runs with flops <= {result['cutoff']:.3g}, forecast {result['n_test']} above")
    click.echo(f"{'':<16}{'median APE':>11}{'50%':>7}{'80%':>7}{'90%':>7}{'95%':>7}{'CRPS':>10}")
    for key, label in (("model", "model"), ("baseline", "baseline"),
                       ("baseline_noise", "baseline+resid")):
        s = result[key]
        cov = "".join(f"{s['coverage'][lv]:>7.0%}" for lv in ("50", "80", "90", "95"))
        click.echo(f"{label:<16}{s['median_ape']:>10.2f}%{cov}{s['crps']:>10.4g}")
    if result.get("crossing"):
        click.echo(f"crossing of {result['threshold']:g} (log10 FLOPs): k, observed, forecast "
                   "median [5%, 95%], error in decades, inside the 90% interval")
        for c in result["crossing"]:
            q = c["forecast"]
            click.echo(f"  k={c['k']:<3}{_fmt(c['observed_log10_flops']):>8}{_fmt(q['median']):>8}"
                       f" [{_fmt(q['q05'])}, {_fmt(q['q95'])}]  {_fmt(c['error_decades']):>8}  "
                       f"{'yes' if c['inside_90'] else 'no'}"
                       f"{'' if c['observed_above_cutoff'] else ' (crossed below the cutoff)'}")
    click.echo("")


@main.command("backtest", context_settings=CONTEXT)
@click.argument("runs_csv", metavar="RUNS.csv", type=click.Path(dir_okay=True))
@click.option("--cutoff", type=float, default=None, metavar="FLOPS",
              help="Fit the runs with flops at or below this, forecast those above.")
@click.option("--cutoffs", default=None, metavar="A,B,C",
              help="Several cutoffs, comma-separated: one backtest each.")
@click.option("--law", type=click.Choice(LAW_NAMES), default="power", show_default=True,
              help="Scaling law to fit (see `forecast fit --help`).")
@click.option("--y", "y_col", default="loss", show_default=True, metavar="COLUMN",
              help="Metric column to forecast.")
@click.option("--boot", type=click.IntRange(min=10), default=200, show_default=True,
              help="Bootstrap resamples of the point-fit baseline.")
@sampler_options
@click.option("--steps", "steps_text", default=None, metavar="K[,K..]",
              help="Crossing backtest too: forecast where exact_kK crosses --threshold (fit a "
                   "per-step loss, e.g. --y step_loss) and compare with the observed crossing.")
@click.option("--threshold", type=float, default=0.5, show_default=True,
              help="Success level of the crossing backtest.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON (a list of results with --cutoffs) instead of a table.")
def backtest_cmd(runs_csv, cutoff, cutoffs, law, y_col, boot, draws, tune, chains, seed,
                 extrapolation, steps_text, threshold, as_json):
    """Backtest a law on RUNS.csv: fit below a compute cutoff, score the forecast above it.

    Scores the posterior median's median absolute percentage error, the coverage of the central
    50/80/90/95% predictive intervals for a new run, and the CRPS; and the same for the usual
    point fit (Huber on log loss, L-BFGS-B from a grid, bootstrap percentile intervals).
    """
    from forecast.questions.backtest import require_exact, split_runs, sweep
    from forecast.errors import InputError
    from forecast.runs import read_runs

    levels = _parse_cutoffs(cutoff, cutoffs)
    steps = _parse_steps(steps_text) if steps_text else []
    if steps and not 0 < threshold < 1:
        raise InputError(f"--threshold {threshold}: must lie strictly between 0 and 1")
    runs = read_runs(runs_csv, y=y_col, law=law)
    for c in levels:
        split_runs(runs, c, law)
    require_exact(runs, steps)
    for line in runs.warnings:
        warn(line)

    from forecast.inference.sampling import SamplerSettings

    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, seed=seed)
    results = sweep(runs, law, levels, settings=settings, n_boot=boot, seed=seed, steps=steps,
                    threshold=threshold, extrapolation=extrapolation)
    for r in results:
        for line in r["warnings"][len(runs.warnings):]:
            warn(f"cutoff {r['cutoff']:.3g}: {line}")
    if as_json:
        click.echo(json.dumps(results[0] if cutoffs is None else results, indent=2,
                              sort_keys=True))
    else:
        for r in results:
            _print_backtest(r)


@main.command("compare", context_settings=CONTEXT)
@click.argument("runs_csv", metavar="RUNS.csv", type=click.Path(dir_okay=True))
@click.option("--laws", "laws_text", default=None, metavar="A,B",
              help="Laws to compare, comma-separated [default: those the columns allow: power, "
                   "pure, broken, and chinchilla with params and tokens].")
@click.option("--y", "y_col", default="loss", show_default=True, metavar="COLUMN",
              help="Metric column (a loss).")
@click.option("--cutoff", type=float, default=None, metavar="FLOPS",
              help="Leave-future-out cutoff [default: the largest 20% of runs are held out].")
@sampler_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def compare_cmd(runs_csv, laws_text, y_col, cutoff, draws, tune, chains, seed, extrapolation,
                as_json):
    """Rank scaling laws on RUNS.csv by PSIS-LOO and by a leave-future-out score.

    Each law is fitted to all runs (for LOO and stacking weights) and to the runs at or below
    the cutoff (scored on those above). The chosen law is the best at leave-future-out.
    """
    from forecast.questions.backtest import split_runs
    from forecast.questions.compare import candidate_laws, compare_laws, lfo_cutoff
    from forecast.errors import InputError
    from forecast.runs import read_runs

    base = read_runs(runs_csv, y=y_col, law="power")
    if laws_text is None:
        laws = candidate_laws(base.frame.columns)
    else:
        laws = [s.strip() for s in laws_text.split(",") if s.strip()]
        bad = [s for s in laws if s not in LAW_NAMES or s == "logistic"]
        if bad or not laws:
            raise InputError(f"--laws {laws_text!r}: use loss laws among power, pure, "
                             "chinchilla, broken, separated by commas")
    runs_by_law = {law: read_runs(runs_csv, y=y_col, law=law) for law in laws}
    cut = lfo_cutoff(base) if cutoff is None else cutoff
    for law, runs in runs_by_law.items():
        split_runs(runs, cut, law)
    for line in base.warnings:
        warn(line)

    from forecast.inference.sampling import SamplerSettings

    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, seed=seed)
    result = compare_laws(runs_by_law, cutoff=cut, settings=settings, seed=seed,
                          extrapolation=extrapolation)
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



def run() -> None:
    """Run the command line: the ``forecast`` script and ``python -m forecast``.

    A fit builds and rewrites PyTensor graphs: some 500,000 long-lived objects, which CPython's
    cyclic garbage collector would walk again and again during the fit (about 1 s of a warm
    Chinchilla fit) and once more at exit (another 1.3 s; ``docs/performance.md``). As mypy does,
    the command collects less often, and freezes what is left before exiting; the library, and
    tests that call :func:`main` in-process, keep Python's defaults.
    """
    gc.set_threshold(200_000, 30, 30)
    try:
        main()
    finally:
        gc.freeze()


# --- forecast harness (issue 4): defined in forecast/harness/command.py, torch imported lazily ---
def _register_harness() -> None:
    from forecast.harness.command import harness

    main.add_command(harness)


_register_harness()
