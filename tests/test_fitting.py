"""Sampling the posterior: parameter recovery, the summary contract, saving and loading."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, named_rng, within_sd

from forecast.cli import main
from forecast.errors import InputError
from forecast.inference.diagnostics import chance_floor_hint
from forecast.inference.fitting import fit, load_fit, optimal_allocation
from forecast.inference.sampling import SamplerSettings
from forecast.runs import runs_from_frame

pytestmark = pytest.mark.slow
QUICK = SamplerSettings(draws=500, tune=500, chains=4, seed=3)


def simulate_power(seed_name, E=1.8, alpha=0.3, n=40, noise=0.03):
    rng = named_rng(seed_name)
    flops = np.sort(10 ** rng.uniform(17, 21, n))
    A = 1.2 * 1e19**alpha
    loss = (E + A * flops**-alpha) * np.exp(rng.normal(0, noise, n))
    return runs_from_frame(pd.DataFrame({"flops": flops, "loss": loss})), {"E": E, "A": A,
                                                                           "alpha": alpha}


def test_power_law_recovery_across_seeds():
    """E and alpha within 4 posterior sd of the truth on 4 seeds (a calibrated posterior fails
    one such check with probability ~6e-5); the curve itself must always be right.
    """
    misses = []
    for seed_name in ("recovery-a", "recovery-b", "recovery-c", "recovery-d"):
        runs, truth = simulate_power(seed_name)
        result = fit(runs, "power", settings=QUICK)
        s = result.summary
        misses += [(seed_name, name, s["params"][name]) for name in ("E", "alpha")
                   if not within_sd(truth[name], draws=result.raw()[name])]
        assert s["divergences"] == 0
        assert max(p["r_hat"] for p in s["params"].values()) <= 1.01
        # the summary records the passes; the posterior is the last one's
        assert s["sampling_passes"] and not s["sampling_passes"][-1]["troubles"]
        assert result.idata.posterior.sizes["draw"] == s["sampling_passes"][-1]["draws"]
        # raw-unit draws reproduce the curve in FLOPs: the fitted loss at 1e19 is near truth
        raw = result.raw()
        at = np.median(raw["E"] + raw["A"] * 1e19 ** -raw["alpha"])
        assert at == pytest.approx(truth["E"] + 1.2, rel=0.03)
    assert not misses, misses


def test_chinchilla_recovery_on_n_d_grids():
    """E, alpha, beta on three simulated N-D grids: every truth within 4 posterior sd."""
    truth = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
    N, D = np.meshgrid(np.logspace(7, 9.5, 7), np.logspace(9, 11.5, 6))
    N, D = N.ravel(), D.ravel()
    mean = truth["E"] + truth["A"] * N ** -truth["alpha"] + truth["B"] * D ** -truth["beta"]
    misses = []
    for seed_name in ("chinchilla-grid", "grid-2", "grid-3"):
        loss = mean * np.exp(named_rng(seed_name).normal(0, 0.01, N.size))
        runs = runs_from_frame(pd.DataFrame({"params": N, "tokens": D, "loss": loss}),
                               law="chinchilla")
        result = fit(runs, "chinchilla", settings=QUICK)
        raw = result.raw()
        misses += [(seed_name, name) for name in ("E", "alpha", "beta")
                   if not within_sd(truth[name], draws=raw[name])]
        assert result.summary["divergences"] == 0
        assert max(p["r_hat"] for p in result.summary["params"].values()) <= 1.01
    assert not misses, misses
    # compute-optimal allocation: the closed form against a brute-force search on the median law
    alloc = optimal_allocation(result, 1e22)
    raw = {k: np.median(v) for k, v in result.raw().items()}
    n_grid = np.logspace(8, 12, 20001)
    d_grid = 1e22 / (6 * n_grid)
    loss_grid = raw["E"] + raw["A"] * n_grid ** -raw["alpha"] + raw["B"] * d_grid ** -raw["beta"]
    n_best = n_grid[np.argmin(loss_grid)]
    assert alloc["params"]["median"] == pytest.approx(n_best, rel=0.1)
    assert alloc["tokens"]["median"] * alloc["params"]["median"] * 6 == pytest.approx(1e22,
                                                                                      rel=0.05)


@pytest.fixture(scope="module")
def cli_fit(tmp_path_factory):
    from conftest import FIXTURES

    out = tmp_path_factory.mktemp("fit") / "out"
    result = CliRunner().invoke(main, ["fit", str(FIXTURES / "synthetic_power.csv"),
                                       "--out", str(out), "--draws", "300", "--tune", "300",
                                       "--seed", "7", "--json"])
    return result, out


def test_cli_fit_writes_summary_contract(cli_fit):
    result, out = cli_fit
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert json.loads(result.output[result.output.index("{"):]) == summary
    assert summary["law"] == "power" and summary["n_runs"] == 40
    assert set(summary["params"]) == {"E", "A", "alpha"}
    for p in summary["params"].values():
        assert {"median", "q05", "q95", "r_hat", "ess_bulk"} <= set(p)
        assert p["q05"] <= p["median"] <= p["q95"]
    assert isinstance(summary["divergences"], int)
    ext = summary["extrapolation"]
    assert ext["method"] == "lfo" and ext["n_inner_fit"] + ext["n_inner_test"] == 40
    assert ext["flops_max"] == pytest.approx(max(summary["flops_range"]))
    # raw units: A is in loss * FLOPs^alpha, so of order 1e5, not of order one
    assert summary["params"]["A"]["median"] > 1e4


def test_fit_nc_is_self_describing(cli_fit):
    _, out = cli_fit
    loaded = load_fit(out)
    attrs = loaded.idata.attrs
    assert attrs["law"] == "power" and attrs["y"] == "loss"
    assert len(attrs["input_sha256"]) == 64
    assert json.loads(attrs["sampler"])["seed"] == 7
    assert set(json.loads(attrs["priors"])) == {"E_scaled", "A_scaled", "alpha", "sigma", "nu"}
    assert {"posterior", "prior", "posterior_predictive", "observed_data",
            "log_likelihood"} <= set(loaded.idata.groups())
    kept = json.loads(attrs["sampling_passes"])[-1]  # 300 draws asked; a retry may draw more
    assert kept["draws"] >= 300
    assert loaded.raw()["alpha"].shape == (4 * kept["draws"],)
    # the extrapolation error travels in fit.nc, so emergence and backtests of a loaded fit use it
    summary = json.loads((out / "summary.json").read_text())
    assert loaded.extrapolation == summary["extrapolation"]
    assert loaded.extrapolation["method"] == "lfo"
    # no temporary files left behind
    assert sorted(p.name for p in out.iterdir()) == ["fit.nc", "summary.json"]


def test_table_output(tmp_path, fixtures_dir):
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["fit", str(fixtures_dir / "synthetic_power.csv"),
                                       "--out", str(out), "--draws", "100", "--tune", "100",
                                       "--chains", "2"])
    assert result.exit_code == 0, result.output
    assert "law power: L(C) = E + A C^-alpha" in result.output
    assert "divergences:" in result.output
    assert "extrapolation error: " in result.output and "scored on the 5 largest" in result.output
    for name in ("E ", "A ", "alpha"):
        assert any(line.startswith(name) for line in result.output.splitlines())


def test_load_fit_errors(tmp_path):
    with pytest.raises(InputError, match="no fit found"):
        load_fit(tmp_path)
    (tmp_path / "fit.nc").write_bytes(b"garbage, not netcdf")
    with pytest.raises(InputError, match="cannot be read as a fit"):
        load_fit(tmp_path)


def test_joint_weibull_fit_with_a_fixed_floor_survives_failed_parameter_checks(tmp_path):
    # regression: the Beta likelihood's check (alpha > 0, beta > 0) used to raise out of the
    # Laplace optimiser on these runs ("sampling failed"); PyMC's rule makes it -inf instead
    import pandas as pd

    frame = pd.read_csv(FIXTURES / "harness_addition.csv")
    frame[frame.flops < 1.85e11].to_csv(tmp_path / "below.csv", index=False)
    (tmp_path / "floor.toml").write_text('floor = {dist = "Fixed", value = 0.1}\n')
    result = CliRunner().invoke(main, ["fit", str(tmp_path / "below.csv"), "--y", "step_loss",
                                       "--acc", "step_acc", "--priors",
                                       str(tmp_path / "floor.toml"), "--draws", "100",
                                       "--tune", "100", "--chains", "2", "--out",
                                       str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {"s", "L0"} <= set(summary["params"]) and summary["link"]["floor"]["value"] == 0.1
    assert summary["link"]["name"] == "weibull"


def test_cli_fit_frontier_fits_the_envelope_of_the_checkpoints(tmp_path):
    out = tmp_path / "front"
    result = CliRunner().invoke(main, ["fit", str(FIXTURES / "harness_addition.csv"), "--y",
                                       "step_loss", "--frontier", "--draws", "100", "--tune",
                                       "100", "--chains", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    frame = pd.read_csv(FIXTURES / "harness_addition.csv").sort_values("flops")
    envelope = (frame.step_loss <= frame.step_loss.cummin()).sum()  # no ties in this table
    assert summary["frontier"] == {"runs": int(envelope), "of": 100}
    assert summary["n_runs"] == envelope < 100
    assert f"the compute frontier: {envelope} of 100 runs" in result.output


def test_cli_fit_frontier_needs_a_law_of_compute(tmp_path):
    result = CliRunner().invoke(main, ["fit", str(FIXTURES / "synthetic_chinchilla.csv"),
                                       "--law", "chinchilla", "--frontier", "--out",
                                       str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "--frontier needs a law of compute" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


def _gap_runs(train_over_loss, n: int = 20, y: str = "loss"):
    flops = np.geomspace(1e10, 1e12, n)
    loss = 2.0 * (flops / 1e10) ** -0.2
    return runs_from_frame(pd.DataFrame({"flops": flops, y: loss,
                                         "train_loss": loss * train_over_loss}), y=y)


def test_memorisation_flags_a_training_loss_far_below_the_held_out_loss():
    from forecast.inference.diagnostics import memorisation
    from forecast.laws import get_law

    power = get_law("power")
    message = memorisation(_gap_runs(1 / 50), power)
    assert message.startswith("memorisation: on the 4 runs with the most compute, loss is a "
                              "median 50x the training loss")
    assert memorisation(_gap_runs(1 / 10.5), power) is not None
    assert memorisation(_gap_runs(1 / 9.5), power) is None  # under the 10x threshold
    assert memorisation(_gap_runs(0.98), power) is None  # train and held-out losses agree
    plain = runs_from_frame(_gap_runs(1 / 50).frame.drop(columns="train_loss"))
    assert memorisation(plain, power) is None  # nothing to compare
    assert memorisation(_gap_runs(1 / 50), get_law("logistic")) is None  # not a loss
    assert memorisation(_gap_runs(1 / 50, y="ppl"), power) is None  # not a loss either


def test_memorisation_skips_missing_training_losses_and_counts_zero_as_infinite():
    from forecast.inference.diagnostics import memorisation
    from forecast.laws import get_law

    power = get_law("power")
    ratios = np.full(20, 1 / 50)
    ratios[0] = np.nan  # a blank cell in a small run does not switch the check off
    assert "median 50x" in memorisation(_gap_runs(ratios), power)
    ratios[-2:] = np.nan  # the top 4 runs: 2 with a training loss, too few to judge
    assert memorisation(_gap_runs(ratios), power) is None
    zeros = np.full(20, 1.0)
    zeros[-4:-1] = 0.0  # a training loss logged as 0 on 3 of the top 4 runs
    assert "infinitely many times" in memorisation(_gap_runs(zeros), power)


def test_fit_of_the_grokking_run_before_its_jump_is_flagged(tmp_path):
    # issue 4: a loss-versus-compute forecast made before the jump must be wide or flagged
    frame = pd.read_csv(FIXTURES / "harness_grokking.csv")
    frame[(frame.step >= 52) & (frame.step <= 466)].to_csv(tmp_path / "prejump.csv",
                                                             index=False)
    result = CliRunner().invoke(main, ["fit", str(tmp_path / "prejump.csv"), "--y", "test_loss",
                                       "--draws", "100", "--tune", "100", "--chains", "2",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "warning: memorisation: on the 4 runs with the most compute, test_loss is a median" \
        in result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert any(w.startswith("memorisation") for w in summary["warnings"])
    # ... and a forecast from that fit repeats the warning
    result = CliRunner().invoke(main, ["emergence", "--fit", str(tmp_path / "out"), "--steps",
                                       "1"])
    assert result.exit_code == 0, result.output
    assert f"warning: fit {tmp_path / 'out'}: memorisation:" in result.output
    saved = json.loads((tmp_path / "out" / "emergence.json").read_text())
    assert saved["fit_warnings"][str(tmp_path / "out")] == summary["warnings"]
    # the addition runs learn from fresh problems: no such warning
    result = CliRunner().invoke(main, ["fit", str(FIXTURES / "harness_addition.csv"), "--y",
                                       "step_loss", "--draws", "100", "--tune", "100",
                                       "--chains", "2", "--out", str(tmp_path / "add")])
    assert result.exit_code == 0 and "memorisation" not in result.output


def test_chance_floor_hint_when_no_run_is_near_zero_accuracy():
    zero, chance = {"dist": "Fixed", "value": 0.0}, {"dist": "Fixed", "value": 0.1}
    at_chance = np.array([0.147, 0.3, 0.9])  # the lookup runs' first checkpoints: 0.15
    hint = chance_floor_hint(at_chance, zero, "step_acc")
    assert hint.startswith("--acc step_acc: every run's accuracy is at least 0.15")
    assert '[floor] dist = "Fixed" value = 0.1' in hint
    assert chance_floor_hint(at_chance, chance, "step_acc") is None  # the floor is set
    assert chance_floor_hint(np.array([0.01, 0.5]), zero, "step_acc") is None  # near 0: fine
    assert chance_floor_hint(np.array([0.05, 0.5]), zero, "acc") is not None  # the threshold
