"""Priors: defaults for every law, TOML overrides, and the messages for bad priors."""

import pytest
from click.testing import CliRunner

from forecast.cli import main
from forecast.errors import InputError
from forecast.inference.priors import DISTRIBUTIONS, default_priors, load_priors, resolve_priors
from forecast.laws import LAWS


@pytest.mark.parametrize("law", list(LAWS))
def test_every_default_prior_is_valid(law):
    for name, spec in default_priors(LAWS[law]).items():
        assert spec["dist"] in DISTRIBUTIONS, name
        assert set(spec) - {"dist"} == set(DISTRIBUTIONS[spec["dist"]]), name


def test_user_over_derived_over_default():
    derived = {"alpha": {"dist": "Normal", "mu": 0.5, "sigma": 0.1}}
    user = {"alpha": {"dist": "LogNormal", "mu": -1.0, "sigma": 0.2}}
    assert resolve_priors(LAWS["power"], derived=derived)["alpha"]["mu"] == 0.5
    assert resolve_priors(LAWS["power"], user, derived=derived)["alpha"] == {
        "dist": "LogNormal", "mu": -1.0, "sigma": 0.2}
    assert resolve_priors(LAWS["power"])["E_scaled"] == default_priors(LAWS["power"])["E_scaled"]


def test_toml_round_trip(tmp_path):
    path = tmp_path / "priors.toml"
    path.write_text('[alpha]\ndist = "Normal"\nmu = 0.3\nsigma = 0.05\n')
    assert resolve_priors(LAWS["power"], load_priors(path))["alpha"] == {
        "dist": "Normal", "mu": 0.3, "sigma": 0.05}


@pytest.mark.parametrize("toml,fragment", [
    ('[gamma]\ndist = "Normal"\nmu = 0\nsigma = 1\n', "unknown parameter 'gamma'"),
    ('[alpha]\ndist = "Cauchy"\nalpha = 0\nbeta = 1\n', "use one of"),
    ('[alpha]\ndist = "Normal"\nmu = 0\n', "needs exactly the arguments mu, sigma"),
    ('[alpha]\ndist = "Normal"\nmu = 0\nsigma = -1\n', "sigma must be > 0"),
    ('[alpha]\ndist = "Normal"\nmu = "zero"\nsigma = 1\n', "is not a finite number"),
    ('[alpha]\ndist = "Uniform"\nlower = 2\nupper = 1\n', "lower < upper"),
    ("alpha = 3\n", "must be a table"),
    ("[alpha\n", "not valid TOML"),
])
def test_bad_priors_file_exits_2_before_sampling(tmp_path, fixtures_dir, toml, fragment):
    path = tmp_path / "priors.toml"
    path.write_text(toml)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["fit", str(fixtures_dir / "synthetic_power.csv"),
                                       "--priors", str(path), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert str(path) in result.output
    assert not out.exists()


def test_missing_priors_file(tmp_path):
    with pytest.raises(InputError, match="priors file not found"):
        load_priors(tmp_path / "nope.toml")


def test_shipped_digit_chance_priors_fix_the_link_floor():
    from conftest import FIXTURES

    from forecast.inference.model import link_priors

    user = load_priors(FIXTURES / "digit_chance.toml")
    assert user == {"floor": {"dist": "Fixed", "value": 0.1}}
    assert link_priors(user)["floor"] == {"dist": "Fixed", "value": 0.1}
