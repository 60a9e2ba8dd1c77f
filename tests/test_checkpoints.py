"""Tables of checkpoints (``--run``, ``--drop-first``): recovery of known run levels from
checkpoints simulated from the model, the exact rule of dropping each run's first steps, why
checkpoints must not count as independent runs, the CLI on a harness fixture, and bad input."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import named_rng, one_line_error, within_sd

from forecast.cli import main
from forecast.errors import InputError
from forecast.inference.fitting import fit, load_fit
from forecast.inference.sampling import SamplerSettings
from forecast.questions.predictive import model_draws
from forecast.runs import read_runs, runs_from_frame

FAST = SamplerSettings(draws=500, tune=500, chains=2, seed=5)
TRUTH = {"E": 1.5, "A": 40.0, "alpha": 0.12, "sigma_run": 0.08, "noise": 0.005}


def simulate_checkpoints(rng, n_runs=6, per_run=15, **truth):
    """Checkpoints of ``n_runs`` training runs from the model ``--run`` fits.

    A run's checkpoints lie on ``(E + A (C/1e15)^-alpha) exp(level)``, ``level ~ Normal(0,
    sigma_run)`` shared by all its checkpoints, times a small independent noise; each run
    spans its own two decades of compute. Returns the table and the true levels by run.
    """
    t = {**TRUTH, **truth}
    levels = t["sigma_run"] * rng.standard_normal(n_runs)
    names = [f"run{r}" for r in range(n_runs)]
    frames = []
    for r in range(n_runs):
        c = np.geomspace(1e15, 1e17, per_run) * 2.0 ** r
        loss = (t["E"] + t["A"] * (c / 1e15) ** -t["alpha"]) * np.exp(
            levels[r] + t["noise"] * rng.standard_normal(per_run))
        frames.append(pd.DataFrame({"run_id": names[r], "flops": c, "loss": loss}))
    return pd.concat(frames, ignore_index=True), dict(zip(names, levels, strict=True))


def test_drop_first_drops_each_runs_checkpoints_below_a_fraction_of_its_compute(fixtures_dir):
    runs = read_runs(fixtures_dir / "harness_lookup.csv", law="chinchilla")
    frame = pd.read_csv(fixtures_dir / "harness_lookup.csv")
    top = frame.groupby("run_id")["flops"].transform("max")
    for fraction in (0.0, 0.1, 0.5):
        kept = runs.drop_first("run_id", fraction)
        expect = frame[frame.flops >= fraction * top]
        assert len(kept) == len(expect)
        assert np.array_equal(kept.flops, expect.flops.to_numpy())
    assert len(runs.drop_first("run_id", 0.1)) == 45  # of 100: 9 of each run's 20 kept
    with pytest.raises(InputError, match="must be a fraction in"):
        runs.drop_first("run_id", 1.0)


@pytest.mark.slow
def test_known_run_levels_are_recovered_and_a_new_run_is_wider():
    frame, truth = simulate_checkpoints(named_rng("run-levels"))
    runs = runs_from_frame(frame, law="power")
    result = fit(runs, "power", settings=FAST, extrapolation="none", run="run_id")
    assert result.summary["checkpoints"] == {"run": "run_id", "training_runs": 6, "rows": 90,
                                           "level": "log loss"}
    # levels are identified up to the law's own scale (a common shift moves into A and E), so
    # check the deviations from their mean, and the spread against the truth
    post = result.idata.posterior["run_level"]
    draws = {r: np.asarray(post.sel(train_run=r)).ravel() for r in truth}
    centre = np.mean(list(draws.values()), axis=0)
    true_centre = np.mean(list(truth.values()))
    for r, level in truth.items():
        assert within_sd(level - true_centre, draws=draws[r] - centre), r
    assert within_sd(TRUTH["sigma_run"], draws=result.draws("sigma_run"))
    assert result.fitted_runs().labels("run_id").tolist() == frame.run_id.tolist()
    # a run the fit saw is forecast at its own level; a new run from the population: wider
    new = runs_from_frame(pd.DataFrame({"run_id": ["run0", "unseen"] * 3,
                                        "flops": [3e16] * 4 + [6e16] * 2, "loss": [2.0] * 6}),
                          law="power")
    _, pred = model_draws(result, new, np.random.default_rng(0))
    width = np.diff(np.log(np.quantile(pred, [0.05, 0.95], axis=0)), axis=0).ravel()
    assert np.all(width[1::2] > 3 * width[::2]), width


@pytest.mark.slow
def test_checkpoints_of_few_runs_do_not_weigh_as_independent_runs():
    """90 checkpoints of 6 runs that each sit off the law: treated as independent, the fit
    knows the law (the typical run's curve) to within the checkpoints' scatter over sqrt(90);
    with a level per run, to within the runs' spread over sqrt(6), and its forecasts of new
    runs cover them at about the nominal rate."""
    rng = named_rng("run-independence")
    frame, _ = simulate_checkpoints(rng)
    runs = runs_from_frame(frame, law="power")
    with_run = fit(runs, "power", settings=FAST, extrapolation="none", run="run_id")
    independent = fit(runs, "power", settings=FAST, extrapolation="none")
    c = 1e16
    levels = TRUTH["sigma_run"] * rng.standard_normal(40)  # 40 new runs, their own levels
    truth = (TRUTH["E"] + TRUTH["A"] * (c / 1e15) ** -TRUTH["alpha"]) * np.exp(levels)
    new = runs_from_frame(pd.DataFrame({"run_id": [f"new{i}" for i in range(40)],
                                        "flops": [c] * 39 + [c * 1.001], "loss": truth}),
                          law="power")
    width, covered = {}, {}
    for name, result in (("run", with_run), ("independent", independent)):
        mean, pred = model_draws(result, new, np.random.default_rng(1))
        width[name] = float(np.diff(np.quantile(np.log(mean[:, 0]), [0.05, 0.95]))[0])
        lo, hi = np.quantile(pred, [0.05, 0.95], axis=0)
        covered[name] = float(np.mean((truth >= lo) & (truth <= hi)))
    # the law's 90% interval: about 3.3 * 0.08 / sqrt(6) = 0.11 against 3.3 * 0.08 / sqrt(90)
    assert width["run"] > 2.5 * width["independent"], width
    assert covered["run"] >= 0.7, covered  # binomial(40, 0.9) < 0.7: probability < 1e-3


@pytest.mark.slow
def test_fit_and_backtest_cli_with_run_on_a_harness_fixture(tmp_path, fixtures_dir):
    csv = fixtures_dir / "harness_lookup.csv"
    out = tmp_path / "fit"
    runner = CliRunner()
    result = runner.invoke(main, ["fit", str(csv), "--law", "chinchilla", "--run", "run_id",
                                  "--out", str(out), "--draws", "300", "--tune", "300",
                                  "--chains", "2", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "dropped 55 of 100 checkpoints" in result.output
    assert "45 rows of 5 training runs by 'run_id'" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["checkpoints"] == {"run": "run_id", "training_runs": 5, "rows": 45,
                                      "level": "log loss", "drop_first": 0.1, "of": 100}
    assert "sigma_run" in summary["params"] and summary["n_runs"] == 45
    again = load_fit(out)
    assert again.run_column == "run_id" and len(again.run_names) == 5
    bt = runner.invoke(main, ["backtest", str(csv), "--law", "chinchilla", "--run", "run_id",
                              "--cutoff", "3e11", "--draws", "300", "--tune", "300", "--chains",
                              "2", "--seed", "1", "--json", "--boot", "20"])
    assert bt.exit_code == 0, bt.output
    body = json.loads(bt.output[bt.output.index("{"):])
    assert body["n_fit"] + body["n_test"] == 45
    for r in body["runs"]:
        assert r["model"]["q05"] <= r["model"]["median"] <= r["model"]["q95"]


@pytest.mark.parametrize("args, fragment", [
    (["fit", "{csv}", "--law", "chinchilla", "--run", "model"], "no column 'model'"),
    (["fit", "{csv}", "--run", "run_id", "--frontier"], "give one of them"),
    (["fit", "{csv}", "--run", "run_id", "--drop-first", "1.5"], "must be a fraction in"),
    (["fit", "{csv}", "--law", "logistic", "--y", "step_acc", "--run", "flops"],
     "every row is a run of its own"),
    (["backtest", "{csv}", "--run", "run_id", "--drop-first", "-0.1", "--cutoff", "3e11"],
     "must be a fraction in"),
])
def test_bad_run_input_is_one_line(tmp_path, fixtures_dir, args, fragment):
    csv = str(fixtures_dir / "harness_lookup.csv")
    out = tmp_path / "out"
    one_line_error([a.replace("{csv}", csv) for a in args]
                    + ["--out", out] * (args[0] == "fit"), fragment)
    assert not out.exists()
