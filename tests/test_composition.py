"""One task at several lengths (``--k``): how success falls with k, fitted jointly with the law.

Recovery of a known ``gamma_k`` from accuracies simulated from the model, exact checks of the
composed mean and of the crossings against closed forms, the CLI on real files (fit, backtest,
emergence, compare), and bad input.
"""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import named_rng, one_line_error, within_sd

from forecast.cli import main
from forecast.inference.fitting import fit
from forecast.inference.sampling import SamplerSettings
from forecast.laws import get_law
from forecast.laws.compose import logistic_crossing, quantiles
from forecast.laws.links import get_link
from forecast.questions.emergence import StepSuccess, emergence
from forecast.runs import runs_from_frame

FAST = SamplerSettings(draws=400, tune=400, chains=2, seed=5)
FAST_ARGS = ["--draws", "300", "--tune", "300", "--chains", "2", "--seed", "1"]
TRUTH = {"s": 1.3, "C50": 10 ** 21.3, "tau": 0.8, "sigma_logit": 0.3, "gamma_k": 1.6}


def simulate_lengths(rng, n_groups=6, per_group=5, items=2000, lengths=(2, 3), **truth):
    """Each model of several families on one task at several lengths, from the ``--k`` model.

    The shortest length's accuracy is the logistic law at the family's compute ``C exp(offset)``;
    length ``k``'s is that to the power ``(k / k_ref)^gamma_k``; each row's count of ``items``
    is binomial at ``sigmoid(logit(mean) + e)``, ``e ~ Normal(0, sigma_logit)``.
    """
    t = {**TRUTH, **truth}
    offsets = t["tau"] * rng.standard_normal(n_groups)
    group = np.repeat(np.arange(n_groups), per_group)
    logc = rng.uniform(np.log(1e20), np.log(1e23), group.size)
    base = 1 / (1 + np.exp(-t["s"] * (logc + offsets[group] - np.log(t["C50"]))))
    rows = []
    for k in lengths:
        mean = np.clip(base ** ((k / lengths[0]) ** t["gamma_k"]), 1e-9, 1 - 1e-9)
        eta = np.log(mean) - np.log1p(-mean) + t["sigma_logit"] * rng.standard_normal(mean.size)
        acc = rng.binomial(items, 1 / (1 + np.exp(-eta))) / items
        rows.append(pd.DataFrame({"model": [f"m{i}" for i in range(group.size)],
                                  "flops": np.exp(logc), "family": [f"fam{g}" for g in group],
                                  "k": k, "value": acc}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def known_fit():
    frame = simulate_lengths(named_rng("composition-recovery"))
    runs = runs_from_frame(frame, y="value", law="logistic")
    return runs, fit(runs, "logistic", settings=FAST, extrapolation="none", group="family",
                     trials=2000, k="k")


@pytest.mark.slow
def test_a_known_gamma_is_recovered_and_summarised(known_fit):
    runs, result = known_fit
    assert within_sd(TRUTH["gamma_k"], draws=result.draws("gamma_k"))
    assert within_sd(TRUTH["s"], draws=result.draws("s"))
    comp = result.summary["composition"]
    assert comp["k"] == "k" and comp["k_ref"] == 2.0 and comp["lengths"] == [2.0, 3.0]
    assert comp["steps"] == "fitted" and "gamma_k" in result.summary["params"]
    # the i.i.d. composition would put gamma_k at 1: the data rule it out
    assert comp["gamma_k"]["q05"] > 1.0, comp["gamma_k"]


@pytest.mark.slow
def test_the_composed_mean_is_the_shortest_lengths_to_the_power_of_the_ratio(known_fit):
    runs, result = known_fit
    grid = runs_from_frame(pd.DataFrame({"flops": [1e21, 1e22, 1e21, 1e22, 1e20, 1e23],
                                         "k": [2, 2, 3, 6, 2, 2],
                                         "family": "fam0", "value": 0.5}),
                           y="value", law="logistic")
    mean = result.mean(grid, np.random.default_rng(0))
    gamma = result.draws("gamma_k")
    base = mean[:, :2]
    assert np.allclose(mean[:, 2], base[:, 0] ** (1.5 ** gamma))
    assert np.allclose(mean[:, 3], base[:, 1] ** (3.0 ** gamma))
    # the fitted rows come back with their lengths
    assert np.array_equal(np.sort(result.fitted_runs().column("k")), np.sort(runs.column("k")))


def test_learnt_crossings_match_the_closed_form_draw_by_draw():
    rng = named_rng("composition-crossing")
    n = 300
    raw = {"floor": np.zeros((n, 1)), "s": rng.uniform(0.8, 1.5, (n, 1)),
           "C50": 10 ** rng.uniform(21, 22, (n, 1))}
    gamma = rng.uniform(0.7, 1.8, (n, 1))
    steps = StepSuccess(get_law("logistic"), get_link("logistic"), raw, from_k=2,
                        k_power=gamma)
    out = emergence(steps, [2, 3, 8], threshold=0.5)
    for row in out["steps"]:
        k = row["k"]
        # P_k = acc_2^((k/2)^gamma) >= 0.5  <=>  acc_2 >= 0.5^(1 / (k/2)^gamma)
        expected = logistic_crossing(raw["floor"], raw["s"], raw["C50"],
                                     0.5 ** (1.0 / (k / 2) ** gamma))[:, 0]
        q = quantiles(expected)
        for name in ("q05", "median", "q95"):
            assert row["log10_flops"][name] == pytest.approx(q[name], abs=1e-6)
    assert out["gamma_k"]["median"] == pytest.approx(float(np.median(gamma)))
    # at gamma = 1 it is the i.i.d. chain of the per-step p = acc_2^(1/2)
    iid = StepSuccess(get_law("logistic"), get_link("logistic"), raw, from_k=2,
                      k_power=np.ones((n, 1)))
    plain = StepSuccess(get_law("logistic"), get_link("logistic"), raw, from_k=2)
    a, b = emergence(iid, [5], threshold=0.3), emergence(plain, [5], threshold=0.3)
    assert a["steps"][0]["log10_flops"]["median"] == pytest.approx(
        b["steps"][0]["log10_flops"]["median"], abs=1e-6)


@pytest.fixture
def lengths_csv(tmp_path):
    frame = simulate_lengths(named_rng("composition-cli"), n_groups=4, per_group=4)
    path = tmp_path / "lengths.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_fit_emergence_and_backtest_cli_use_the_learnt_composition(tmp_path, lengths_csv):
    runner = CliRunner()
    out = tmp_path / "fit"
    result = runner.invoke(main, ["fit", str(lengths_csv), "--law", "logistic", "--y", "value",
                                  "--group", "family", "--trials", "2000", "--k", "k",
                                  "--out", str(out), "--extrapolation", "none", *FAST_ARGS])
    assert result.exit_code == 0, result.output
    assert "lengths 2, 3 by 'k'" in result.output and "gamma_k" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["composition"]["steps"] == "fitted"
    em = runner.invoke(main, ["emergence", "--fit", str(out), "--steps", "2,3,6", "--out",
                              str(out)])
    assert em.exit_code == 0, em.output
    assert "P_k = p^(2 (k/2)^gamma_k), gamma_k fitted (--k)" in em.output
    body = json.loads((out / "emergence.json").read_text())
    assert body["gamma_k"]["q05"] <= body["gamma_k"]["median"] <= body["gamma_k"]["q95"]
    medians = [r["log10_flops"]["median"] for r in body["steps"]]
    assert medians == sorted(medians)  # a longer task crosses later
    bt = runner.invoke(main, ["backtest", str(lengths_csv), "--law", "logistic", "--y", "value",
                              "--group", "family", "--trials", "2000", "--k", "k",
                              "--composition", "iid", "--cutoff", "3e21", "--json",
                              "--boot", "20", "--extrapolation", "none", *FAST_ARGS])
    assert bt.exit_code == 0, bt.output
    res = json.loads(bt.output[bt.output.index("{"):])
    assert res["composition"]["steps"].startswith("i.i.d.")
    lengths = res["by_length"]["lengths"]
    assert set(lengths) == {"2", "3"}
    assert sum(p["n_test"] for p in lengths.values()) == res["n_test"]
    assert sorted({r["k"] for r in res["runs"]}) == [2.0, 3.0]
    assert "k=2" in res["baseline_params"] and "k=3" in res["baseline_params"]


@pytest.mark.slow
def test_compare_ranks_the_fitted_and_the_iid_composition_by_loo(lengths_csv):
    result = CliRunner().invoke(main, ["compare", str(lengths_csv), "--laws", "logistic", "--y",
                                       "value", "--group", "family", "--trials", "2000", "--k",
                                       "k", "--json", *FAST_ARGS])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output[result.output.index("{"):])
    rows = {r["composition"]: r for r in body["compositions"]}
    assert set(rows) == {"fitted", "iid"} and body["best_loo"] in rows
    assert rows["iid"]["gamma_k"]["median"] == 1.0
    assert body["elpd_diff"] == pytest.approx(rows["fitted"]["elpd_loo"]
                                              - rows["iid"]["elpd_loo"])


@pytest.mark.parametrize("args, fragment", [
    (["fit", "{csv}", "--y", "k", "--k", "k"], "--k applies to an accuracy law"),
    (["fit", "{csv}", "--law", "logistic", "--y", "value", "--k", "depth"], "no column 'depth'"),
    (["fit", "{one}", "--law", "logistic", "--y", "value", "--k", "k"],
     "needs the task at two or more lengths"),
    (["fit", "{half}", "--law", "logistic", "--y", "value", "--k", "k"],
     "is not a whole number of steps"),
    (["fit", "{csv}", "--law", "logistic", "--y", "value", "--k", "k", "--priors", "{floor}"],
     "chance floor must be fixed at 0"),
    (["compare", "{csv}", "--laws", "power", "--y", "value", "--k", "k"],
     "compares compositions of one accuracy law"),
])
def test_bad_k_input_is_one_line(tmp_path, lengths_csv, args, fragment):
    frame = pd.read_csv(lengths_csv)
    frame[frame.k == 2].to_csv(tmp_path / "one.csv", index=False)
    frame.assign(k=frame.k + 0.5).to_csv(tmp_path / "half.csv", index=False)
    (tmp_path / "floor.toml").write_text('[floor]\ndist = "Fixed"\nvalue = 0.25\n')
    paths = {"{csv}": lengths_csv, "{one}": tmp_path / "one.csv",
             "{half}": tmp_path / "half.csv", "{floor}": tmp_path / "floor.toml"}
    one_line_error([paths.get(a, a) for a in args] + ["--out", tmp_path / "o"]
                    if args[0] == "fit" else [paths.get(a, a) for a in args], fragment)


@pytest.mark.slow
def test_from_k_is_refused_for_a_fit_that_learnt_its_composition(tmp_path, known_fit):
    _, result = known_fit
    result.save(tmp_path / "fit")
    one_line_error(["emergence", "--fit", tmp_path / "fit", "--steps", "4", "--from-k", "3",
                     "--out", tmp_path / "fit"], "drop --from-k")


@pytest.mark.slow
def test_the_report_draws_each_length_against_its_own_curve(known_fit):
    from forecast.report.figures import fit_figure
    from forecast.report.group_figures import groups_figure

    _, result = known_fit
    runs = result.fitted_runs()
    ax = fit_figure(runs, result).axes[0]
    assert "median, k = 3" in [line.get_label() for line in ax.get_lines()]
    three = [c for c in ax.collections if c.get_label() == "runs, k = 3"]
    assert len(three) == 1 and len(three[0].get_offsets()) == int((runs.column("k") == 3).sum())
    fig = groups_figure(result, runs)
    assert fig.axes[1].get_title().endswith("(k = 2)")
