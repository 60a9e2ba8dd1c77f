"""A model's own place in compute (``--run`` on an accuracy law): levels shared by its tasks.

Each model's compute is multiplied by ``exp(level)``, ``level ~ Normal(0, sigma_run)``, on every
task it was evaluated on, beside its family's offset. Recovery of known levels and of
``sigma_run`` from accuracies simulated from that model; a new model's level drawn once for all
its tasks; the CLI on real files.
"""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import named_rng, within_sd
from test_tasks import simulate_tasks

from forecast.cli import main
from forecast.inference.fitting import fit
from forecast.inference.sampling import SamplerSettings
from forecast.questions.predictive import model_draws
from forecast.runs import runs_from_frame

FAST = SamplerSettings(draws=400, tune=500, chains=2, seed=11)
TASKS = {"easy": (1.4, 10 ** 21.0, 0.3), "mid": (1.0, 10 ** 21.8, 0.2),
         "hard": (1.2, 10 ** 22.4, 0.3)}  # per task: slope s, midpoint C50, sigma_logit
SIGMA_RUN = 0.8  # e-folds of compute


def simulate_places(rng, n_groups=5, per_group=6):
    """Models of several families on every task of :data:`TASKS`, each with its own place.

    Model ``m`` of family ``g`` has effective compute ``C_m exp(offset_g + level_m)`` on every
    task (:func:`test_tasks.simulate_tasks` with ``sigma_run``); returns the rows and each
    model's true level.
    """
    frame, _ = simulate_tasks(rng, n_groups, per_group, tau=0.7, tasks=TASKS,
                              span=(3e20, 3e22), sigma_run=SIGMA_RUN)
    truth = frame.drop_duplicates("model").set_index("model")["true_level"]
    return frame, {str(m): float(v) for m, v in truth.items()}


@pytest.fixture(scope="module")
def placed():
    frame, truth = simulate_places(named_rng("model-places"))
    runs = runs_from_frame(frame, y="value", law="logistic")
    result = fit(runs, "logistic", settings=FAST, extrapolation="none", group="family",
                 trials=2000, task="task", run="model")
    return runs, truth, result


@pytest.mark.slow
def test_each_models_place_and_their_spread_are_recovered(placed):
    _, truth, result = placed
    assert within_sd(SIGMA_RUN, summary=result.summary["params"]["sigma_run"])
    assert result.summary["checkpoints"]["level"] == "log compute"
    post = result.idata.posterior["run_level"]
    medians = []
    for name, value in truth.items():
        draws = np.asarray(post.sel(train_run=name))
        assert within_sd(value, draws=draws), name
        medians.append(float(np.median(draws)))
    # identified, not merely wide: three tasks place each model
    assert np.corrcoef(medians, list(truth.values()))[0, 1] > 0.8


@pytest.mark.slow
def test_a_new_models_level_is_drawn_once_for_all_its_tasks(placed):
    runs, _, result = placed
    new = runs_from_frame(pd.DataFrame({
        "model": ["new-a"] * 3 + ["new-b"] * 3, "family": "fam0", "flops": [1e22] * 3 + [2e22] * 3,
        "task": list(TASKS) * 2, "value": 0.5}), y="value", law="logistic")
    levels = result.run_levels(new, np.random.default_rng(5))
    assert np.all(levels[:, :3] == levels[:, :1]) and np.all(levels[:, 3:] == levels[:, 3:4])
    assert not np.allclose(levels[:, 0], levels[:, 3])  # two new models, two places
    assert np.isclose(np.std(levels), np.median(result.draws("sigma_run")), rtol=0.3)
    mean, pred = model_draws(result, new, np.random.default_rng(5))
    # a model's tasks move together across draws: one place in compute, not three
    assert np.corrcoef(mean[:, 0], mean[:, 2])[0, 1] > 0.5
    # each task's column is its view's mean at the same levels
    labels = list(new.labels("task"))
    joint = result.mean(new, np.random.default_rng(5))
    for name in TASKS:
        cols = [i for i, t in enumerate(labels) if t == name]
        rows = new.subset(new.labels("task") == name)
        alone = result.task_view(name).mean(rows, np.random.default_rng(0), levels[:, cols])
        assert np.allclose(alone, joint[:, cols])
    assert pred.shape == mean.shape and np.all((pred >= 0) & (pred <= 1))


@pytest.mark.slow
def test_fit_and_backtest_cli_with_a_place_per_model(tmp_path):
    frame, _ = simulate_places(named_rng("model-places-cli"), n_groups=4, per_group=4)
    csv = tmp_path / "places.csv"
    frame.to_csv(csv, index=False)
    args = ["--law", "logistic", "--y", "value", "--group", "family", "--trials", "2000",
            "--task", "task", "--run", "model", "--draws", "300", "--tune", "300", "--chains",
            "2", "--seed", "1", "--extrapolation", "none"]
    runner = CliRunner()
    out = tmp_path / "fit"
    result = runner.invoke(main, ["fit", str(csv), *args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "48 rows of 16 training runs by 'model', each with its own level in log compute" \
        in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["checkpoints"]["training_runs"] == 16 and "sigma_run" in summary["params"]
    bt = runner.invoke(main, ["backtest", str(csv), *args, "--cutoff", "5e21", "--json",
                              "--boot", "20"])
    assert bt.exit_code == 0, bt.output
    body = json.loads(bt.output[bt.output.index("{"):])
    assert body["n_fit"] + body["n_test"] == 48
    for r in body["runs"]:
        assert r["model"]["q05"] <= r["model"]["median"] <= r["model"]["q95"]
