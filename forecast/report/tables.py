"""The report's tables: HTML fragments built from a fit's summary and the files beside it.

Every function returns a string of HTML with numbers formatted by :func:`num`; escaping is
done here, so the page (:mod:`forecast.report.page`) only assembles them.
"""

from __future__ import annotations

import html
import json
import math

import numpy as np

__all__ = ["allocation_table", "backtest_table", "compare_table", "crossing_table",
           "data_table", "fixed", "num", "posterior_table", "records", "table", "value_range"]


def num(x) -> str:
    """Format a number for a table cell: 4 significant digits, ``m×10^e`` outside 1e-3 .. 1e5."""
    if x is None:
        return "&ndash;"
    x = float(x)
    if not math.isfinite(x):
        return html.escape(str(x))
    if 1e3 <= abs(x) < 1e5:
        return f"{x:.0f}"
    if x == 0 or 1e-3 <= abs(x) < 1e5:
        return f"{x:.4g}"
    e = math.floor(math.log10(abs(x)))
    m = x / 10.0 ** e
    if round(abs(m), 3) >= 10:
        m, e = m / 10, e + 1
    return f"{m:.3g}&times;10<sup>{e}</sup>"


def fixed(x, digits: int) -> str:
    """Format a number with ``digits`` decimals (a dash for none)."""
    return "&ndash;" if x is None else f"{float(x):.{digits}f}"


def allocation_table(alloc: dict) -> str:
    """Return the compute-optimal allocation (``fit --budget``) as a table."""
    rows = [[label, num(alloc[key]["median"]), num(alloc[key]["q05"]), num(alloc[key]["q95"])]
            for key, label in (("params", "parameters N*"), ("tokens", "tokens D*"),
                               ("tokens_per_param", "tokens per parameter"),
                               ("loss", "loss at the optimum"))]
    return table(["at " + num(alloc["budget"]) + " FLOPs", "median", "5%", "95%"], rows, "num")


def table(head: list[str] | None, rows: list[list[str]], cls: str = "") -> str:
    """Return an HTML table of ready cells (``head``: the header row, or None)."""
    th = "" if head is None else ("<thead><tr>" + "".join(f"<th>{h}</th>" for h in head)
                                  + "</tr></thead>")
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}">{th}<tbody>{body}</tbody></table>'


def value_range(a) -> str:
    """Return ``min .. max`` of an array, formatted."""
    return f"{num(np.min(a))} .. {num(np.max(a))}"


def data_table(fit, runs, summary: dict) -> str:
    """Return the fitted data and settings as a two-column table."""
    e = html.escape
    sampler = summary.get("sampler") or json.loads(fit.idata.attrs.get("sampler", "{}"))
    rows = [["source", f"<code>{e(str(runs.source))}</code>"],
            ["runs", str(len(runs))],
            ["metric", f"<code>{e(fit.y_name)}</code>, {value_range(runs.y)}"],
            ["compute (FLOPs)", value_range(runs.flops)]]
    if runs.params is not None:
        rows.append(["parameters N", value_range(runs.params)])
    if runs.tokens is not None:
        rows.append(["tokens D", value_range(runs.tokens)])
    rows.append(["law", f"{e(fit.law.name)}: <code>{e(fit.law.formula)}</code>"])
    rows.append(["sampler", e(", ".join(f"{k} {v}" for k, v in sorted(sampler.items())))])
    return table(None, rows, "kv")


def posterior_table(params: dict) -> str:
    """Return posterior quantiles and diagnostics per parameter, bad values marked."""
    from forecast.inference.sampling import ESS_MIN, RHAT_MAX

    rows = []
    for name, p in params.items():
        bad_r = (p["r_hat"] or math.inf) > RHAT_MAX
        bad_e = (p["ess_bulk"] or 0.0) < ESS_MIN
        rows.append([f"<b>{html.escape(name)}</b>", num(p["median"]), num(p["q05"]),
                     num(p["q95"]),
                     f'<span class="{"bad" if bad_r else "ok"}">{fixed(p["r_hat"], 3)}</span>',
                     f'<span class="{"bad" if bad_e else "ok"}">{fixed(p["ess_bulk"], 0)}</span>',
                     fixed(p["ess_tail"], 0)])
    return table(["parameter", "median", "5%", "95%", "R-hat", "ESS bulk", "ESS tail"], rows,
                  "num")


def crossing_table(em: dict) -> str:
    """Return the crossings of ``emergence.json`` per k."""
    budget = em.get("budget") is not None
    head = ["k", "median", "5%", "25%", "75%", "95%", "P(never)"]
    head += ["P(by budget)"] if budget else []
    head += ["10&ndash;90% rise, hard", "soft"]
    rows = []
    for r in em["steps"]:
        q = r["log10_flops"]
        row = [str(r["k"])] + [num(q.get(n)) if q.get(n) is not None else "never"
                               for n in ("median", "q05", "q25", "q75", "q95")]
        row.append(f"{r['p_never']:.3f}")
        if budget:
            row.append(f"{r['p_by_budget']:.3f}")
        w = r.get("width_decades", {})
        row += [num(w.get(kind, {}).get("median")) for kind in ("hard", "soft")]
        rows.append(row)
    return table(head, rows, "num")


def backtest_table(results: list[dict]) -> str:
    """Return scores of each backtest, the model beside the baselines."""
    labels = {"model": "Bayesian model", "baseline": "point fit + bootstrap",
              "baseline_noise": "point fit + residuals",
              "direct": "direct law, log(&minus;log acc) on log C"}
    rows = []
    for r in results:
        for key, label in labels.items():
            if key not in r:
                continue
            s = r[key]
            cov = [f"{100 * s['coverage'][lv]:.0f}%" for lv in sorted(s["coverage"], key=float)]
            rows.append([label, num(r["cutoff"]), f"{r.get('n_fit', '')} / {r.get('n_test', '')}",
                         f"{s['median_ape']:.2f}%", *cov, num(s.get("crps"))])
    levels = sorted(results[0]["model"]["coverage"], key=float)
    return table(["method", "cutoff (FLOPs)", "fit / held out", "median APE",
                   *[f"{lv}% covers" for lv in levels], "CRPS"], rows, "num")


def records(obj) -> list[dict]:
    """Return the rows of a comparison file: a list of dicts, or a dict of dicts keyed by law."""
    if isinstance(obj, dict):
        for key in ("laws", "ranking", "rows", "table"):
            if key in obj:
                return records(obj[key])
        if obj and all(isinstance(v, dict) for v in obj.values()):
            return [{"law": k, **v} for k, v in obj.items()]
    if isinstance(obj, list) and all(isinstance(r, dict) for r in obj):
        return obj
    return []


def compare_table(obj) -> str:
    """Return the table of ``compare.json``, whatever its layout."""
    rows = records(obj)
    cols = [c for c in dict.fromkeys(k for r in rows for k in r)
            if all(isinstance(r.get(c), (str, int, float, bool, type(None))) for r in rows)]
    if not rows or not cols:
        return "<p>compare.json holds no table of laws.</p>"

    def cell(v):
        return num(v) if isinstance(v, (int, float)) and not isinstance(v, bool) \
            else html.escape(str(v))

    return table([html.escape(c) for c in cols], [[cell(r.get(c)) for c in cols] for r in rows],
                  "num")
