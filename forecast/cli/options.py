"""What the commands share: click settings, options, the law and link edges, messages.

A law's name becomes a :class:`forecast.laws.Law` here, once, as the option is parsed; the
object is what the library receives. Nothing heavy is imported at module level, so ``--help``
stays instant.
"""

from __future__ import annotations

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
LAW_NAMES = ["power", "pure", "chinchilla", "broken", "logistic", "cloglog"]
LINK_NAMES = ["exp", "weibull", "logistic"]

__all__ = ["CONTEXT", "LAW_NAMES", "LINK_NAMES", "checkpoint_rows", "composition_priors", "fmt",
           "group_option", "k_options", "law_option", "link_option", "parse_steps",
           "run_options", "sampler_options", "task_option", "trials_option", "warn"]


def _to_law(ctx, param, value):
    from forecast.laws import get_law

    return get_law(value)


def _to_link(ctx, param, value):
    from forecast.laws.links import get_link

    return None if value is None else get_link(value)


def link_option(help_text: str):
    """Return the ``--link NAME`` option; the command receives a link (or None: the fit's)."""
    return click.option("--link", type=click.Choice(LINK_NAMES), default=None,
                        callback=_to_link, help=help_text)


def law_option(help_text: str):
    """Return the ``--law NAME`` option; the command receives a :class:`forecast.laws.Law`."""
    return click.option("--law", type=click.Choice(LAW_NAMES), default="power",
                        show_default=True, callback=_to_law, help=help_text)


def group_option(command):
    """Add ``--group COLUMN``: a compute offset per group (a model family), partially pooled."""
    return click.option(
        "--group", default=None, metavar="COLUMN",
        help="Column of groups (e.g. family): each group gets its own offset in log compute "
             "(how compute-efficient it is), partially pooled with a learnt scale; the law's "
             "other parameters are shared. A group the fit has not seen is forecast from the "
             "population of offsets. Laws of compute only (docs/groups.md).")(command)


def trials_option(command):
    """Add ``--trials N|COLUMN``: items behind each accuracy, for the binomial likelihood."""
    return click.option(
        "--trials", default=None, metavar="N|COLUMN",
        help="Items of the test behind each accuracy (a number, or a column): the likelihood "
             "becomes binomial with a logit random effect per run, so accuracies of 0 and 1 "
             "are data and a small test counts for less. Accuracy laws (logistic, cloglog) "
             "only. The floor is a fixed chance level (default 0) or, with a Beta prior in "
             "--priors (fixtures/fitted_floor.toml), fitted per task.")(command)


def run_options(command):
    """Add ``--run COLUMN`` and ``--drop-first FRACTION``: tables of checkpoints."""
    command = click.option(
        "--drop-first", type=float, default=0.1, show_default=True, metavar="FRACTION",
        help="With --run: drop each training run's checkpoints below this fraction of its "
             "largest compute (its first steps, far from any law).")(command)
    return click.option(
        "--run", default=None, metavar="COLUMN",
        help="Column naming each row's training run, for a table of checkpoints (many rows per "
             "run): the run's checkpoints share one level in log loss, partially pooled, so "
             "200 checkpoints of 5 runs do not count as 200 runs; a new run is forecast from "
             "the population of runs. Use a law of params and tokens (chinchilla) when the "
             "rows are checkpoints of a few sizes (docs/checkpoints.md). With an accuracy law "
             "(e.g. a model's rows on several --task) the level is a shift in log compute, the "
             "model's own place beside its --group's (docs/groups.md)."
    )(command)


def task_option(command):
    """Add ``--task COLUMN``: several tasks of the same models, sharing the groups' offsets."""
    return click.option(
        "--task", default=None, metavar="COLUMN",
        help="Column of tasks, for a table of several tasks of the same models (e.g. four "
             "arithmetic tasks): each task gets its own law (slope, midpoint) and scatter, and "
             "the --group offsets are shared by all tasks, so a task with little signal borrows "
             "the families' places from the others. Accuracy laws of compute; `emergence` and "
             "`report` then take --task NAME (docs/groups.md).")(command)


def k_options(command):
    """Add ``--k COLUMN`` and ``--composition``: one task at several lengths."""
    command = click.option(
        "--composition", type=click.Choice(["fitted", "iid"]), default="fitted",
        show_default=True,
        help="With --k: fitted learns gamma_k in acc_k = acc_ref^((k/k_ref)^gamma_k); iid fixes "
             "gamma_k = 1 (P_k = p^k).")(command)
    return click.option(
        "--k", "k_column", default=None, metavar="COLUMN",
        help="Column of task lengths (e.g. digits, when the table holds 2- and 3-digit "
             "addition): the law is the accuracy at the shortest length, and how success falls "
             "with k is fitted jointly with it (a k-step task counts as k_ref (k/k_ref)^gamma_k "
             "independent steps). Accuracy laws (logistic, cloglog), chance floor 0 "
             "(docs/groups.md).")(command)


def composition_priors(priors: dict | None, k_column: str | None, composition: str
                       ) -> dict | None:
    """Return the priors with ``gamma_k`` fixed at 1 for ``--composition iid``."""
    from forecast.inference.groups import IID_STEPS

    if k_column is None or composition == "fitted":
        return priors
    return {**(priors or {}), **IID_STEPS}


def checkpoint_rows(runs, run: str | None, drop_first: float):
    """Return the runs to fit under ``--run``: each run's first ``drop_first`` dropped."""
    if run is None:
        return runs
    kept = runs.drop_first(run, drop_first)
    if len(kept) < len(runs):
        click.echo(f"(--run {run}: dropped {len(runs) - len(kept)} of {len(runs)} checkpoints, "
                   f"each run's first {drop_first:.0%} of compute)", err=True)
    return kept


def warn(message: str) -> None:
    """Print a warning line on stderr."""
    click.secho(f"warning: {message}", fg="yellow", err=True)


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


def fmt(x: float | None) -> str:
    """Format a number for a table (4 significant digits; ``-`` for none)."""
    if x is None:
        return "-"
    return f"{x:.4g}"


def parse_steps(text: str) -> list[int]:
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
