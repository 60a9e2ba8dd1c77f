"""`forecast report`: the HTML embeds every figure and names every parameter and diagnostic.

Fast tests use fake fits (known draws, no sampling; see test_figures.fake_fit); the ``slow`` ones
run `forecast fit --report` and `forecast report` through the CLI on a real, tiny fit.
"""

import base64
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import FIXTURES
from test_figures import POWER_TRUTH, fake_fit

from forecast.cli import main
from forecast.inference.fitting import load_fit
from forecast.questions.emergence import emergence as run_emergence
from forecast.questions.emergence import step_success, write_emergence
from forecast.report.figures import fit_bands
from forecast.report.page import fit_runs, make_report
from forecast.runs import read_runs

DIAGNOSTICS = ("R-hat", "ESS bulk", "ESS tail", "Divergent transitions")


@pytest.fixture(scope="module")
def runs():
    return read_runs(FIXTURES / "synthetic_power.csv")


@pytest.fixture
def fit(runs):
    return fake_fit("power", POWER_TRUTH, runs, seed="report")


def embedded(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_report_embeds_every_figure_and_names_parameters(fit, tmp_path):
    path = make_report(tmp_path, fit=fit)
    assert path == tmp_path / "report.html"
    page = path.read_text()
    pngs = sorted((tmp_path / "figures").glob("*.png"))
    assert [p.stem for p in pngs] == ["fit", "marginals", "pairs", "ranks"]
    images = embedded(page)
    assert sorted(images) == sorted(p.read_bytes() for p in pngs)
    assert all(img.startswith(b"\x89PNG") for img in images)
    for name in ("E", "A", "alpha", "sigma", "nu"):
        assert f"<b>{name}</b>" in page
    for diag in DIAGNOSTICS:
        assert diag in page
    assert "All diagnostics pass" in page
    assert "No emergence.json" in page
    # self-contained: nothing is fetched
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<script" not in page and "<link" not in page


def test_report_tables_show_the_data_and_posterior(fit, runs, tmp_path):
    page = make_report(tmp_path, fit=fit).read_text()
    assert f"<td>runs</td><td>{len(runs)}</td>" in page
    assert "1&times;10<sup>17</sup> .. 1&times;10<sup>21</sup>" in page  # compute range
    med = float(np.median(fit.draws("alpha")))
    assert f"{med:.4g}" in page


def checked(page: str) -> tuple[int, int]:
    m = re.search(r"Posterior predictive check on [^:]*: (\d+) of (\d+) runs", page)
    return int(m.group(1)), int(m.group(2))


def test_predictive_check_scores_the_fitted_runs_not_every_row(runs, tmp_path):
    # a fit of the lower half of a table (as --frontier fits part of one): the check scores
    # the rows the fit saw, and says that the rest were not fitted
    half = runs.subset(runs.flops <= np.median(runs.flops))
    fit = fake_fit("power", POWER_TRUTH, half, seed="report")
    fit.summary["frontier"] = {"runs": len(half), "of": len(runs)}
    page = make_report(tmp_path, fit=fit).read_text()
    out, n = checked(page)
    assert n == len(half) < len(runs)
    assert f"the compute frontier of {len(runs)} rows" in page


def test_predictive_check_counts_runs_outside_the_new_run_interval(fit, runs, tmp_path):
    # the fake posterior sits on the truth with the fixture's 2% noise: about 10% fall outside
    out, n = checked(make_report(tmp_path, fit=fit).read_text())
    assert n == len(runs) and out <= 10
    fit.idata.posterior["E"] = fit.idata.posterior["E"] * 1.2  # a law that misses the runs
    page = make_report(tmp_path, fit=fit).read_text()
    out, n = checked(page)
    assert out >= n // 2 and "read the forecast with care" in page
    assert "tails heavier than Cauchy" not in page
    fit.idata.posterior["nu"] = fit.idata.posterior["nu"] * 0.06  # median 0.6: outliers galore
    page = make_report(tmp_path, fit=fit).read_text()
    assert re.search(r"nu has median 0\.[56]\d?, below 1", page)


def test_report_shows_the_warnings_when_diagnostics_fail(fit, tmp_path):
    bad = "R-hat above 1.01 for E: the chains disagree; run longer"
    fit.summary.update(warnings=[bad], divergences=7, converged=False)
    # make R-hat of E fail for real: shift one chain
    fit.idata.posterior["E"][1] = fit.idata.posterior["E"][1] + 1.0
    page = make_report(tmp_path, fit=fit).read_text()
    assert bad in page and "Warnings" in page and "All diagnostics pass" not in page
    assert "<b class='bad'>7</b>" in page
    row = re.search(r"<td><b>E</b></td>(.*?)</tr>", page).group(1)
    assert 'class="bad"' in row


def test_report_adds_emergence_backtest_and_comparison(fit, tmp_path):
    # per-step success is capped at exp(-E) = 0.165: k = 1, 2 cross 0.02, k = 3 never does
    result = run_emergence(step_success(fit, "exp"), [1, 2, 3], threshold=0.02, budget=1e22)
    write_emergence(result, tmp_path)
    cov = {"50": 0.5, "80": 0.8, "90": 0.9, "95": 0.95}
    score = {"median_ape": 1.5, "coverage": cov, "crps": 0.01}
    (tmp_path / "backtest.json").write_text(json.dumps(
        {"cutoff": 1e20, "n_fit": 30, "n_test": 10, "model": score, "baseline": score}))
    (tmp_path / "compare.json").write_text(json.dumps(
        [{"law": "power", "elpd_loo": 80.5, "weight": 0.9},
         {"law": "pure", "elpd_loo": 20.1, "weight": 0.1}]))
    page = make_report(tmp_path, fit=fit).read_text()
    stems = sorted(p.stem for p in (tmp_path / "figures").glob("*.png"))
    assert stems == ["calibration", "emergence", "fit", "marginals", "pairs", "ranks"]
    assert len(embedded(page)) == 6
    for row in result["steps"][:2]:
        assert f"<td>{row['k']}</td><td>{row['log10_flops']['median']:.4g}</td>" in page
    assert result["steps"][2]["p_never"] == 1.0
    assert "<td>3</td><td>never</td>" in page
    assert "P(by budget)" in page and "Backtest" in page and "Law comparison" in page
    assert "<td>pure</td><td>20.1</td><td>0.1</td>" in page
    # the budget of emergence.json is used for the fit too
    assert "At the budget of 1&times;10<sup>22</sup> FLOPs" in page


def test_report_rejects_result_files_of_the_wrong_shape(fit, tmp_path):
    from forecast.errors import InputError

    (tmp_path / "emergence.json").write_text(json.dumps({"threshold": 0.5, "steps": []}))
    with pytest.raises(InputError, match=r"emergence.json: not a result of `forecast "
                                         r"emergence` \(missing curves, link, n_draws\)"):
        make_report(tmp_path, fit=fit)
    (tmp_path / "emergence.json").unlink()
    (tmp_path / "backtest.json").write_text(json.dumps([{"cutoff": 1e20}]))
    with pytest.raises(InputError, match=r"backtest.json: .*missing model"):
        make_report(tmp_path, fit=fit)
    assert not (tmp_path / "report.html").exists() and not (tmp_path / "figures").exists()


def test_fit_runs_rebuilds_the_runs_when_the_source_is_gone(fit, runs):
    fit.idata.attrs["source"] = "/nonexistent/runs.csv"
    rebuilt, note = fit_runs(fit)
    csv = pd.read_csv(FIXTURES / "synthetic_power.csv")
    np.testing.assert_allclose(rebuilt.flops, csv["flops"], rtol=1e-12)
    np.testing.assert_allclose(rebuilt.y, csv["loss"], rtol=1e-12)
    assert "rebuilt from fit.nc" in note
    fit.idata.attrs["source"] = runs.source
    same, note = fit_runs(fit)
    assert note == "" and np.array_equal(same.y, runs.y)


def test_report_rejects_a_folder_without_a_fit(tmp_path):
    result = CliRunner().invoke(main, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "no fit found" in result.output and "forecast fit" in result.output
    assert not (tmp_path / "nope").exists()


@pytest.fixture(scope="module")
def real_fit_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "out"
    result = CliRunner().invoke(main, [
        "fit", str(FIXTURES / "synthetic_power.csv"), "--out", str(out), "--draws", "300",
        "--tune", "300", "--chains", "2", "--seed", "3", "--report"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_fit_with_report_writes_the_report(real_fit_dir):
    page = (real_fit_dir / "report.html").read_text()
    pngs = sorted((real_fit_dir / "figures").glob("*.png"))
    assert len(pngs) == 4 and sorted(embedded(page)) == sorted(p.read_bytes() for p in pngs)
    summary = json.loads((real_fit_dir / "summary.json").read_text())
    for name in summary["params"]:
        assert f"<b>{name}</b>" in page
    for diag in DIAGNOSTICS:
        assert diag in page


@pytest.mark.slow
def test_report_command_on_a_real_fit(real_fit_dir, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(real_fit_dir, out, ignore=shutil.ignore_patterns("report.html", "figures"))
    result = CliRunner().invoke(main, ["report", str(out), "--budget", "1e23"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out / 'report.html'}" in result.output
    page = (out / "report.html").read_text()
    assert len(embedded(page)) == 4
    bands = fit_bands(load_fit(out), np.array([1e23]), seed=0)
    assert (f"At the budget of 1&times;10<sup>23</sup> FLOPs, the law forecasts <code>loss</code> "
            f"{bands['mean']['median'][0]:.4g} (90%: {bands['mean']['q05'][0]:.4g} .. "
            f"{bands['mean']['q95'][0]:.4g})") in page


@pytest.mark.slow
def test_report_refuses_a_corrupt_result_file_and_writes_nothing(real_fit_dir, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(real_fit_dir, out, ignore=shutil.ignore_patterns("report.html", "figures"))
    (out / "emergence.json").write_text("{not json")
    result = CliRunner().invoke(main, ["report", str(out)])
    assert result.exit_code == 2
    assert "emergence.json: cannot be read as JSON" in result.output
    assert "Traceback" not in result.output
    assert not (out / "report.html").exists() and not (out / "figures").exists()
