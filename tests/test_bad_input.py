"""The bad-input catalogue across commands (issue 8): exit 2, one line naming the thing and the
fix, no traceback, nothing written.

The runs-CSV cases are in ``test_runs.py`` (``BAD``), priors files in ``test_priors.py``,
emergence options in ``test_emergence.py``, backtest options in ``test_backtest.py``; this file
holds what cuts across commands: output paths and fit folders.
"""

import json

import arviz as az
import numpy as np
import pytest
from click.testing import CliRunner

from forecast.cli import main

ROWS = "flops,loss\n" + "".join(f"{10 ** (17 + i / 2):g},{2 + 3 * 0.7 ** i:.4f}\n"
                                for i in range(8))


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    return result, lines


def assert_one_line_error(result, lines, fragment):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert fragment in lines[0]


@pytest.fixture
def runs_csv(tmp_path):
    path = tmp_path / "runs.csv"
    path.write_text(ROWS)
    return path


def test_out_below_a_file_is_not_writable(tmp_path, runs_csv):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    result, lines = invoke("fit", runs_csv, "--out", blocker / "sub")
    assert_one_line_error(result, lines, "--out is not writable")
    assert blocker.read_text() == "a file"


@pytest.mark.parametrize("command", ["fit", "emergence", "harness"])
def test_out_where_no_folder_can_be_made_is_one_line(tmp_path, runs_csv, command):
    # /proc passes a permission check (as root it looks writable) but takes no new folder
    out = "/proc/forecast-out"
    args = {"fit": ["fit", runs_csv, "--out", out],
            "emergence": ["emergence", "--fit", tmp_path, "--steps", 4, "--out", out],
            "harness": ["harness", "--preset", "smoke", "--out", f"{out}/runs.csv"]}[command]
    result, lines = invoke(*args)
    assert_one_line_error(result, lines, "/proc")
    assert not __import__("os").path.exists(out)


def test_atomic_write_into_an_impossible_folder_is_an_input_error():
    from forecast.errors import InputError
    from forecast.outputs import atomic_write

    with pytest.raises(InputError, match="cannot write x.json there"):
        atomic_write("/proc/forecast-out/x.json", lambda tmp: None)


def test_fit_folder_from_another_law_is_refused(tmp_path):
    """A fit.nc whose attributes name one law but whose posterior holds another's parameters."""
    folder = tmp_path / "fit"
    folder.mkdir()
    post = {k: np.ones((1, 5)) for k in ("E", "A", "B", "alpha", "beta")}
    idata = az.from_dict(posterior=post)
    idata.attrs.update(law="broken", y="loss", refs=json.dumps({"y": 1.0, "C": 1.0}),
                       priors="{}", sampler="{}", forecast_version="0.1.0")
    idata.to_netcdf(folder / "fit.nc")
    before = sorted(p.name for p in folder.iterdir())
    for args in (["emergence", "--fit", folder, "--steps", 4], ["report", folder]):
        result, lines = invoke(*args)
        assert_one_line_error(result, lines, "posterior lacks delta, Cb, f for law 'broken'")
        assert sorted(p.name for p in folder.iterdir()) == before


def test_fit_nc_of_unknown_law_is_refused(tmp_path):
    folder = tmp_path / "fit"
    folder.mkdir()
    idata = az.from_dict(posterior={"x": np.ones((1, 5))})
    idata.attrs.update(law="cubic", y="loss", refs="{}", priors="{}", sampler="{}",
                       forecast_version="0.1.0")
    idata.to_netcdf(folder / "fit.nc")
    result, lines = invoke("emergence", "--fit", folder, "--steps", 2)
    assert_one_line_error(result, lines, "fit of unknown law 'cubic'")


def test_netcdf_that_is_not_a_forecast_fit(tmp_path):
    folder = tmp_path / "fit"
    folder.mkdir()
    az.from_dict(posterior={"x": np.ones((1, 5))}).to_netcdf(folder / "fit.nc")
    result, lines = invoke("emergence", "--fit", folder, "--steps", 2)
    assert_one_line_error(result, lines, "not a forecast fit")


@pytest.mark.parametrize("budget", ["-5", "0", "nan", "abc"])
def test_fit_budget_must_be_a_positive_number(tmp_path, runs_csv, budget):
    result = CliRunner().invoke(main, ["fit", str(runs_csv), "--law", "power", "--budget",
                                       budget, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "--budget" in result.output
    assert not (tmp_path / "o").exists()
