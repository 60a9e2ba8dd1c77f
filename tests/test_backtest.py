"""Backtests: the split, the scores against closed forms, predictive draws, the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import named_rng
from scipy.stats import norm

from forecast.cli import main
from forecast.errors import InputError
from forecast.inference.fitting import Fit
from forecast.laws import get_law
from forecast.questions.backtest import crps, score, split_runs
from forecast.questions.crossings import observed_crossing
from forecast.questions.predictive import model_draws
from forecast.runs import read_runs, runs_from_frame


def test_crps_matches_the_normal_closed_form():
    rng = named_rng("crps-normal")
    mu, s = 2.0, 0.5
    y = np.array([2.0, 2.3, 1.0, 4.0])
    draws = rng.normal(mu, s, size=(200_000, 1)).repeat(len(y), axis=1)
    z = (y - mu) / s
    exact = s * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))
    np.testing.assert_allclose(crps(draws, y), exact, rtol=0.01)


def test_crps_of_a_point_forecast_is_the_absolute_error():
    draws = np.full((50, 3), 2.0)
    np.testing.assert_allclose(crps(draws, np.array([2.0, 2.5, 1.0])), [0.0, 0.5, 1.0],
                               atol=1e-12)


def test_score_by_hand_and_calibrated_coverage():
    draws = np.tile(np.linspace(0.0, 2.0, 2001)[:, None], (1, 3))  # uniform on [0, 2]
    s = score(draws, np.array([1.0, 1.8, 0.1]), point=np.array([1.1, 1.8, 0.2]))
    # APEs 10%, 0%, 100% -> median 10%
    assert s["median_ape"] == pytest.approx(10.0)
    # central 50% is [0.5, 1.5]: covers 1.0 only; central 90% is [0.1, 1.9]: covers all three
    assert s["coverage"] == {"50": pytest.approx(1 / 3), "80": pytest.approx(2 / 3),
                             "90": pytest.approx(1.0), "95": pytest.approx(1.0)}
    # draws from the truth cover each level at its nominal rate
    rng = named_rng("score-calibrated")
    n = 4000
    truth = rng.normal(size=n)
    s = score(rng.normal(size=(400, n)), truth)
    for level in ("50", "80", "90", "95"):
        assert s["coverage"][level] == pytest.approx(int(level) / 100, abs=0.03)


def power_frame(n=40):
    flops = np.logspace(17, 21, n)
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(n)], "flops": flops,
                         "loss": 1.8 + 4e5 * flops ** -0.3})


def test_split_at_or_below_the_cutoff():
    runs = runs_from_frame(power_frame())
    fit_runs, test = split_runs(runs, 1e20, "power")
    assert fit_runs.flops.max() <= 1e20 < test.flops.min()
    assert len(fit_runs) + len(test) == 40
    assert list(test.frame["run_id"]) == [f"r{i}" for i in range(40 - len(test), 40)]
    exact = split_runs(runs, float(runs.flops[10]), "power")[0]
    assert len(exact) == 11  # "at or below": the run at the cutoff is fitted


@pytest.mark.parametrize("cutoff, message", [
    (1e17, "leaves 1 run"),
    (2e21, "no run above it"),
    (-1.0, "positive number"),
])
def test_split_rejects_cutoffs_that_leave_nothing_to_do(cutoff, message):
    with pytest.raises(InputError, match=message):
        split_runs(runs_from_frame(power_frame()), cutoff, "power")


def test_model_draws_are_for_a_new_run_with_student_t_noise():
    import arviz as az

    law = get_law("power")
    n = 4000
    rng = named_rng("model-draws")
    post = {"E": np.full((1, n), 1.0), "A": np.full((1, n), 1e3), "alpha": np.full((1, n), 0.3),
            "sigma": np.full((1, n), 0.05), "nu": np.full((1, n), 1e6)}
    result = Fit(az.from_dict(posterior=post), law, {"y": 1.0, "C": 1.0}, {}, "loss")
    runs = runs_from_frame(power_frame(5))
    mean, pred = model_draws(result, runs, rng)
    np.testing.assert_allclose(mean[0], 1.0 + 1e3 * runs.flops ** -0.3)
    # with nu huge the noise is Normal(0, sigma) in log space
    log_ratio = np.log(pred / mean)
    assert np.std(log_ratio, axis=0) == pytest.approx(np.full(5, 0.05), rel=0.05)
    assert np.mean(log_ratio) == pytest.approx(0.0, abs=0.005)


def invoke(args):
    return CliRunner().invoke(main, ["backtest", *args])


@pytest.mark.parametrize("extra, message", [
    (["--cutoff", "1e10"], "leaves 0 run(s) at or below it"),
    (["--cutoff", "1e30"], "no run above it"),
    ([], "exactly one of --cutoff"),
    (["--cutoff", "1e20", "--cutoffs", "1e20"], "exactly one of --cutoff"),
    (["--cutoffs", "1e20,abc"], "separated by commas"),
    (["--cutoffs", "1e20,1e10"], "leaves 0 run(s)"),
])
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, extra, message):
    path = tmp_path / "runs.csv"
    power_frame().to_csv(path, index=False)
    result = invoke([str(path), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


def test_cli_missing_file_exits_2(tmp_path):
    result = invoke([str(tmp_path / "nope.csv"), "--cutoff", "1e20"])
    assert result.exit_code == 2 and "file not found" in result.output


@pytest.mark.slow
def test_cli_backtest_on_synthetic_power(fixtures_dir):
    path = fixtures_dir / "synthetic_power.csv"
    result = invoke([str(path), "--cutoff", "1e20", "--draws", "300", "--tune", "300",
                     "--chains", "2", "--boot", "30", "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])
    runs = read_runs(path)
    assert out["cutoff"] == 1e20
    assert out["n_fit"] == int((runs.flops <= 1e20).sum())
    assert out["n_fit"] + out["n_test"] == 40
    for key in ("model", "baseline"):
        assert set(out[key]) >= {"median_ape", "coverage", "crps"}
        assert set(out[key]["coverage"]) == {"50", "80", "90", "95"}
        cov = [out[key]["coverage"][k] for k in ("50", "80", "90", "95")]
        assert cov == sorted(cov)  # nested intervals
    # the truth is a power law with 2% noise: the forecast one decade out is within a few %
    assert out["model"]["median_ape"] < 4.0
    assert out["model"]["coverage"]["95"] >= 0.75
    assert len(out["runs"]) == out["n_test"]


def test_observed_crossing_interpolates_in_log_compute():
    flops = np.array([1e20, 1e18, 1e19, 1e21])  # unsorted on purpose
    success = np.array([0.6, 0.1, 0.3, 0.9])
    # between 1e19 (0.3) and 1e20 (0.6): 0.5 is 2/3 of the way -> 19.667
    assert observed_crossing(flops, success, 0.5) == pytest.approx(19 + 2 / 3)
    assert observed_crossing(flops, success, 0.05) == pytest.approx(18.0)
    assert observed_crossing(flops, success, 0.95) is None


def step_frame(n=40, seed="crossing"):
    """Per-step loss L = A C^-alpha (E = 0) and exact match exp(-k L), slightly noisy."""
    rng = named_rng(seed)
    flops = np.logspace(17, 21, n)
    step_loss = 0.5 * (flops / 1e19) ** -0.4 * np.exp(rng.normal(0, 0.02, n))
    cols = {f"exact_k{k}": np.exp(-k * 0.5 * (flops / 1e19) ** -0.4) for k in (1, 2, 4)}
    return pd.DataFrame({"flops": flops, "loss": step_loss, "step_loss": step_loss, **cols})


def test_cli_crossing_needs_exact_columns(tmp_path):
    path = tmp_path / "runs.csv"
    step_frame().drop(columns="exact_k4").to_csv(path, index=False)
    result = invoke([str(path), "--cutoff", "1e19", "--y", "step_loss", "--steps", "1,4"])
    assert result.exit_code == 2 and "no column exact_k4" in result.output


@pytest.mark.slow
def test_crossing_backtest_recovers_the_true_crossings(tmp_path):
    path = tmp_path / "runs.csv"
    step_frame().to_csv(path, index=False)
    result = invoke([str(path), "--cutoff", "1e19", "--y", "step_loss", "--steps", "1,2,4",
                     "--draws", "300", "--tune", "300", "--chains", "2", "--boot", "20",
                     "--law", "pure", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])
    rows = {c["k"]: c for c in out["crossing"]}
    assert set(rows) == {1, 2, 4}
    for k, c in rows.items():
        # closed form: exp(-k 0.5 x^-0.4) = 0.5  <=>  x = (ln 2 / (0.5 k))^(-1/0.4)
        truth = 19 + np.log10((np.log(2) / (0.5 * k)) ** (-1 / 0.4))
        assert c["observed_log10_flops"] == pytest.approx(truth, abs=0.05)
        assert abs(c["error_decades"]) < 0.3, c
        assert c["inside_90"], c
    assert rows[4]["observed_above_cutoff"] and not rows[1]["observed_above_cutoff"]
