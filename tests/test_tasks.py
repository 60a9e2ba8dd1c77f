"""Several tasks of the same models (``--task``): one set of family offsets, a law per task.

Recovery of known offsets and per-task slopes from accuracies simulated from the model, the
task views against the joint fit exactly, the CLI on real files (fit, backtest, emergence,
report), and bad input.
"""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import named_rng, one_line_error, within_sd

from forecast.cli import main
from forecast.inference.fitting import fit
from forecast.inference.result import load_fit
from forecast.inference.sampling import SamplerSettings
from forecast.questions.predictive import model_draws
from forecast.runs import runs_from_frame

FAST = SamplerSettings(draws=400, tune=400, chains=2, seed=7)
FAST_ARGS = ["--draws", "300", "--tune", "300", "--chains", "2", "--seed", "1",
             "--extrapolation", "none"]
TASKS = {"easy": (1.4, 10 ** 21.0, 0.4), "mid": (1.0, 10 ** 21.8, 0.3),
         "hard": (1.2, 10 ** 22.6, 0.5)}  # per task: slope s, midpoint C50, sigma_logit


def simulate_tasks(rng, n_groups=6, per_group=4, items=2000, tau=0.9, tasks=TASKS,
                   span=(1e20, 1e23), sigma_run=0.0, floors=None):
    """Models of several families, each on every task of ``tasks``.

    A family's compute is multiplied by ``exp(offset)`` on every task, ``offset ~ Normal(0,
    tau)``; task ``t``'s accuracy is the logistic law with its own slope and midpoint, and each
    row a binomial count at ``sigmoid(logit(mean) + e)``, ``e ~ Normal(0, sigma_logit_t)``.
    With ``sigma_run`` each model's compute is also multiplied by ``exp(level)``, ``level ~
    Normal(0, sigma_run)``, on every task (its own place, column ``true_level``). With
    ``floors`` (per task) the law's mean is ``floor + (1 - floor) sigmoid(...)`` and ``e`` the
    deviation of the whole accuracy's logit (a fitted floor's model).
    """
    offsets = tau * rng.standard_normal(n_groups)
    group = np.repeat(np.arange(n_groups), per_group)
    logc = rng.uniform(np.log(span[0]), np.log(span[1]), group.size)
    levels = sigma_run * rng.standard_normal(group.size) if sigma_run else np.zeros(group.size)
    rows = []
    for name, (s, c50, sigma) in tasks.items():
        eta = s * (logc + offsets[group] + levels - np.log(c50))
        if floors:
            mean = floors[name] + (1 - floors[name]) / (1 + np.exp(-eta))
            eta = np.log(mean) - np.log1p(-mean)
        eta = eta + sigma * rng.standard_normal(group.size)
        rows.append(pd.DataFrame({"model": [f"m{i}" for i in range(group.size)],
                                  "flops": np.exp(logc), "family": [f"fam{g}" for g in group],
                                  "task": name, "true_level": levels,
                                  "value": rng.binomial(items, 1 / (1 + np.exp(-eta))) / items}))
    truth = {f"fam{g}": float(o) for g, o in enumerate(offsets)}
    return pd.concat(rows, ignore_index=True), truth


@pytest.fixture(scope="module")
def joint():
    frame, truth = simulate_tasks(named_rng("tasks-recovery"))
    runs = runs_from_frame(frame, y="value", law="logistic")
    result = fit(runs, "logistic", settings=FAST, extrapolation="none", group="family",
                 trials=2000, task="task")
    return runs, truth, result


@pytest.mark.slow
def test_shared_offsets_and_each_tasks_slope_are_recovered(joint):
    runs, truth, result = joint
    offsets = result.idata.posterior["offset"]
    for name, value in truth.items():
        assert within_sd(value, draws=np.asarray(offsets.sel(group=name))), name
    assert set(result.summary["tasks"]) == set(TASKS)
    for name, (s, _, _) in TASKS.items():
        own = result.summary["tasks"][name]
        assert own["n_runs"] == 24 and within_sd(s, summary=own["params"]["s"]), name
    # the offsets are shared: no task dimension on them, one per family
    assert offsets.dims[-1] == "group" and "task" not in offsets.dims


@pytest.mark.slow
def test_a_task_view_is_that_tasks_fit_and_the_joint_forecast_is_stitched_from_them(joint):
    runs, _, result = joint
    some = runs.subset(np.arange(0, len(runs), 5))
    mean, pred = model_draws(result, some, np.random.default_rng(3))
    labels = some.labels("task")
    for name in TASKS:
        view = result.task_view(name)
        assert view.task_column is None and len(view.fitted_runs()) == 24
        assert np.allclose(view.draws("s"), np.asarray(result.idata.posterior["s"].sel(
            task=name)).ravel())
        rows = some.subset(labels == name)
        alone = view.mean(rows, np.random.default_rng(0))
        assert np.allclose(mean[:, labels == name], alone)  # no new groups: no randomness
        assert pred[:, labels == name].shape == alone.shape


@pytest.mark.slow
def test_sharing_offsets_narrows_them_against_one_task_alone(joint):
    runs, _, result = joint
    hard = runs.subset(runs.labels("task") == "hard")
    alone = fit(hard, "logistic", settings=FAST, extrapolation="none", group="family",
                trials=2000)
    def spread(f):  # each family's place relative to the others (the mean offset is the law's)
        post = np.asarray(f.idata.posterior["offset"]).reshape(-1, len(f.group_names))
        return np.std(post - post.mean(axis=1, keepdims=True), axis=0)

    ratio = spread(result) / spread(alone)
    assert np.mean(ratio) < 0.75, ratio  # three tasks place the families: about 0.4 here


@pytest.fixture
def tasks_csv(tmp_path):
    frame, _ = simulate_tasks(named_rng("tasks-cli"), n_groups=4, per_group=4)
    path = tmp_path / "tasks.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_fit_backtest_emergence_and_report_cli_with_several_tasks(tmp_path, tasks_csv):
    runner = CliRunner()
    out = tmp_path / "fit"
    result = runner.invoke(main, ["fit", str(tasks_csv), "--law", "logistic", "--y", "value",
                                  "--group", "family", "--trials", "2000", "--task", "task",
                                  "--out", str(out), *FAST_ARGS])
    assert result.exit_code == 0, result.output
    for name in TASKS:
        assert f"task {name} (16 runs): s " in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "task" and set(summary["tasks"]) == set(TASKS)
    em = runner.invoke(main, ["emergence", "--fit", str(out), "--task", "hard", "--steps", "2"])
    assert em.exit_code == 0, em.output
    rep = runner.invoke(main, ["report", str(out), "--task", "hard"])
    assert rep.exit_code == 0, rep.output
    assert (out / "report.html").exists()
    bt = runner.invoke(main, ["backtest", str(tasks_csv), "--law", "logistic", "--y", "value",
                              "--group", "family", "--trials", "2000", "--task", "task",
                              "--cutoff", "3e21", "--json", "--boot", "20", *FAST_ARGS])
    assert bt.exit_code == 0, bt.output
    res = json.loads(bt.output[bt.output.index("{"):])
    tasks = res["by_task"]["tasks"]
    assert res["by_task"]["column"] == "task" and set(tasks) <= set(TASKS)
    assert sum(p["n_test"] for p in tasks.values()) == res["n_test"]
    assert {r["task"] for r in res["runs"]} == set(tasks)
    assert all(f"task={t}" in res["baseline_params"] for t in tasks)
    one_line_error(["emergence", "--fit", out, "--steps", "2"], "give --task NAME")
    one_line_error(["report", out, "--task", "other"], "the fit's tasks are")


FLOORS = {"easy": 0.01, "mid": 0.04, "hard": 0.02}


@pytest.mark.slow
def test_each_tasks_fitted_floor_is_recovered_and_a_model_may_sit_below_it(tmp_path, fixtures_dir):
    frame, _ = simulate_tasks(named_rng("tasks-floors"), floors=FLOORS, span=(1e19, 1e23))
    path = tmp_path / "floors.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "fit"
    result = CliRunner().invoke(main, [
        "fit", str(path), "--law", "logistic", "--y", "value", "--group", "family", "--trials",
        "2000", "--task", "task", "--priors", str(fixtures_dir / "fitted_floor.toml"),
        "--out", str(out), *FAST_ARGS])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    for name, floor in FLOORS.items():
        own = summary["tasks"][name]["params"]
        assert within_sd(floor, summary=own["floor"]), (name, own["floor"])
        assert within_sd(TASKS[name][0], summary=own["s"]), (name, own["s"])
    # the floor is in the law's mean, the scatter is of the whole accuracy: a new model far
    # below the rise is forecast around its task's floor, on both sides of it
    fitted = load_fit(out)
    tiny = runs_from_frame(pd.DataFrame({"flops": [1e16, 2e16, 4e16, 8e16, 1e17], "value": 0.0,
                                         "family": "fam0",
                                         "task": "mid"}), y="value", law="logistic")
    _, pred = model_draws(fitted, tiny, np.random.default_rng(2))
    floor = summary["tasks"]["mid"]["params"]["floor"]["median"]
    q05, q95 = np.quantile(pred, [0.05, 0.95])
    assert q05 < 0.8 * floor < 1.25 * floor < q95, (q05, floor, q95)


def test_a_floor_prior_off_the_unit_interval_is_refused_with_trials(tmp_path, tasks_csv):
    priors = tmp_path / "floor.toml"
    priors.write_text('[floor]\ndist = "Normal"\nmu = 0.0\nsigma = 0.1\n')
    one_line_error(["fit", tasks_csv, "--law", "logistic", "--y", "value", "--trials", "2000",
                    "--priors", priors, "--out", tmp_path / "o"],
                   "with --trials the floor is fixed (a known chance level")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args, fragment", [
    (["fit", "{csv}", "--y", "flops", "--task", "task"], "--task applies to an accuracy law"),
    (["fit", "{csv}", "--law", "logistic", "--y", "value", "--task", "kind"], "no column 'kind'"),
    (["fit", "{one}", "--law", "logistic", "--y", "value", "--task", "task"],
     "give two or more tasks"),
    (["fit", "{csv}", "--law", "logistic", "--y", "value", "--task", "task", "--k", "flops"],
     "give one of them"),
    (["fit", "{csv}", "--law", "logistic", "--y", "value", "--task", "task", "--report"],
     "forecast report OUT --task"),
])
def test_bad_task_input_is_one_line(tmp_path, tasks_csv, args, fragment):
    frame = pd.read_csv(tasks_csv)
    frame[frame.task == "easy"].to_csv(tmp_path / "one.csv", index=False)
    paths = {"{csv}": tasks_csv, "{one}": tmp_path / "one.csv"}
    one_line_error([paths.get(a, a) for a in args] + ["--out", tmp_path / "o"], fragment)


@pytest.mark.slow
def test_task_on_a_fit_of_one_task_is_refused(tmp_path, fixtures_dir):
    out = tmp_path / "fit"
    result = CliRunner().invoke(main, ["fit", str(fixtures_dir / "synthetic_power.csv"), "--out",
                                       str(out), *FAST_ARGS])
    assert result.exit_code == 0, result.output
    one_line_error(["emergence", "--fit", out, "--task", "x", "--steps", "2"],
                   "this fit is of one task")
