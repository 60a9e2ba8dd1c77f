"""Law comparison: candidates, the LFO cutoff, predictive densities, the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import named_rng
from scipy.stats import t as student_t

from forecast.cli import main
from forecast.errors import InputError
from forecast.inference.fitting import Fit
from forecast.laws import get_law
from forecast.questions.compare import candidate_laws, lfo_cutoff, log_predictive_density
from forecast.runs import runs_from_frame


def test_candidate_laws_follow_the_columns():
    assert candidate_laws(["flops", "loss"]) == ["power", "pure", "broken"]
    assert candidate_laws(["params", "tokens", "loss"]) == ["power", "pure", "broken",
                                                            "chinchilla"]


def frame(n=40, E=1.8, noise=0.0, seed="compare"):
    rng = named_rng(seed)
    flops = np.logspace(17, 21, n)
    loss = (E + 4e5 * flops ** -0.3) * np.exp(rng.normal(0, noise, n))
    return pd.DataFrame({"flops": flops, "loss": loss})


def test_lfo_cutoff_holds_out_the_largest_runs():
    runs = runs_from_frame(frame())
    cut = lfo_cutoff(runs, 0.2)
    assert int((runs.flops <= cut).sum()) == 32
    with pytest.raises(InputError, match="fraction"):
        lfo_cutoff(runs, 1.5)


def test_log_predictive_density_is_the_student_t_mixture():
    import arviz as az

    runs = runs_from_frame(frame(5))
    post = {"E": np.array([[1.8, 1.7]]), "A": np.array([[4e5, 4e5]]),
            "alpha": np.array([[0.3, 0.3]]), "sigma": np.array([[0.02, 0.05]]),
            "nu": np.array([[5.0, 30.0]])}
    result = Fit(az.from_dict(posterior=post), get_law("power"), {"y": 1.0, "C": 1.0}, {},
                 "loss")
    lpd = log_predictive_density(result, runs)
    dens = [student_t.pdf(np.log(runs.y), post["nu"][0, s],
                          loc=np.log(post["E"][0, s] + 4e5 * runs.flops ** -0.3),
                          scale=post["sigma"][0, s]) for s in range(2)]
    np.testing.assert_allclose(lpd, np.log(np.mean(dens, axis=0)), rtol=1e-10)


@pytest.mark.parametrize("extra, message", [
    (["--laws", "logistic"], "loss laws"),
    (["--laws", "power,nope"], "loss laws"),
    (["--laws", "chinchilla"], "needs columns 'params' and 'tokens'"),
    (["--cutoff", "1e30"], "no run above it"),
])
def test_cli_bad_input_exits_2(tmp_path, extra, message):
    path = tmp_path / "runs.csv"
    frame().to_csv(path, index=False)
    result = CliRunner().invoke(main, ["compare", str(path), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs.csv"]


@pytest.mark.slow
def test_a_floor_in_the_data_favours_power_over_pure(tmp_path):
    path = tmp_path / "runs.csv"
    frame(noise=0.01, seed="compare-floor").to_csv(path, index=False)
    result = CliRunner().invoke(main, ["compare", str(path), "--laws", "pure,power",
                                       "--draws", "300", "--tune", "300", "--chains", "2",
                                       "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output[result.output.index("{"):])
    rows = {r["law"]: r for r in out["laws"]}
    assert out["chosen"] == "power" and out["best_loo"] == "power"
    assert rows["power"]["elpd_lfo"] > rows["pure"]["elpd_lfo"]
    assert rows["power"]["elpd_loo"] > rows["pure"]["elpd_loo"]
    assert sum(r["weight"] for r in out["laws"]) == pytest.approx(1.0)
    assert rows["power"]["weight"] > 0.5
    assert out["n_fit"] == 32 and out["n_test"] == 8
