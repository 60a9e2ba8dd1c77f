"""Family offsets (``--group``) and accuracies of known size (``--trials``): recovery of known
offsets from runs simulated from the hierarchical model, exact checks of the pieces, the CLI on
real files, and bad input."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import named_rng, one_line_error, within_sd

from forecast.cli import main
from forecast.errors import InputError
from forecast.inference.fitting import fit
from forecast.inference.groups import offset_draws, trial_counts
from forecast.inference.model import empirical_logit
from forecast.inference.sampling import SamplerSettings
from forecast.questions.predictive import model_draws
from forecast.runs import runs_from_frame

FAST = SamplerSettings(draws=500, tune=500, chains=2, seed=3)
TRUTH = {"s": 1.2, "C50": 10 ** 21.5, "tau": 1.0, "sigma_logit": 0.3}


def simulate_families(rng, n_groups=8, per_group=5, items=2000, **truth):
    """Accuracies of models of several families from the model ``--group --trials`` fits.

    Each family's compute is multiplied by ``exp(offset)``, ``offset ~ Normal(0, tau)``; a
    model's accuracy is a binomial count of ``items`` at ``sigmoid(logit(mean) + e)``, ``e ~
    Normal(0, sigma_logit)``, where ``mean = 1 / (1 + (C exp(offset) / C50)^-s)``.
    Returns the table and the true offsets by family name.
    """
    t = {**TRUTH, **truth}
    offsets = t["tau"] * rng.standard_normal(n_groups)
    names = [f"fam{g:02d}" for g in range(n_groups)]
    group = np.repeat(np.arange(n_groups), per_group)
    logc = rng.uniform(np.log(1e20), np.log(1e23), group.size)
    eta = t["s"] * (logc + offsets[group] - np.log(t["C50"]))
    eta += t["sigma_logit"] * rng.standard_normal(group.size)
    acc = rng.binomial(items, 1 / (1 + np.exp(-eta))) / items
    frame = pd.DataFrame({"model": [f"m{i}" for i in range(group.size)], "flops": np.exp(logc),
                          "family": np.array(names)[group], "value": acc})
    return frame, dict(zip(names, offsets, strict=True))


def recovery(seed_name: str, replicates: int, settings=FAST) -> list[dict]:
    """Fit ``replicates`` simulated tables; per family: truth, median, 90% interval, sd."""
    rng = named_rng(seed_name)
    out = []
    for _ in range(replicates):
        frame, truth = simulate_families(rng)
        runs = runs_from_frame(frame, y="value", law="logistic")
        result = fit(runs, "logistic", settings=settings, extrapolation="none", group="family",
                     trials=2000)
        post = result.idata.posterior["offset"]
        for name, value in truth.items():
            d = np.asarray(post.sel(group=name)).ravel()
            lo, hi = np.quantile(d, [0.05, 0.95])
            out.append({"truth": value, "median": float(np.median(d)), "q05": lo, "q95": hi,
                        "sd": float(np.std(d)), "tau": float(np.median(result.draws("tau_group")))})
    return out


@pytest.mark.slow
def test_known_offsets_are_recovered_at_the_nominal_rate_over_replicates():
    rows = recovery("group-recovery", replicates=4)
    inside = np.mean([r["q05"] <= r["truth"] <= r["q95"] for r in rows])
    # 32 offsets, nominal 0.90: below 0.69 is 4 sd under (rows within a replicate share C50)
    assert inside >= 0.69, inside
    assert all(abs(r["median"] - r["truth"]) <= 4 * r["sd"] for r in rows)
    taus = [r["tau"] for r in rows[::8]]
    assert 0.4 <= np.median(taus) <= 2.5, taus  # the true spread is 1.0 e-fold


def test_a_fit_with_groups_forecasts_known_and_new_families():
    frame, truth = simulate_families(named_rng("group-forecast"))
    runs = runs_from_frame(frame, y="value", law="logistic")
    result = fit(runs, "logistic", settings=FAST, extrapolation="none", group="family",
                 trials=2000)
    groups = result.summary["groups"]
    assert groups["column"] == "family" and set(groups["groups"]) == set(truth)
    top = max(truth, key=truth.get)  # the most efficient family has the largest offset
    g = groups["groups"][top]
    assert g["median"] == max(v["median"] for v in groups["groups"].values())
    assert within_sd(truth[top] / np.log(10), summary=g)  # the summary is in decades
    assert g["n_runs"] == 5
    # a new family's forecast integrates over the offsets: wider than a known family's
    new = runs_from_frame(pd.DataFrame({"flops": [1e22, 1e22, 2e22, 2e22, 4e22, 4e22],
                                        "family": [top, "unseen"] * 3, "value": [0.5] * 6}),
                          y="value", law="logistic")
    _, pred = model_draws(result, new, np.random.default_rng(0))
    width = np.diff(np.quantile(pred, [0.05, 0.95], axis=0), axis=0).ravel()
    assert width[1] > width[0] and width[3] > width[2]
    counts = pred * 2000
    assert np.allclose(counts, np.round(counts))  # a count of the test's items


def test_offset_draws_take_known_columns_and_share_a_new_groups_draw():
    post = np.arange(12.0).reshape(4, 3)
    tau = np.array([1.0, 2.0, 3.0, 4.0])
    rng = np.random.default_rng(5)
    d = offset_draws(post, ["a", "b", "c"], tau, ["c", "x", "a", "x", "y"], rng)
    assert d.shape == (4, 5)
    assert np.array_equal(d[:, 0], post[:, 2]) and np.array_equal(d[:, 2], post[:, 0])
    assert np.array_equal(d[:, 1], d[:, 3])  # one draw per new group, shared by its runs
    z = np.random.default_rng(5).standard_normal((2, 4))
    assert np.allclose(d[:, 1], tau * z[0]) and np.allclose(d[:, 4], tau * z[1])


def test_empirical_logit_is_the_cox_snell_formula():
    y, n = np.array([0.0, 0.25, 1.0, 0.5]), np.array([4.0, 4.0, 4.0, 10.0])
    ell, var = empirical_logit(np, y, n, 0.0)
    k = y * n
    assert np.allclose(ell, np.log((k + 0.5) / (n - k + 0.5)))
    assert np.allclose(var, 1 / (k + 0.5) + 1 / (n - k + 0.5))
    assert ell[0] == pytest.approx(np.log(0.5 / 4.5))  # an accuracy of 0 is data
    # above a chance floor of 0.25, 0.25 correct means none above chance
    ell_floor, _ = empirical_logit(np, np.array([0.25, 1.0]), np.array([4.0, 4.0]), 0.25)
    assert np.allclose(ell_floor, [np.log(0.5 / 4.5), np.log(4.5 / 0.5)])


def test_trials_from_a_column_or_a_number():
    frame = pd.DataFrame({"flops": [1e20, 1e21, 1e22, 1e23, 1e24],
                          "value": [0.1, 0.4, 0.9, 0.95, 1.0], "items": [100, 200, 300, 40, 5]})
    runs = runs_from_frame(frame, y="value", law="logistic")
    assert list(trial_counts(runs, "items")) == [100, 200, 300, 40, 5]
    assert list(trial_counts(runs, 50)) == [50] * 5
    for bad, fragment in (("0", "is not a whole number of items"),
                          ("nope", "nope")):
        with pytest.raises(InputError, match=fragment):
            trial_counts(runs, bad)
    frame["items"] = [100, 2.5, 300, 40, 5]
    with pytest.raises(InputError, match=r"2.5 \(line 3\)"):
        trial_counts(runs_from_frame(frame, y="value", law="logistic"), "items")


@pytest.fixture
def families_csv(tmp_path):
    frame, _ = simulate_families(named_rng("group-cli"), n_groups=4, per_group=4)
    path = tmp_path / "families.csv"
    frame.to_csv(path, index=False)
    return path


FAST_ARGS = ["--draws", "300", "--tune", "300", "--chains", "2", "--seed", "1",
             "--extrapolation", "none"]


def test_fit_cli_writes_offsets_to_the_summary_and_prints_them(tmp_path, families_csv):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["fit", str(families_csv), "--law", "logistic", "--y",
                                       "value", "--group", "family", "--trials", "2000",
                                       "--out", str(out), *FAST_ARGS])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["groups"]["groups"]) == {"fam00", "fam01", "fam02", "fam03"}
    assert summary["trials"] == "2000"
    assert "compute offsets by 'family'" in result.output
    assert all(name in result.output for name in summary["groups"]["groups"])


def test_backtest_leave_group_out_cli_forecasts_every_run_once(families_csv):
    result = CliRunner().invoke(main, ["backtest", str(families_csv), "--law", "logistic",
                                       "--y", "value", "--group", "family", "--trials", "2000",
                                       "--leave-group-out", "--boot", "20", "--json",
                                       *FAST_ARGS])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])
    assert out["scheme"] == "leave-group-out" and len(out["folds"]) == 4
    assert len(out["runs"]) == 16
    assert sorted(r["group"] for r in out["runs"]) == sorted(["fam00", "fam01", "fam02",
                                                              "fam03"] * 4)
    assert {f["n_fit"] for f in out["folds"]} == {12}
    assert 0 <= out["model"]["coverage"]["90"] <= 1


def test_backtest_cutoff_with_groups_keeps_the_json_contract(families_csv):
    result = CliRunner().invoke(main, ["backtest", str(families_csv), "--law", "logistic",
                                       "--y", "value", "--group", "family", "--cutoff", "3e21",
                                       "--boot", "20", "--json", *FAST_ARGS])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])
    assert "coverage" in out["model"] and "groups" in out
    for r in out["runs"]:
        assert r["model"]["q05"] <= r["model"]["median"] <= r["model"]["q95"]
        assert r["group"].startswith("fam")


@pytest.mark.parametrize("args, fragment", [
    (["fit", "{csv}", "--law", "logistic", "--y", "value", "--group", "team"],
     "no column 'team'"),
    (["fit", "{csv}", "--law", "logistic", "--y", "value", "--trials", "0"],
     "not a whole number of items"),
    (["fit", "{csv}", "--law", "logistic", "--y", "value", "--trials", "items"],
     "no column 'items'"),
    (["fit", "{csv}", "--y", "value", "--trials", "100"], "--trials applies to an accuracy"),
    (["backtest", "{csv}", "--law", "logistic", "--y", "value", "--leave-group-out"],
     "--leave-group-out needs --group COLUMN"),
    (["backtest", "{csv}", "--law", "logistic", "--y", "value", "--group", "family",
      "--leave-group-out", "--cutoff", "1e21"], "takes no --cutoff"),
    (["compare", "{csv}", "--y", "value", "--group", "team"], "no column 'team'"),
])
def test_bad_group_and_trials_input_is_one_line(tmp_path, families_csv, args, fragment):
    out = tmp_path / "out"
    one_line_error([a.replace("{csv}", str(families_csv)) for a in args]
                    + ["--out", out] * (args[0] == "fit"), fragment)
    assert not out.exists()


def test_group_with_a_law_of_params_and_tokens_is_refused(tmp_path):
    path = tmp_path / "nd.csv"
    scale = 2.0 ** np.arange(8)
    pd.DataFrame({"params": 1e8 * scale, "tokens": 2e9 * scale, "loss": 3.5 - 0.1 * np.arange(8),
                  "family": list("aabbccdd")}).to_csv(path, index=False)
    one_line_error(["fit", path, "--law", "chinchilla", "--group", "family", "--out",
                     tmp_path / "o"], "--group needs a law of compute")


def test_an_empty_group_cell_names_its_line(tmp_path, families_csv):
    frame = pd.read_csv(families_csv)
    frame.loc[2, "family"] = None
    path = tmp_path / "gap.csv"
    frame.to_csv(path, index=False)
    one_line_error(["fit", path, "--law", "logistic", "--y", "value", "--group", "family",
                     "--out", tmp_path / "o"], "line 4")


def test_leave_group_out_needs_three_groups(tmp_path, families_csv):
    frame = pd.read_csv(families_csv)
    frame = frame[frame.family.isin(["fam00", "fam01"])]
    path = tmp_path / "two.csv"
    frame.to_csv(path, index=False)
    one_line_error(["backtest", path, "--law", "logistic", "--y", "value", "--group",
                     "family", "--leave-group-out"], "needs at least 3")


def test_a_groups_crossing_is_the_laws_minus_its_offset_closed_form_and_by_root():
    from forecast.laws import get_law
    from forecast.laws.links import get_link
    from forecast.questions.emergence import StepSuccess

    rng = named_rng("group-crossing")
    raw = {"floor": np.zeros((200, 1)), "s": rng.uniform(0.8, 1.5, (200, 1)),
           "C50": 10 ** rng.uniform(21, 22, (200, 1))}
    base = StepSuccess(get_law("logistic"), get_link("logistic"), raw, from_k=2)
    shift = rng.normal(0, 0.5, (200, 1))
    group = StepSuccess(get_law("logistic"), get_link("logistic"), raw, from_k=2, shift=shift)
    for level in (0.3, 0.7):
        expected = base.crossing(level) - shift[:, 0]
        assert np.allclose(group.crossing(level), expected)
        assert np.allclose(group.crossing(level, method="root"), expected, atol=1e-3)
    # and the group's success at C is the law's at C 10^shift
    x = np.array([[20.5, 21.5, 22.5]])
    assert np.allclose(group.p(x), base.p(x + shift))


def test_emergence_and_report_cli_show_each_family_and_a_new_one(tmp_path, families_csv):
    out = tmp_path / "fit"
    runner = CliRunner()
    fitted = runner.invoke(main, ["fit", str(families_csv), "--law", "logistic", "--y", "value",
                                  "--group", "family", "--out", str(out), *FAST_ARGS])
    assert fitted.exit_code == 0, fitted.output
    result = runner.invoke(main, ["emergence", "--fit", str(out), "--steps", "2,3",
                                  "--from-k", "2"])
    assert result.exit_code == 0, result.output
    em = json.loads((out / "emergence.json").read_text())
    groups = em["groups"]
    assert groups["column"] == "family" and groups["new_group"] in groups["groups"]
    assert set(groups["groups"]) == {"fam00", "fam01", "fam02", "fam03", groups["new_group"]}
    # a more efficient family crosses earlier: medians fall as offsets rise
    names = sorted(groups["offsets_decades"], key=groups["offsets_decades"].get)
    known = [n for n in names if n != groups["new_group"]]
    medians = [groups["groups"][n][0]["log10_flops"]["median"] for n in known]
    assert medians == sorted(medians, reverse=True)
    # the headline is the new family's: its interval is the widest
    def width(rows):
        return rows[0]["log10_flops"]["q95"] - rows[0]["log10_flops"]["q05"]
    new_width = width(em["steps"])
    assert new_width == pytest.approx(width(groups["groups"][groups["new_group"]]), rel=0.05)
    assert all(new_width > width(groups["groups"][n]) for n in known)
    assert "fam00" in result.output and "new 'family'" in result.output
    # the report draws the offsets and each family's curve (the grid is a new family's)
    report = runner.invoke(main, ["report", str(out)])
    assert report.exit_code == 0, report.output
    assert (out / "figures" / "groups.png").stat().st_size > 10_000
    assert "Families (family)" in (out / "report.html").read_text()
