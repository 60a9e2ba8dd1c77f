"""The direct law of downstream accuracy (log(-log acc) linear in log C): recovery of known
coefficients, calibrated prediction intervals over replicates, bad input, and its place beside
the model in `forecast backtest` of an accuracy law."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import ROOT, named_rng

from forecast.cli import main
from forecast.errors import InputError
from forecast.questions.direct import fit_direct
from forecast.runs import runs_from_frame

SHARED = ROOT.parent / "shared" / "data" / "obsscaling_arithmetic_fitsplit"


def simulated(rng, n=40, a=-0.2, b=-0.6, s=0.3, x_new=()):
    logc = np.sort(rng.uniform(np.log(1e20), np.log(1e23), n))
    xs = np.concatenate([logc, np.asarray(x_new, dtype=float)])
    z = a + b * (xs - logc.mean()) + s * rng.standard_normal(len(xs))
    acc = np.exp(-np.exp(z))
    frame = pd.DataFrame({"flops": np.exp(xs), "value": acc})
    return frame.iloc[:n], frame.iloc[n:]


def test_recovers_known_coefficients_within_4_standard_errors():
    rng = named_rng("direct-recovery")
    a, b, s = -0.2, -0.6, 0.3
    fit_frame, _ = simulated(rng, n=60, a=a, b=b, s=s)
    fit = fit_direct(runs_from_frame(fit_frame, y="value", law="logistic"))
    assert abs(fit.b - b) <= 4 * s / np.sqrt(fit.sxx)
    assert abs(fit.a - a) <= 4 * s / np.sqrt(fit.n)
    assert abs(fit.s - s) <= 4 * s / np.sqrt(2 * (fit.n - 2))


def test_the_90_percent_prediction_interval_covers_at_its_rate_over_replicates():
    # a new model 1.5 decades beyond the data, 400 replicates: 0.90 +- 4 sd (0.06)
    rng = named_rng("direct-coverage")
    hits = []
    for _ in range(400):
        beyond = np.log(1e23) + np.log(10) * np.array([1.5, 2.0])
        fit_frame, new = simulated(rng, n=20, x_new=beyond)
        fit = fit_direct(runs_from_frame(fit_frame, y="value", law="logistic"))
        at = SimpleNamespace(flops=new["flops"].to_numpy())  # the law reads only compute
        draws = fit.draws(at, rng, n_draws=2000)[:, 0]
        lo, hi = np.quantile(draws, [0.05, 0.95])
        hits.append(lo <= new["value"].iloc[0] <= hi)
    assert 0.84 <= np.mean(hits) <= 0.96


def test_too_few_runs_is_an_input_error():
    frame = pd.DataFrame({"flops": [1e20, 1e21], "value": [0.1, 0.4]})
    runs = runs_from_frame(pd.concat([frame] * 3), y="value", law="logistic").subset(
        np.array([True, True, False, False, False, False]))
    with pytest.raises(InputError, match="at least 3 runs"):
        fit_direct(runs)


@pytest.mark.slow
def test_backtest_of_an_accuracy_law_scores_the_direct_law_beside_the_model(tmp_path):
    path = SHARED / "arithmetic_below_8.4e22flops.csv"
    if not path.exists():
        pytest.skip("../shared/data is not beside the checkout")
    task = pd.read_csv(path).query("task == 'arithmetic_2da'")
    runs_csv = tmp_path / "2da.csv"
    task.to_csv(runs_csv, index=False)
    result = CliRunner().invoke(main, ["backtest", str(runs_csv), "--law", "logistic", "--y",
                                       "value", "--cutoff", "1e22", "--draws", "300", "--tune",
                                       "300", "--seed", "1", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    for key in ("model", "baseline", "direct"):
        assert 0 <= out[key]["mae"] <= 1 and 0 <= out[key]["coverage"]["90"] <= 1
    assert out["direct_params"]["b"] < 0  # accuracy rises with compute: -log acc falls
