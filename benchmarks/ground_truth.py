"""Ground truth: forecast when an 8-step task passes 50% exact match, from the runs below it.

Usage::

    python benchmarks/ground_truth.py [RUNS.csv] [--draws 1000] [--tune 1000] [--chains 4]
        [--seed 0] [--figure docs/figures/ground_truth.png] [--doc docs/ground-truth.md]
        [--block ground-truth] [--lead 0] [--runs-fitted all frontier]

Defaults: ``fixtures/harness_addition.csv`` (the harness's ``default`` preset: 8-digit addition),
4 chains x 1000 draws after 1000 tuning steps, seed 0; ``fixtures/harness_lookup.csv`` (the
``lookup`` preset) goes through the same steps. Both tasks answer with decimal digits, so the
chance level below is the same. Steps, each through the library:

1. the observed crossing: the least compute at which ``exact_k8`` reaches 0.5, interpolated in
   ``log10 C`` (:func:`forecast.questions.crossings.observed_crossing`);
2. the fits: the ``power`` law of ``step_loss`` on the runs *strictly below* that compute (all
   of them, and separately only those on the compute frontier), once
   alone (for the ``exp`` link) and once with the jointly fitted ``weibull`` link to
   ``step_acc`` (:func:`forecast.inference.fitting.fit`), the link's floor fixed at the chance
   level of a decimal digit (0.1) and, as a check of that choice, at the default 0;
3. the forecasts: :func:`forecast.questions.crossings.crossing_scores` (which calls
   :func:`forecast.questions.emergence.emergence`): the 90% interval of ``log10 C*`` for k = 8,
   whether the observed crossing lies inside it, the error of the median in decades and ``p_never``;
4. the composition models against the measured exact match, on every checkpoint with
   ``0.05 < exact_k8 < 0.95``: ``prod_i pos_acc_i``, ``step_acc^8`` and ``exp(-8 step_loss)``.

It prints the tables (Markdown); ``--doc`` also writes them into that file between the markers
``<!-- BLOCK:begin -->`` and ``<!-- BLOCK:end -->`` (``--block``, default ``ground-truth``),
and ``--figure`` saves :func:`ground_truth_figure`.

The law, the links and their priors were fixed before any forecast was compared with an
observation. Fitting the compute frontier (``--runs-fitted frontier``) was added later, after
fitting every checkpoint had failed on both tasks; see :data:`RUN_SETS` and
``docs/ground-truth.md``, which also gives the replicate (another seed) it was then checked on.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from forecast.errors import FitError
from forecast.inference.fitting import SamplerSettings, fit
from forecast.laws import predict
from forecast.laws.compose import chain, heterogeneous
from forecast.laws.links import exp_link
from forecast.questions.crossings import crossing_scores, observed_crossing
from forecast.questions.emergence import emergence, step_success
from forecast.runs import Runs, read_runs

ROOT = Path(__file__).resolve().parents[1]
K = 8
THRESHOLD = 0.5
BAND = (0.05, 0.95)
CHANCE = 0.1  # a decimal digit guessed at random
# (label, link, accuracy column, user priors): fixed before looking at any forecast.
LINKS = (
    ("exp", "exp", None, {}),
    ("weibull, floor 0.1", "weibull", "step_acc",
     {"floor": {"dist": "Fixed", "value": CHANCE}}),
    ("weibull, floor 0", "weibull", "step_acc", {}),
)
# Which runs below the crossing are fitted. "all": every checkpoint, as first registered.
# "frontier": only the compute frontier (Runs.frontier, `forecast fit --frontier`), added after
# "all" failed on both tasks: the crossing is a frontier quantity (the least compute at which
# *any* model passes), while a law fitted to every checkpoint describes a typical checkpoint,
# most of them early checkpoints of large models that spend their compute badly.
RUN_SETS = ("all", "frontier")


def column(runs: Runs, name: str) -> np.ndarray:
    """A numeric column of the runs table."""
    return np.asarray(runs.frame[name].astype(float), dtype=float)


def proxy_gaps(runs: Runs, k: int = K, band: tuple[float, float] = BAND) -> dict:
    """How far three composition models are from the measured ``exact_k{k}``.

    On the rows with ``band[0] < exact_k{k} < band[1]`` (where the metric is neither floor nor
    ceiling), the mean and largest absolute difference of ``prod_i pos_acc_i`` (independent,
    heterogeneous steps), ``step_acc^k`` (identical steps) and ``exp(-k step_loss)`` (the exp
    link on the measured per-step loss).

    Returns
    -------
    dict
        ``n`` rows, and per model (``prod_pos_acc``, ``step_acc_k``, ``exp_step_loss``) its
        ``mean`` and ``max`` absolute difference and ``bias`` (mean of model minus observed).
    """
    exact = column(runs, f"exact_k{k}")
    rows = (exact > band[0]) & (exact < band[1])
    models = {
        "prod_pos_acc": heterogeneous([column(runs, f"pos_acc_{i}") for i in range(1, k + 1)]),
        "step_acc_k": chain(column(runs, "step_acc"), k),
        "exp_step_loss": chain(exp_link(column(runs, "step_loss")), k),
    }
    out: dict = {"n": int(rows.sum()), "k": k, "band": list(band)}
    for name, value in models.items():
        diff = value[rows] - exact[rows]
        out[name] = {"mean": float(np.mean(np.abs(diff))), "max": float(np.max(np.abs(diff))),
                     "bias": float(np.mean(diff))}
    return out


def forecast_one(fit_runs: Runs, runs: Runs, cutoff: float, label: str, link: str,
                 acc: str | None, priors: dict, settings: SamplerSettings,
                 run_set: str = "all") -> dict:
    """Fit ``fit_runs`` (or their compute frontier) and score the k = 8 crossing against ``runs``.

    Returns
    -------
    dict
        ``label``, ``link``, ``method`` (the link's label) and ``run_set``, the crossing scores
        of :func:`forecast.questions.crossings.crossing_scores`
        (``forecast`` quantiles, ``p_never``, ``error_decades``, ``inside_90`` ...), the fit's
        parameter medians and 90% intervals, divergences, warnings and seconds, and the curves
        for the figure (``hard``: the forecast ``P_8``; ``loss``: the law's mean); only
        those four and ``failed`` (the first line of the error) if sampling failed.
    """
    method = label  # the link's label, shared by both run sets (it picks the figure's colour)
    if run_set == "frontier":
        label, fit_runs = f"{label}, frontier", fit_runs.frontier()
    t0 = time.perf_counter()
    try:
        result = fit(fit_runs, "power", priors=priors, settings=settings, acc=acc)
    except FitError as exc:  # reported as a row of the table, not hidden
        return {"label": label, "link": link, "method": method, "run_set": run_set,
                "failed": str(exc).splitlines()[0]}
    seconds = time.perf_counter() - t0
    scores = crossing_scores(result, runs, [K], cutoff, threshold=THRESHOLD, link=link)[0]
    curves = emergence(step_success(result, link), [K], threshold=THRESHOLD)["curves"]
    grid = np.power(10.0, np.asarray(curves["log10_flops"]))
    raw = {name: v[:, None] for name, v in result.raw().items()}
    loss = np.quantile(predict(result.law, raw, C=grid[None, :]), [0.05, 0.5, 0.95], axis=0)
    params = {name: {q: p[q] for q in ("median", "q05", "q95")}
              for name, p in result.summary["params"].items()}
    return {"label": label, "link": link, "method": method, "run_set": run_set,
            "n_fit": len(fit_runs), **scores, "params": params,
            "divergences": result.summary["divergences"],
            "warnings": result.summary["warnings"][len(fit_runs.warnings):],
            "seconds": seconds, "curves": {"flops": grid.tolist(), "hard": curves["hard"][0],
                                           "loss": loss.tolist()}}


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def tables(observed: float, n_fit: int, n_all: int, results: list[dict], gaps: dict,
           lead: float = 0.0) -> str:
    """The results as Markdown tables (printed, and written into the doc)."""
    unit = "decade" if lead == 1 else "decades"
    below = "it" if lead == 0 else f"log10 C = {observed - lead:.2f}, {lead:g} {unit} before it"
    lines = [
        f"Observed: `exact_k{K}` first reaches {THRESHOLD:g} at log10 C = {observed:.2f} "
        f"({10 ** observed:.3g} FLOPs). Fitted: the {n_fit} of {n_all} checkpoints below "
        f"{below}, or (\"frontier\") those of them on the compute frontier.",
        "",
        "| link | runs fitted | forecast log10 C*, median | 90% interval | observed inside | "
        "error of median (decades) | p_never | E | alpha | fit s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "failed" in r:
            lines.append(f"| {r['label']} | | fit failed: {r['failed']} | | | | | | | |")
            continue
        q, p = r["forecast"], r["params"]
        interval = f"{_fmt(q['q05'])} .. {_fmt(q['q95']) if q['q95'] is not None else 'never'}"
        err = r["error_decades"]
        lines.append(
            f"| {r['label']} | {r['n_fit']} | {_fmt(q['median'])} | {interval} | "
            f"{'yes' if r['inside_90'] else 'no'} | {_fmt(err, '+.2f')} | {r['p_never']:.3f} | "
            f"{p['E']['median']:.3g} ({p['E']['q05']:.3g} .. {p['E']['q95']:.3g}) | "
            f"{p['alpha']['median']:.3g} | {r['seconds']:.0f} |")
    done = [r for r in results if "failed" not in r]
    link_rows = [r for r in done if "L0" in r["params"]]
    if link_rows:
        lines += ["", "| link | L0 (nats), median (90%) | s (shape), median (90%) |",
                  "|---|---|---|"]
        for r in link_rows:
            L0, s = r["params"]["L0"], r["params"]["s"]
            lines.append(f"| {r['label']} | {L0['median']:.3g} ({L0['q05']:.3g} .. "
                         f"{L0['q95']:.3g}) | {s['median']:.3g} ({s['q05']:.3g} .. "
                         f"{s['q95']:.3g}) |")
    notes = [f"- {r['label']}: {w}" for r in done for w in r["warnings"]]
    if notes:
        lines += ["", "Fit warnings:", "", *notes]
    lo, hi = gaps["band"]
    lines += [
        "", f"Composition models against the measured `exact_k{K}` on the {gaps['n']} "
        f"checkpoints with {lo:g} < exact_k{K} < {hi:g}:", "",
        "| model | mean abs. difference | largest | mean signed (model - observed) |",
        "|---|---|---|---|",
    ]
    names = {"prod_pos_acc": f"prod_i pos_acc_i (i = 1..{K})",
             "step_acc_k": f"step_acc^{K}", "exp_step_loss": f"exp(-{K} step_loss)"}
    for key, name in names.items():
        g = gaps[key]
        lines.append(f"| `{name}` | {g['mean']:.3f} | {g['max']:.3f} | {g['bias']:+.3f} |")
    return "\n".join(lines)


def ground_truth_figure(runs: Runs, results: list[dict], observed: float, *, k: int = K,
                        fitted_below: float | None = None):
    """Three panels: the per-step loss and its fitted laws, ``P_k`` forecast against exact
    match, and the composition models against exact match.

    Parameters
    ----------
    runs : Runs
        All checkpoints (the fitted ones are those below ``10 ** observed`` FLOPs).
    results : list of dict
        :func:`forecast_one` results (their ``curves``).
    observed : float
        ``log10`` compute of the observed crossing.
    k : int
        Chain length.
    fitted_below : float, optional
        Compute below which runs were fitted (shaded); default ``10 ** observed``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15.0, 4.6), layout="constrained")
    loss_ax, hard_ax, proxy_ax = fig.subplots(1, 3)
    flops, cut = runs.flops, 10.0 ** observed
    fitted = cut if fitted_below is None else fitted_below
    sizes = column(runs, "n_embd")
    colors = ["#1f5fa8", "#e08a1e", "#2a9d5c", "#8e44ad"]
    for ax, y in ((loss_ax, column(runs, "step_loss")), (hard_ax, column(runs, f"exact_k{k}"))):
        for d in np.unique(sizes):
            m = sizes == d
            order = np.argsort(flops[m])
            ax.plot(flops[m][order], y[m][order], "o-", color="0.45", ms=3, lw=0.6,
                    alpha=0.8, gid=f"runs_d{int(d)}")
        ax.axvspan(flops.min() / 1.5, fitted, color="0.85", alpha=0.5, lw=0, label="fitted runs")
        ax.axvline(cut, color="#b22222", ls="--", lw=1.2, label=f"observed crossing (k = {k})")
        ax.set_xscale("log")
        ax.set_xlabel("training compute (FLOPs)")
        ax.grid(True, alpha=0.3)
    link_colors = dict(zip([m[0] for m in LINKS], colors, strict=False))
    for r in results:
        if "failed" in r:
            continue
        color = link_colors.get(r.get("method", r["label"]), colors[-1])
        ls = "--" if r.get("run_set") == "frontier" else "-"
        c = r["curves"]
        grid = np.asarray(c["flops"])
        lo, med, hi = np.asarray(c["loss"])
        loss_ax.plot(grid, med, color=color, lw=1.6, ls=ls, label=f"law, {r['label']} fit")
        loss_ax.fill_between(grid, lo, hi, color=color, alpha=0.1, lw=0)
        hard = c["hard"]
        hard_ax.plot(grid, hard["median"], color=color, lw=1.8, ls=ls,
                     label=f"forecast, {r['label']}", gid=f"forecast_{r['label']}")
        hard_ax.fill_between(grid, hard["q05"], hard["q95"], color=color, alpha=0.1, lw=0)
    for ax in (loss_ax, hard_ax):
        ax.set_xlim(flops.min() / 1.5, flops.max() * 30)
    loss_ax.set_ylim(0, 1.05 * float(np.max(column(runs, "step_loss"))))
    loss_ax.set_ylabel("per-step loss (nats), step_loss")
    loss_ax.set_title("per-step loss of every checkpoint and the fitted laws", fontsize=10)
    hard_ax.set_ylim(-0.02, 1.02)
    hard_ax.axhline(THRESHOLD, color="0.3", ls=":", lw=1)
    hard_ax.set_ylabel(f"exact match, k = {k}")
    hard_ax.set_title(f"forecast P_{k} (median, 90% band) against observed", fontsize=10)
    exact = column(runs, f"exact_k{k}")
    proxies = (
        (heterogeneous([column(runs, f"pos_acc_{i}") for i in range(1, k + 1)]),
         "prod_i pos_acc_i", "#1f5fa8"),
        (chain(column(runs, "step_acc"), k), f"step_acc^{k}", "#e08a1e"),
        (chain(exp_link(column(runs, "step_loss")), k), f"exp(-{k} step_loss)", "#b22222"),
    )
    for value, name, color in proxies:
        proxy_ax.plot(exact, value, "o", ms=4, color=color, alpha=0.75, label=name,
                      gid=f"proxy_{name}")
    proxy_ax.plot([0, 1], [0, 1], color="0.3", lw=1, ls=":")
    proxy_ax.set_xlabel(f"measured exact match, k = {k}")
    proxy_ax.set_ylabel("composition model")
    proxy_ax.set_title("exact match is the product of per-step accuracies", fontsize=10)
    proxy_ax.grid(True, alpha=0.3)
    for ax in (loss_ax, hard_ax, proxy_ax):
        ax.legend(fontsize=7, loc="lower left" if ax is loss_ax else "upper left")
    return fig


def write_doc(path: Path, text: str, block: str = "ground-truth") -> None:
    """Replace the text between the markers of ``block`` in ``path`` with ``text``."""
    begin, end = f"<!-- {block}:begin -->", f"<!-- {block}:end -->"
    doc = path.read_text()
    head, rest = doc.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{text}\n{end}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="?", default=str(ROOT / "fixtures" / "harness_addition.csv"))
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--tune", type=int, default=1000)
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--figure", type=Path, help="save the figure here (PNG)")
    ap.add_argument("--doc", type=Path, help="write the tables into this Markdown file")
    ap.add_argument("--lead", type=float, default=0.0,
                    help="fit only the runs this many decades below the observed crossing "
                         "(default 0: every run below it, the check of issue 4)")
    ap.add_argument("--runs-fitted", nargs="+", choices=RUN_SETS, default=list(RUN_SETS),
                    help="fit every checkpoint below the crossing, the compute frontier, or both")
    ap.add_argument("--block", default="ground-truth",
                    help="the markers in --doc to write between: <!-- BLOCK:begin/end -->")
    a = ap.parse_args()
    runs = read_runs(a.runs, y="step_loss", law="power")
    observed = observed_crossing(runs.flops, column(runs, f"exact_k{K}"), THRESHOLD)
    if observed is None:
        raise SystemExit(f"{a.runs}: exact_k{K} never reaches {THRESHOLD}: nothing to check")
    cutoff = 10.0 ** (observed - a.lead)
    fit_runs = runs.subset(runs.flops < cutoff)
    settings = SamplerSettings(draws=a.draws, tune=a.tune, chains=a.chains, seed=a.seed)
    results = [forecast_one(fit_runs, runs, cutoff, *method, settings, run_set)
               for run_set in a.runs_fitted for method in LINKS]
    text = tables(observed, len(fit_runs), len(runs), results, proxy_gaps(runs), a.lead)
    print(text)
    if a.figure:
        fig = ground_truth_figure(runs, results, observed, fitted_below=cutoff)
        fig.savefig(a.figure, dpi=110)
        print(f"\nfigure: {a.figure}")
    if a.doc:
        write_doc(a.doc, text, a.block)
        print(f"tables written into {a.doc}")


if __name__ == "__main__":
    main()
