"""The report of a fit: one self-contained HTML file and its figures as PNG files.

:func:`make_report` reads a fit folder (``fit.nc`` and ``summary.json`` from ``forecast fit``,
and where present ``emergence.json`` from ``forecast emergence``, ``backtest.json`` as
``forecast backtest --json`` prints it, ``compare.json`` from a law comparison), draws the
figures of :mod:`forecast.report.figures`, writes them to ``DIR/figures/*.png`` and embeds the same
bytes as base64 in ``DIR/report.html``, with the tables: data, posterior summary and diagnostics,
crossings, backtest, law comparison. Nothing in the page needs the network.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from forecast import __version__
from forecast.errors import InputError
from forecast.outputs import atomic_write
from forecast.report.tables import (
    allocation_table,
    backtest_table,
    compare_table,
    crossing_table,
    data_table,
    num,
    posterior_table,
)

__all__ = ["Figure", "fit_runs", "make_report", "read_extra", "render_html"]

NOISE = ("sigma", "nu", "kappa")


@dataclass
class Figure:
    """A rendered figure of the report: its file stem, title, caption and PNG bytes."""

    name: str
    title: str
    caption: str
    png: bytes


def fit_runs(fit):
    """Return the runs of a fit: its source CSV if unchanged, else rebuilt from ``fit.nc``.

    Returns
    -------
    (forecast.runs.Runs, str)
        The runs and a note on where they came from (empty when read from the source CSV).
    """
    from forecast.runs import read_runs

    attrs = fit.idata.attrs
    source = Path(str(attrs.get("source", "")))
    if source.is_file():
        try:
            runs = read_runs(source, y=fit.y_name, law=fit.law)
        except InputError:
            runs = None
        if runs is not None and runs.sha256 == attrs.get("input_sha256"):
            return runs, ""
    note = (f"The runs were rebuilt from fit.nc: {source} is missing or changed since the fit"
            + (" (compute taken as 6 N D)." if "C" not in fit.law.covariates else "."))
    return fit.fitted_runs(), note


def read_extra(folder: str | Path, name: str):
    """Read ``folder/name`` (JSON) if it exists; ``None`` if not.

    Raises
    ------
    InputError
        If the file exists but is not valid JSON.
    """
    path = Path(folder) / name
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as JSON ({type(exc).__name__}); remake it or "
                         "move it away") from None


def _check_extras(folder: Path, extras: dict) -> None:
    """Raise InputError naming the file if emergence.json or backtest.json lacks its keys."""
    em, bt = extras["emergence"], extras["backtest"]
    need = {"emergence.json": (em, ("threshold", "link", "steps", "curves", "n_draws")),
            "backtest.json": (bt, ("cutoff", "model"))}
    for name, (obj, keys) in need.items():
        rows = obj if isinstance(obj, list) else [obj]
        if obj is None:
            continue
        missing = sorted({k for r in rows for k in keys if not isinstance(r, dict) or k not in r})
        if missing or not rows:
            raise InputError(f"{folder / name}: not a result of `forecast "
                             f"{name.split('.')[0]}` (missing {', '.join(missing) or 'rows'}); "
                             "remake it or move it away")


def _png(fig, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _figures(fit, runs, extras: dict, budget: float | None, seed: int, dpi: int):
    from forecast.report import figures as F
    from forecast.report import forecast_figures as FF
    from forecast.report import plan_figures as P

    law = fit.law
    noise = ("a Beta draw around the mean with the fitted precision kappa" if law.metric == "unit"
             else "the mean times the fitted Student-t noise in log space")
    curve = ("the loss along the compute-optimal frontier (for each compute, the best split "
             "into parameters and tokens, per posterior draw, Hoffmann et al. eq. 4); thin "
             "lines: the median law for four fixed model sizes as tokens grow, runs coloured "
             "by model size" if law.name == "chinchilla" else "the posterior median of the law")
    specs = [
        ("fit", "The fit", F.fit_figure(runs, fit, budget=budget, seed=seed),
         f"Runs (dots) and {curve}. Blue bands: 50% and 90% intervals of the law's mean; "
         f"orange bands: the same for a new run ({noise}). Grey: compute beyond the largest "
         "run (extrapolation)."),
        ("marginals", "Posterior against prior", F.marginals_figure(fit),
         "Filled: posterior; outline: prior. Where the prior looks flat the data decided; "
         "where the two agree the data taught little. A and B are shown as log10."),
        ("pairs", "Parameter correlations", F.pair_figure(fit, seed=seed),
         "Posterior draws of each pair (red: divergent transitions) and their correlation r. "
         "E, A and alpha trade off against each other, and extrapolations inherit that. A "
         "correlation near 1 between log10 A and alpha (or log10 B and beta) comes from the "
         "raw units, not the data: A = A_ref X0^alpha, where A_ref, the term's size at the "
         "data's reference scale X0 (the geometric mean of C, or N, or D), is what the data "
         "pin down."),
        ("ranks", "Rank plots", F.rank_figure(fit),
         "Ranks of each chain's draws among all draws: flat bars near the dashed line mean "
         "the chains sampled the same distribution."),
    ]
    if fit.group_column is not None and "groups" in fit.summary:
        from forecast.report.group_figures import groups_figure

        specs.append(("groups", f"Families ({fit.group_column})", groups_figure(fit, runs),
                      "Left: each group's compute offset in decades (10^offset times its "
                      "compute is what the shared law sees), median with 50% and 90% intervals, "
                      "partially pooled; in brackets its runs. Right: the law's posterior "
                      "median at each group's offset, with that group's runs."))
    if extras.get("emergence"):
        em = extras["emergence"]
        specs.append(("emergence", "Emergence", FF.emergence_figure(em),
                      f"Left: task success P_k (all k steps right), median and 90% band; at the "
                      f"threshold {em['threshold']:g}, the crossing compute's 50% (thick) and "
                      "90% (thin) intervals and median (dot). Right: the soft metric, expected "
                      "correct steps, for the same k: it rises smoothly and at the same compute "
                      "for every k. Composing steps shifts the hard curve right; it does not "
                      "steepen it."))
    if extras.get("backtest"):
        specs.append(("calibration", "Backtest calibration",
                      FF.calibration_figure(extras["backtest"]),
                      "Share of held-out runs inside each central predictive interval, against "
                      "its nominal level; on the diagonal the intervals are calibrated, below it "
                      "they are too narrow."))
    specs += [P.plan_spec(extras["plan"])] if extras.get("plan") else []
    return [Figure(name, title, caption, _png(fig, dpi)) for name, title, fig, caption in specs]


def _diagnostics(fit, summary: dict) -> tuple[dict, int, list[str]]:
    from forecast.inference.diagnostics import diagnostics as diagnose

    extra = tuple(n for n in summary.get("params", {}) if n not in fit.law.params)
    extra += tuple(n for n in NOISE if n in fit.idata.posterior)
    params, divergences, problems = diagnose(fit.idata, fit.law, extra)
    if summary:
        return params, summary.get("divergences", divergences), summary.get("warnings", problems)
    return params, divergences, problems


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;
margin-top:1.6em}.sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.6em 0 1em}th,td{padding:.25em .7em;
border-bottom:1px solid #e4e4e4}th{background:#f4f6f8;text-align:left}
table.num td{text-align:right}table.num td:first-child{text-align:left;white-space:nowrap}
table.kv td:first-child{color:#555}
figure{margin:1em 0 2em}figure img{max-width:100%;height:auto;border:1px solid #eee}
#fig-pairs img{max-width:820px}
figcaption{color:#444;font-size:.92em;max-width:60em}
.warn{background:#fff4e5;border-left:4px solid #e08a1e;padding:.5em 1em;margin:.6em 0}
.okbox{background:#eef7ee;border-left:4px solid #3a8a3a;padding:.5em 1em;margin:.6em 0}
.note{color:#555;font-size:.92em}.bad{color:#b22222;font-weight:bold}.ok{color:inherit}
code{background:#f4f4f4;padding:0 .25em;border-radius:3px}
"""


def _figure_html(fig: Figure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (f'<figure id="fig-{fig.name}"><img alt="{html.escape(fig.title)}" '
            f'src="data:image/png;base64,{data}"><figcaption><b>{html.escape(fig.title)}.</b> '
            f"{html.escape(fig.caption)} (<code>figures/{fig.name}.png</code>)</figcaption>"
            "</figure>")


def _at_budget(fit, budget: float, seed: int) -> str:
    """Say what the law forecasts at the budget (mean and new run, median and 90%)."""
    from forecast.report.figures import fit_bands

    bands = fit_bands(fit, np.array([float(budget)]), seed=seed)
    m, n = ({k: v[0] for k, v in bands[kind].items()} for kind in ("mean", "new"))
    where = " on the compute-optimal frontier" if "C" not in fit.law.covariates else ""
    return (f"<p>At the budget of {num(budget)} FLOPs{where}, the law forecasts "
            f"<code>{html.escape(fit.y_name)}</code> {num(m['median'])} (90%: "
            f"{num(m['q05'])} .. {num(m['q95'])}) for the mean, and {num(n['q05'])} .. "
            f"{num(n['q95'])} (90%) for a new run.</p>")


def _predictive_check(fit, runs, seed: int) -> str:
    """Say how many fitted runs lie outside the 90% interval for a new run at their covariates.

    For a law of compute the runs scored are those the fit saw (``fit.nc``): with ``fit
    --frontier`` the frontier, not the checkpoints above it, which no law of the frontier is
    meant to describe. A law of params and tokens (never fitted to a frontier) scores ``runs``,
    whose compute is the table's own, not ``6 N D``.
    """
    from forecast.questions.predictive import model_draws

    if "C" in fit.law.covariates:
        runs = fit.fitted_runs()
    frontier = fit.summary.get("frontier")
    which = (f"the {len(runs)} fitted runs (the compute frontier of {frontier['of']} rows; "
             "the rows above it were not fitted)" if frontier else f"the {len(runs)} fitted runs")

    with np.errstate(over="ignore"):
        _, new = model_draws(fit, runs, np.random.default_rng(seed))
    lo, hi = np.quantile(np.minimum(new, 1e300), [0.05, 0.95], axis=0)
    out = int(np.sum((runs.y < lo) | (runs.y > hi)))
    share = out / len(runs)
    verdict = ("" if share <= 0.2 else " <b class='bad'>Far more than the 10% a law that "
               "suits the data would leave out: read the forecast with care.</b>")
    if "nu" in fit.idata.posterior and (nu := float(np.median(fit.draws("nu")))) < 1.0:
        verdict += (f" <b class='bad'>The noise's degrees of freedom nu has median {nu:.2g}, "
                    "below 1 (tails heavier than Cauchy): the law leaves many runs to the tails "
                    "as outliers, so the interval for a new run is very wide and this check says "
                    "little. Look at the figure: does the law suit the runs?</b>")
    return (f"<p>Posterior predictive check on {which}: {out} of {len(runs)} runs "
            f"({share:.0%}) lie outside the 90% interval for a new run at their own compute "
            f"(expect about 10%).{verdict}</p>")


def _extrapolation_note(fit) -> str:
    """Say what extrapolation error the forecasts beyond the runs carry."""
    ext = fit.extrapolation
    if ext.get("method") != "lfo":
        return (f"<p>Forecasts beyond the runs carry the fitted noise only (no extrapolation "
                f"error: {html.escape(ext.get('reason', ''))}).</p>")
    return (f"<p>Beyond the largest run ({ext['flops_max']:.3g} FLOPs), a new run's interval "
            f"also widens by the law's extrapolation error, {ext['kappa_per_decade']:.3g} "
            f"(log units) per decade: measured by refitting without the "
            f"{ext['n_inner_test']} largest runs and scoring them (docs/backtest.md).</p>")


def render_html(fit, runs, figures: list[Figure], extras: dict, *, note: str = "",
                budget: float | None = None, seed: int = 0) -> str:
    """Return the report page: tables and the figures embedded as base64 PNG.

    Parameters
    ----------
    fit : forecast.inference.fitting.Fit
        The fit.
    runs : forecast.runs.Runs
        The runs it was made from.
    figures : list of Figure
        Rendered figures.
    extras : dict
        ``emergence``, ``backtest`` (a list) and ``compare`` results, each optional.
    note : str
        A note on the data shown (e.g. that the runs were rebuilt from ``fit.nc``).
    budget : float, optional
        Compute budget in FLOPs: adds the forecast at it.
    seed : int
        Seed of the new-run noise (as for the figures).

    Returns
    -------
    str
        The HTML document.
    """
    e = html.escape
    summary = fit.summary or {}
    params, divergences, problems = _diagnostics(fit, summary)
    by_name = {f.name: f for f in figures}
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>forecast report: "
           f"{e(fit.law.name)} fit of {e(fit.y_name)}</title><style>{CSS}</style></head><body>",
           f"<h1>Scaling-law fit: {e(fit.law.name)} law of <code>{e(fit.y_name)}</code></h1>",
           f"<p class='sub'><code>{e(fit.law.formula)}</code> &middot; C in FLOPs, N in "
           f"parameters, D in tokens &middot; forecast {e(__version__)}</p>",
           "<h2>Data</h2>", data_table(fit, runs, summary)]
    if note:
        out.append(f"<p class='note'>{e(note)}</p>")
    out += ["<h2>Fit</h2>", _predictive_check(fit, runs, seed), _extrapolation_note(fit)]
    out += [_at_budget(fit, budget, seed)] if budget else []
    out += [_figure_html(by_name["fit"]),
            "<h2>Posterior and diagnostics</h2>",
            f"<p>Divergent transitions: <b class='{'bad' if divergences else 'ok'}'>"
            f"{divergences}</b>. Checks: R-hat &le; 1.01 and bulk ESS &ge; 400 per parameter, "
            "no divergences.</p>"]
    if problems:
        out.append("<div class='warn'><b>Warnings.</b><ul>"
                   + "".join(f"<li>{e(p)}</li>" for p in problems) + "</ul></div>")
    else:
        out.append("<div class='okbox'>All diagnostics pass.</div>")
    out += [posterior_table(params), "<p class='note'>Quantiles in raw units (C in FLOPs, N in "
            "parameters, D in tokens); sigma and nu are the scale and degrees of freedom of the "
            "Student-t noise on log(metric).</p>"]
    out += [_figure_html(by_name[n]) for n in ("marginals", "pairs", "ranks")]
    if "groups" in by_name:
        out += ["<h2>Families</h2>", _figure_html(by_name["groups"])]
    if summary.get("allocation"):
        out += ["<h2>Compute-optimal allocation</h2>",
                "<p>Minimising the law's loss at a fixed compute C = 6 N D (Hoffmann et al. "
                "2022, eq. 4), per posterior draw:</p>", allocation_table(summary["allocation"])]
    out.append("<h2>Emergence</h2>")
    em = extras.get("emergence")
    if em:
        out.append(f"<p>Compute (log10 FLOPs) at which the k-step task's success crosses "
                   f"{em['threshold']:g}; link <code>{e(str(em['link']))}</code>, "
                   f"{em['n_draws']} draws. Widths: decades between success 0.1 and 0.9.</p>")
        out.append(crossing_table(em))
        out += [f"<p class='note'>note: {e(n)}</p>" for n in em.get("notes", [])]
        out.append(_figure_html(by_name["emergence"]))
    else:
        out.append("<p class='note'>No emergence.json in this folder: run <code>forecast "
                   "emergence --fit DIR --steps K</code>, then the report again.</p>")
    if extras.get("backtest"):
        out += ["<h2>Backtest</h2>", backtest_table(extras["backtest"]),
                _figure_html(by_name["calibration"])]
    if extras.get("compare") is not None:
        out += ["<h2>Law comparison</h2>", compare_table(extras["compare"])]
    out += ["<h2>Plan</h2>", _figure_html(by_name["plan"])] if "plan" in by_name else []
    out.append("</body></html>")
    return "\n".join(out)


def make_report(folder: str | Path = "forecast-out", *, fit=None, budget: float | None = None,
                seed: int = 0, dpi: int = 100, task: str | None = None) -> Path:
    """Write ``folder/report.html`` and ``folder/figures/*.png`` for the fit in ``folder``.

    Parameters
    ----------
    folder : str or Path
        A fit folder (``forecast fit --out``).
    fit : forecast.inference.fitting.Fit, optional
        The fit saved in ``folder``, if in memory (else loaded); with ``--task``, ``task``'s.
    budget : float, optional
        Compute budget in FLOPs to mark on the fit; by default the budget of the fit's
        allocation or of ``emergence.json``, if any.
    seed : int
        Seed of the new-run noise and of the pair plot's thinning.
    dpi : int
        Resolution of the PNG files.

    Returns
    -------
    Path
        The path of ``report.html``.

    Raises
    ------
    InputError
        If the folder holds no fit, or a result file in it is not valid JSON.
    """
    from forecast.inference.fitting import load_fit

    folder = Path(folder)
    fit = (fit if fit is not None else load_fit(folder)).one_task(task)
    runs, note = fit_runs(fit)
    extras = {"emergence": read_extra(folder, "emergence.json"),
              "backtest": read_extra(folder, "backtest.json"),
              "compare": read_extra(folder, "compare.json"),
              "plan": read_extra(folder, "plan.json")}
    if isinstance(extras["backtest"], dict):
        extras["backtest"] = [extras["backtest"]]
    _check_extras(folder, extras)
    if budget is None:
        budget = ((fit.summary.get("allocation") or {}).get("budget")
                  or (extras["emergence"] or {}).get("budget"))
    figures = _figures(fit, runs, extras, budget, seed, dpi)
    page = render_html(fit, runs, figures, extras, note=note, budget=budget, seed=seed)
    for fig in figures:
        atomic_write(folder / "figures" / f"{fig.name}.png",
                     lambda tmp, png=fig.png: Path(tmp).write_bytes(png))
    return atomic_write(folder / "report.html",
                        lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
