"""The ground-truth benchmark's pieces that need no sampling: composition gaps, doc, figure."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, ROOT

from forecast.runs import runs_from_frame


def _load():
    spec = importlib.util.spec_from_file_location("ground_truth",
                                                  ROOT / "benchmarks" / "ground_truth.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gt = _load()


def _frame(pos_acc: np.ndarray, exact: np.ndarray, step_loss: np.ndarray) -> pd.DataFrame:
    n = len(exact)
    frame = pd.DataFrame({"flops": np.geomspace(1e9, 1e12, n), "step_loss": step_loss,
                          "step_acc": pos_acc.mean(axis=1), "exact_k8": exact,
                          "n_embd": 16})
    for i in range(8):
        frame[f"pos_acc_{i + 1}"] = pos_acc[:, i]
    return frame


def test_proxy_gaps_zero_for_independent_identical_steps():
    p = np.array([0.5, 0.8, 0.9, 0.95, 0.99])
    frame = _frame(np.repeat(p[:, None], 8, axis=1), p ** 8, -np.log(p))
    gaps = gt.proxy_gaps(runs_from_frame(frame, y="step_loss"))
    # 0.8^8 .. 0.99^8 (0.17 .. 0.92) are inside (0.05, 0.95); 0.5^8 = 0.0039 is not
    assert gaps["n"] == int(np.sum((p ** 8 > 0.05) & (p ** 8 < 0.95)))
    for key in ("prod_pos_acc", "step_acc_k", "exp_step_loss"):
        assert gaps[key]["max"] == pytest.approx(0.0, abs=1e-12)


def test_proxy_gaps_closed_form_for_uneven_steps():
    # one position at 0.6, the other seven at 1: exact = prod = 0.6, step_acc = 0.95
    pos = np.ones((5, 8))
    pos[:, 7] = 0.6
    exact = np.array([0.6, 0.5, 0.7, 0.6, 0.6])
    frame = _frame(pos, exact, np.full(5, 0.1))
    gaps = gt.proxy_gaps(runs_from_frame(frame, y="step_loss"))
    assert gaps["n"] == 5
    assert gaps["prod_pos_acc"]["mean"] == pytest.approx((0.0 + 0.1 + 0.1) / 5)
    assert gaps["prod_pos_acc"]["max"] == pytest.approx(0.1)
    assert gaps["prod_pos_acc"]["bias"] == pytest.approx(0.0)
    assert gaps["step_acc_k"]["bias"] == pytest.approx(0.95 ** 8 - 0.6)
    assert gaps["exp_step_loss"]["max"] == pytest.approx(0.7 - math.exp(-0.8))


def test_proxy_gaps_on_the_harness_fixture_match_its_readme():
    runs = gt.read_runs(FIXTURES / "harness_addition.csv", y="step_loss", law="power")
    gaps = gt.proxy_gaps(runs)
    assert gaps["n"] == 7
    assert gaps["prod_pos_acc"]["mean"] < 0.01
    assert gaps["exp_step_loss"]["bias"] < -0.2  # the exp link is far below exact match


def test_write_doc_replaces_only_between_its_block_markers(tmp_path):
    doc = tmp_path / "doc.md"
    blocks = "<!-- ground-truth:begin -->\n{}\n<!-- ground-truth:end -->\nmiddle\n" \
             "<!-- lookup:begin -->\n{}\n<!-- lookup:end -->\n"
    doc.write_text("head\n" + blocks.format("old", "old lookup") + "tail\n")
    gt.write_doc(doc, "new table")
    assert doc.read_text() == "head\n" + blocks.format("new table", "old lookup") + "tail\n"
    gt.write_doc(doc, "new lookup", block="lookup")
    assert doc.read_text() == "head\n" + blocks.format("new table", "new lookup") + "tail\n"


def test_figure_draws_the_runs_and_the_forecast_curves():
    runs = gt.read_runs(FIXTURES / "harness_addition.csv", y="step_loss", law="power")
    grid = np.geomspace(1e8, 1e14, 5)
    hard = {"median": [0.0, 0.1, 0.5, 0.9, 1.0], "q05": [0.0] * 5, "q95": [1.0] * 5}
    results = [{"label": "exp", "link": "exp",
                "curves": {"flops": grid.tolist(), "hard": hard, "loss": [[2.0] * 5] * 3}},
               {"label": "weibull", "link": "weibull", "failed": "sampling failed"}]
    fig = gt.ground_truth_figure(runs, results, 11.27)
    loss_ax, hard_ax, proxy_ax = fig.axes
    line = next(li for li in hard_ax.lines if li.get_gid() == "forecast_exp")
    np.testing.assert_allclose(line.get_ydata(), hard["median"])
    assert not any(li.get_gid() == "forecast_weibull" for li in hard_ax.lines)
    runs16 = next(li for li in hard_ax.lines if li.get_gid() == "runs_d16")
    assert len(runs16.get_xdata()) == 20
    prod = next(li for li in proxy_ax.lines if li.get_gid() == "proxy_prod_i pos_acc_i")
    np.testing.assert_allclose(prod.get_xdata(), gt.column(runs, "exact_k8"))


def test_tables_name_the_lead_and_the_frontier_rows():
    q = {"q05": 11.4, "q25": 11.5, "median": 11.6, "q75": 11.7, "q95": None}
    params = {name: {"median": 0.5, "q05": 0.1, "q95": 0.9} for name in ("E", "alpha", "s", "L0")}
    results = [{"label": "weibull, floor 0.1, frontier", "link": "weibull", "n_fit": 22,
                "forecast": q, "inside_90": True, "error_decades": 0.14, "p_never": 0.1,
                "params": params, "seconds": 3.0, "warnings": []}]
    gaps = {"n": 3, "band": [0.05, 0.95], **{k: {"mean": 0.0, "max": 0.0, "bias": 0.0} for k in
                                            ("prod_pos_acc", "step_acc_k", "exp_step_loss")}}
    text = gt.tables(11.46, 41, 100, results, gaps, lead=1.0)
    assert "the 41 of 100 checkpoints below log10 C = 10.46, 1 decade before it" in text
    row = next(line for line in text.splitlines() if line.startswith("| weibull, floor 0.1, fr"))
    assert row.split(" | ")[1:7] == ["22", "11.60", "11.40 .. never", "yes", "+0.14", "0.100"]
    assert "below it, or" in gt.tables(11.46, 81, 100, results, gaps)
