"""`forecast emergence`: when a k-step task crosses its threshold."""

from __future__ import annotations

import json

import click

from forecast.cli.options import CONTEXT, link_option, parse_steps, warn


def _print_emergence(result: dict, out: str | None) -> None:
    comp = "p^k" if not result["heterogeneous"] else "prod of the first k steps' p"
    if result["phi"] is not None:
        comp = f"E[p^k], p ~ Beta(phi={result['phi']:g})"
    if result["allow_errors"]:
        comp = f"at least k-{result['allow_errors']} of k steps right ({comp} otherwise)"
    if result.get("gamma_k"):
        k0 = result["from_k"]
        comp = f"p^({k0} (k/{k0})^gamma_k), gamma_k fitted (--k)"
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
    if result.get("groups"):
        _print_groups(result["groups"], result["threshold"])
    if out:
        click.echo(f"wrote {out}/emergence.json")


def _print_groups(groups: dict, threshold: float) -> None:
    """Each family's crossing of the threshold, for each k: median [5%, 95%] log10 FLOPs."""
    ks = [row["k"] for row in next(iter(groups["groups"].values()))]
    click.echo(f"crossing of {threshold:g} by {groups['column']!r} (log10 FLOPs, 5% / median / "
               "95%; offset: decades of compute gained over the median family):")
    click.echo(f"{'':<22}{'offset':>7}" + "".join(f"{'k=' + str(k):>20}" for k in ks))

    def cell(q):
        text = "/".join("-" if q[n] is None else f"{q[n]:.1f}" for n in ("q05", "median", "q95"))
        return f"{text:>20}"

    order = sorted(groups["groups"], key=lambda g: -groups["offsets_decades"][g])
    for name in order:
        rows = groups["groups"][name]
        off = groups["offsets_decades"][name]
        click.echo(f"{name:<22}{off:>+7.2f}" + "".join(cell(r["log10_flops"]) for r in rows))
    click.echo("'-': among never-crossing draws")


@click.command("emergence", context_settings=CONTEXT)
@click.option("--fit", "fit_dirs", multiple=True, default=["forecast-out"], show_default=True,
              metavar="DIR", help="Fit folder (from `forecast fit`). Give it once per step for "
                                  "heterogeneous steps (e.g. one fit per answer digit).")
@click.option("--steps", "steps_text", required=True, metavar="K|k1,k2,..",
              help="Chain lengths: K for k = 1..K, or a list such as 1,2,4,8.")
@click.option("--threshold", type=float, default=0.5, show_default=True,
              help="Task success to reach, in (0, 1).")
@link_option("Per-step success: exp p = exp(-L) (per-step loss fit); weibull (fit with --acc); "
             "logistic (accuracy fit, p = acc^(1/from-k)). Default: what the fit holds.")
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
@click.option("--task", default=None, metavar="NAME",
              help="For a fit of several tasks (`forecast fit --task`): the task to forecast.")
@click.option("--out", default=None, type=click.Path(),
              help="Folder for emergence.json (default: the first --fit folder).")
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON instead of a table.")
def emergence_cmd(fit_dirs, steps_text, threshold, link, from_k, phi, allow_errors, budget, task,
                  out, as_json):
    """Forecast the compute at which a k-step task crosses THRESHOLD, for k = 1..K.

    Writes emergence.json (crossings and the curves of P_k and of the soft metrics) next to the
    fit; see docs/emergence.md.
    """
    from forecast.errors import InputError
    from forecast.outputs import check_out_dir

    ks = parse_steps(steps_text)
    if not 0.0 < threshold < 1.0:
        raise InputError(f"--threshold {threshold}: must lie strictly between 0 and 1")
    if budget is not None and not (0.0 < budget < float("inf")):
        raise InputError(f"--budget {budget}: must be a positive number of FLOPs, e.g. 1e24")
    if phi is not None and not (0.0 < phi < float("inf")):
        raise InputError(f"--phi {phi}: the Beta concentration must be a positive number")
    out = out or fit_dirs[0]
    check_out_dir(out)

    from forecast.inference.fitting import load_fit
    from forecast.laws.compose import Composition
    from forecast.questions.emergence import emergence, step_success, write_emergence

    fits = [load_fit(d).one_task(task) for d in fit_dirs]
    steps = [step_success(f, link, from_k=from_k, seed=i) for i, f in enumerate(fits)]
    kwargs = {"threshold": threshold, "budget": budget,
              "composition": Composition(phi=phi, allow_errors=allow_errors)}
    by_group = None
    if any(f.group_column for f in fits):
        if len(fits) > 1:
            raise InputError("crossings per group need one --fit (a fit with --group); "
                             "heterogeneous steps take fits without groups")
        import numpy as np

        from forecast.questions.group_emergence import NEW_GROUP, group_crossings, group_steps

        by_group = group_steps(fits[0], steps[0], np.random.default_rng([0, 11]))
        steps = [by_group[NEW_GROUP]]
    result = emergence(steps, ks, **kwargs)
    if by_group is not None:
        result["groups"] = group_crossings(fits[0], by_group, ks, **kwargs)
        result["notes"].insert(0, f"the crossings above are a new {fits[0].group_column!r} "
                               "(its offset drawn from the fit's families); each family's "
                               "are in the table below and in emergence.json's groups")
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
