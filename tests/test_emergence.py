"""`forecast emergence`: crossings from fits, the JSON contract, the CLI, and recovery of the truth.

Fast tests build fits from known posterior draws (no sampling); the ``slow`` ones sample.
"""

import json
import math

import arviz as az
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import named_rng, within_sd
from scipy import optimize

from forecast.cli import main
from forecast.errors import InputError
from forecast.inference.fitting import Fit
from forecast.laws import LAWS, get_law
from forecast.laws.compose import at_least, beta_moment, gumbel_shift_decades, gumbel_width_decades
from forecast.questions.emergence import emergence, step_success

REFS = {"y": 1.0, "C": 1e19}


def fake_fit(raw, law="power", y="step_loss", acc="", flops=(1e17, 1e21), warnings=(),
             acc_link="weibull"):
    """A Fit whose posterior is the given raw-unit draws (one chain)."""
    post = {k: np.atleast_1d(np.asarray(v, dtype=float))[None, :] for k, v in raw.items()}
    idata = az.from_dict(posterior=post)
    idata.attrs.update(law=law, y=y, refs=json.dumps(REFS), priors="{}", sampler="{}",
                       forecast_version="test", source="simulated", acc=acc,
                       acc_link=acc_link if acc else "")
    return Fit(idata, get_law(law), dict(REFS), {}, y,
               {"flops_range": list(flops), "warnings": list(warnings)})


def power(E, A, alpha, n=200):
    return {"E": np.full(n, E), "A": np.full(n, A), "alpha": np.full(n, alpha)}


def truth_log10(E, A, alpha, k, tau=0.5):
    """log10 C* of E + A C^-alpha <= -ln(tau)/k, by hand."""
    gap = -math.log(tau) / k - E
    return math.inf if gap <= 0 else -math.log10(gap / A) / alpha


@pytest.fixture
def saved(tmp_path):
    """Save a fake fit in tmp_path/NAME and return the folder."""
    def save(raw, name="fit", **kw):
        return fake_fit(raw, **kw).save(tmp_path / name)
    return save


def run(*args):
    return CliRunner().invoke(main, ["emergence", *map(str, args)])


# --- the math through a fit ---------------------------------------------------------------------

def test_exact_draws_give_the_closed_form_and_gumbel_widths():
    """A posterior of one point: every quantile is the exact crossing; with E = 0 the hard
    curve's width is the Gumbel 3.08/(alpha ln 10) for every k and it moves log10(k)/alpha."""
    A, alpha = 1e6, 0.3
    out = emergence(step_success(fake_fit(power(0.0, A, alpha))), range(1, 9))
    for row in out["steps"]:
        k = row["k"]
        assert row["log10_flops"]["median"] == pytest.approx(truth_log10(0.0, A, alpha, k))
        assert row["log10_flops"]["q05"] == pytest.approx(row["log10_flops"]["q95"])
        assert row["p_never"] == 0.0
        assert row["width_decades"]["hard"]["median"] == pytest.approx(
            gumbel_width_decades(alpha), rel=1e-9)
        assert row["log10_flops"]["median"] - out["steps"][0]["log10_flops"]["median"] == (
            pytest.approx(gumbel_shift_decades(k, alpha)))
    assert out["method"] == "closed_form"


def test_root_finding_reproduces_the_closed_form_through_a_fit(rng):
    n = 400
    alpha = rng.uniform(0.2, 0.5, n)
    raw = {"E": rng.uniform(0.0, 0.12, n), "A": 10 ** (19 * alpha) * rng.uniform(0.3, 2, n),
           "alpha": alpha}
    steps = step_success(fake_fit(raw))
    closed = emergence(steps, range(1, 9))
    root = emergence(steps, range(1, 9), method="root")
    assert root["method"] == "root"
    for a, b in zip(closed["steps"], root["steps"], strict=True):
        assert a["p_never"] == b["p_never"]
        for name, value in a["log10_flops"].items():
            if value is None:
                assert b["log10_flops"][name] is None
            else:
                assert 10 ** (b["log10_flops"][name] - value) == pytest.approx(1.0, rel=1e-6)
    assert any(row["p_never"] > 0 for row in closed["steps"])


def test_never_crossing_draws_make_null_quantiles_not_fake_numbers():
    n = 1000
    raw = power(0.05, 1e6, 0.3, n)
    raw["E"][n // 2:] = 0.2  # half the draws have a floor above -ln(0.5)/4 = 0.173
    out = emergence(step_success(fake_fit(raw)), [2, 4], budget=1e40)
    k2, k4 = out["steps"]
    assert k2["p_never"] == 0.0 and k4["p_never"] == 0.5
    q = k4["log10_flops"]
    assert q["median"] is None and q["q95"] is None
    assert q["q05"] == pytest.approx(truth_log10(0.05, 1e6, 0.3, 4))
    assert k4["p_by_budget"] == 0.5 and k2["p_by_budget"] == 1.0
    json.dumps(out, allow_nan=False)  # no NaN or inf anywhere: nulls instead


def test_correlated_and_tolerant_tasks_cross_where_their_formula_says():
    A, alpha = 1e6, 0.3
    steps = step_success(fake_fit(power(0.0, A, alpha, 50)))

    def p_at(log10_c):
        return math.exp(-A * (10.0**log10_c) ** -alpha)

    from forecast.laws.compose import Composition

    iid = emergence(steps, [8])["steps"][0]["log10_flops"]["median"]
    corr = emergence(steps, [8], composition=Composition(phi=2.0))["steps"][0]
    c = corr["log10_flops"]["median"]
    assert beta_moment(p_at(c), 2.0, 8) == pytest.approx(0.5, abs=1e-8)
    assert c < iid  # correlation lifts long chains: they cross sooner
    tol = emergence(steps, [8], composition=Composition(allow_errors=2))["steps"][0]
    assert at_least(p_at(tol["log10_flops"]["median"]), 8, 6) == pytest.approx(0.5, abs=1e-8)


def test_heterogeneous_steps_multiply(tmp_path):
    """Three positions learned at different computes: P_3 is the product of the three."""
    laws = [(0.0, 1e5, 0.3), (0.0, 1e6, 0.3), (0.02, 3e6, 0.3)]
    steps = [step_success(fake_fit(power(*law, 100))) for law in laws]
    out = emergence(steps, [1, 2, 3])

    def product(log10_c, k):
        return math.prod(math.exp(-(E + A * (10.0**log10_c) ** -a)) for E, A, a in laws[:k])

    for row in out["steps"]:
        k = row["k"]
        want = optimize.brentq(lambda x, k=k: product(x, k) - 0.5, 10, 40, xtol=1e-12)
        assert row["log10_flops"]["median"] == pytest.approx(want, abs=1e-8)
    assert out["heterogeneous"] and len(out["curves"]["soft"]["per_step"]) == 3
    # expected correct steps is the sum of the positions' success
    grid = np.array(out["curves"]["log10_flops"])
    want = sum(np.exp(-(E + A * (10.0**grid) ** -a)) for E, A, a in laws)
    np.testing.assert_allclose(out["curves"]["soft"]["expected_correct"][2]["median"], want,
                               atol=2e-6)


def test_logistic_fit_of_a_two_step_task_gives_p_as_its_root():
    """From 2-digit accuracy acc(C): p = acc^(1/2), so 3 digits cross 0.5 where
    acc = 0.5^(2/3)."""
    raw = {"floor": np.zeros(50), "s": np.full(50, 0.8), "C50": np.full(50, 1e22)}
    fit = fake_fit(raw, law="logistic", y="acc")
    out = emergence(step_success(fit, from_k=2), [2, 3])
    k2, k3 = (row["log10_flops"]["median"] for row in out["steps"])
    assert k2 == pytest.approx(22.0)  # the fitted 2-step task itself crosses 0.5 at C50
    acc_needed = 0.5 ** (2 / 3)
    assert k3 == pytest.approx(22 + math.log(acc_needed / (1 - acc_needed)) / (0.8 * math.log(10)))
    assert out["link"] == "logistic" and out["from_k"] == 2


def test_weibull_link_from_a_joint_fit():
    raw = {**power(0.0, 1e6, 0.3, 50), "floor": np.full(50, 0.1), "s": np.full(50, 2.0),
           "L0": np.full(50, 0.6)}
    out = emergence(step_success(fake_fit(raw, acc="step_acc")), [1, 4])
    assert out["link"] == "weibull"
    for row in out["steps"]:
        p_star = 0.5 ** (1 / row["k"])
        loss = 0.6 * math.sqrt(-math.log((p_star - 0.1) / 0.9))
        assert row["log10_flops"]["median"] == pytest.approx(truth_log10(0.0, 1e6, 0.3, 1,
                                                                          math.exp(-loss)))


def test_a_fit_with_the_old_sigmoid_link_must_be_refitted():
    raw = {**power(0.0, 1e6, 0.3, 50), "floor": np.full(50, 0.1), "s": np.full(50, 2.0),
           "L0": np.full(50, 0.6)}
    old = fake_fit(raw, acc="step_acc", acc_link="")  # written before the weibull link
    with pytest.raises(InputError, match="sigmoid link of an older forecast.*rerun"):
        step_success(old)


def test_curves_hold_both_views():
    out = emergence(step_success(fake_fit(power(0.0, 1e6, 0.3))), [1, 2, 4, 8])
    curves = out["curves"]
    grid = np.array(curves["log10_flops"])
    assert np.all(np.diff(grid) > 0)
    p = np.exp(-1e6 * (10.0**grid) ** -0.3)
    for entry in curves["hard"]:
        assert len(entry["median"]) == grid.size
        np.testing.assert_allclose(entry["median"], p ** entry["k"], atol=2e-6)
    for entry in curves["soft"]["expected_correct"]:
        np.testing.assert_allclose(entry["q95"], entry["k"] * p, atol=1e-5)
    np.testing.assert_allclose(curves["soft"]["per_step"][0]["median"], p, atol=2e-6)
    # the curves reach past the k = 8 crossing, so the report can draw the whole rise
    assert grid[-1] > out["steps"][-1]["log10_flops"]["median"] + 1


# --- the command line ---------------------------------------------------------------------------

def test_cli_json_contract_and_file(saved):
    folder = saved(power(0.05, 1e6, 0.3))
    res = run("--fit", folder, "--steps", 8, "--json", "--budget", 1e21)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["threshold"] == 0.5 and out["link"] == "exp"
    assert [row["k"] for row in out["steps"]] == list(range(1, 9))
    for row in out["steps"]:
        assert set(row["log10_flops"]) == {"median", "q05", "q25", "q75", "q95"}
        assert 0.0 <= row["p_never"] <= 1.0 and "p_by_budget" in row
    on_disk = json.loads((folder / "emergence.json").read_text())
    assert on_disk["steps"] == out["steps"]
    assert len(on_disk["curves"]["hard"]) == 8
    assert out["emergence_json"] == str(folder / "emergence.json")


def test_cli_table_and_step_list(saved):
    folder = saved(power(0.05, 1e6, 0.3))
    res = run("--fit", folder, "--steps", "1,2,4,8", "--threshold", 0.9)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "threshold 0.9" in res.output
    rows = [line.split() for line in lines if line.split() and line.split()[0] in "1248"]
    assert [r[0] for r in rows] == ["1", "2", "4", "8"]
    assert float(rows[0][1]) == pytest.approx(truth_log10(0.05, 1e6, 0.3, 1, 0.9), abs=0.006)
    assert rows[-1][1] == "-"  # k = 8 at 0.9 needs loss 0.0132 < E: never
    assert "caps per-step success at exp(-E)" in res.output


def test_cli_heterogeneous_fits(saved):
    folders = [saved(power(0.0, A, 0.3, 40), name=f"pos{i}")
               for i, A in enumerate((1e5, 1e6, 3e6))]
    args = [a for f in folders for a in ("--fit", f)]
    res = run(*args, "--steps", 3, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["heterogeneous"] is True
    bad = run(*args, "--steps", 4)
    assert bad.exit_code == 2 and "one fit per step" in bad.output


@pytest.mark.parametrize("args, message", [
    (["--steps", 0], "between 1 and 1000"),
    (["--steps", "2.5"], "whole number"),
    (["--steps", "1,x"], "whole number"),
    (["--steps", ""], "whole number"),
    (["--steps", 4, "--threshold", 0], "strictly between 0 and 1"),
    (["--steps", 4, "--threshold", 1], "strictly between 0 and 1"),
    (["--steps", 4, "--threshold", "nan"], "strictly between 0 and 1"),
    (["--steps", 4, "--budget", -1e20], "positive number of FLOPs"),
    (["--steps", 4, "--budget", "inf"], "positive number of FLOPs"),
    (["--steps", 4, "--phi", 0], "positive number"),
    (["--steps", 4, "--link", "weibull"], "no accuracy link"),
    (["--steps", 4, "--link", "logistic"], "is of a loss"),
    (["--steps", 4, "--from-k", 2], "logistic fit"),
    (["--steps", "2,4", "--allow-errors", 2], "below the smallest k"),
])
def test_cli_bad_values_exit_2_and_write_nothing(saved, args, message):
    # the fit's own warnings are printed only once the forecast is made: an error stays one line
    folder = saved(power(0.05, 1e6, 0.3), warnings=["R-hat above 1.01 for E"])
    before = sorted(p.name for p in folder.iterdir())
    res = run("--fit", folder, *args)
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert sorted(p.name for p in folder.iterdir()) == before


def test_cli_missing_corrupt_and_unsupported_fits(tmp_path, saved):
    res = run("--fit", tmp_path / "nowhere", "--steps", 4)
    assert res.exit_code == 2 and "no fit found" in res.output
    assert not (tmp_path / "nowhere").exists()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "fit.nc").write_bytes(b"not a netcdf file")
    res = run("--fit", tmp_path / "bad", "--steps", 4)
    assert res.exit_code == 2 and "cannot be read" in res.output
    assert sorted(p.name for p in (tmp_path / "bad").iterdir()) == ["fit.nc"]
    logistic = saved({"floor": np.zeros(9), "s": np.ones(9), "C50": np.full(9, 1e22)},
                     name="acc", law="logistic", y="acc")
    res = run("--fit", logistic, "--steps", 3, "--link", "exp")
    assert res.exit_code == 2 and "use --link logistic" in res.output
    chin = saved({k: np.ones(9) for k in ("E", "A", "B", "alpha", "beta")}, name="chin",
                 law="chinchilla")
    res = run("--fit", chin, "--steps", 3)
    assert res.exit_code == 2 and "law of compute" in res.output
    assert not (chin / "emergence.json").exists()


# --- the joint weibull link in the model (no sampling) -------------------------------------------

def test_model_with_accuracy_has_the_weibull_block():
    import pymc as pm

    from forecast.inference.model import build_model, link_priors, model_data
    from forecast.inference.priors import resolve_priors
    from forecast.runs import runs_from_frame

    frame, _ = simulate_step_loss("model-acc", n=20)
    acc = np.linspace(0.05, 0.95, 20)
    runs = runs_from_frame(frame, y="step_loss")
    data = model_data(runs, LAWS["power"], acc=acc)
    priors = {**resolve_priors(LAWS["power"]), **link_priors({"floor": {"dist": "Fixed",
                                                                  "value": 0.1}})}
    model = build_model(data, LAWS["power"], priors, geometry="natural")
    assert {"s", "L0_scaled", "kappa"} <= {v.name for v in model.free_RVs}
    assert model["acc_obs"].owner.op.name == "beta"
    np.testing.assert_allclose(model["acc_obs_y"].get_value(), acc)
    with model:
        prior = pm.sample_prior_predictive(draws=200, random_seed=1)
    assert np.all(np.asarray(prior.prior["floor"]) == 0.1)
    # the prior-predictive accuracy stays above the chance floor on average
    assert float(np.asarray(prior.prior_predictive["acc_obs"]).mean()) > 0.1
    from forecast.errors import InputError

    with pytest.raises(InputError, match="floor"):
        link_priors({"floor": {"dist": "Normal", "mu": 0.1}})


def test_model_accuracy_likelihood_is_the_weibull_link_in_raw_units():
    """The joint block's log density equals a Beta around floor + (1 - floor) exp(-(L/L0)^s)
    computed by hand in raw units (nats), at a chosen point."""
    from scipy import stats

    from forecast.inference.model import build_model, link_priors, model_data
    from forecast.inference.priors import resolve_priors
    from forecast.laws import get_law
    from forecast.runs import runs_from_frame

    frame, _ = simulate_step_loss("model-acc-units", n=12)
    acc = np.linspace(0.15, 0.9, 12)
    data = model_data(runs_from_frame(frame, y="step_loss"), LAWS["power"], acc=acc)
    priors = {**resolve_priors(LAWS["power"]), **link_priors({"floor": {"dist": "Fixed",
                                                                  "value": 0.1}})}
    model = build_model(data, LAWS["power"], priors, geometry="natural")
    point = model.initial_point()  # every free variable is log-transformed: name_log__
    assert set(point) == {f"{v.name}_log__" for v in model.free_RVs}
    point["s_log__"], point["L0_scaled_log__"] = np.log(2.0), np.log(0.6)
    theta = {k.removesuffix("_log__").removesuffix("_scaled"): float(np.exp(v))
             for k, v in point.items()}
    y0 = data.refs["y"]
    loss = get_law("power").mean(np, data.X, theta) * y0  # nats
    s, L0 = theta["s"], theta["L0"] * y0
    mean = 0.1 + 0.9 * np.exp(-(loss / L0) ** s)
    kappa = theta["kappa"]
    expected = stats.beta.logpdf(acc, mean * kappa, (1 - mean) * kappa).sum()
    logp = model.compile_logp(vars=[model["acc_obs"]], sum=True)(point)
    assert float(logp) == pytest.approx(expected, rel=1e-9)


def test_old_sigmoid_link_priors_get_a_hint(tmp_path):
    frame, _ = simulate_step_loss("old-priors", n=12)
    frame["step_acc"] = np.linspace(0.2, 0.9, 12)
    frame.to_csv(tmp_path / "runs.csv", index=False)
    (tmp_path / "p.toml").write_text('[s_scaled]\ndist = "LogNormal"\nmu = 0.7\nsigma = 1.0\n')
    res = CliRunner().invoke(main, ["fit", str(tmp_path / "runs.csv"), "--y", "step_loss",
                                    "--acc", "step_acc", "--priors", str(tmp_path / "p.toml"),
                                    "--out", str(tmp_path / "fit")])
    assert res.exit_code == 2 and not (tmp_path / "fit").exists()
    assert "'s_scaled' was the old sigmoid link's slope" in res.output
    assert "rename the table [s]" in res.output and len(res.output.strip().splitlines()) == 1


@pytest.mark.parametrize("column, values, message", [
    ("nope", None, "no column 'nope'"),
    ("step_acc", 1.5, "accuracy in [0, 1]"),
    ("step_acc", "x", "every value must be a finite number"),
])
def test_fit_acc_bad_column_exits_2_before_sampling(tmp_path, column, values, message):
    frame, _ = simulate_step_loss("bad-acc", n=10)
    frame["step_acc"] = "0.5"
    if values is not None:
        frame.loc[3, "step_acc"] = str(values)
    frame.to_csv(tmp_path / "runs.csv", index=False)
    res = CliRunner().invoke(main, ["fit", str(tmp_path / "runs.csv"), "--y", "step_loss",
                                    "--acc", column, "--out", str(tmp_path / "out")])
    assert res.exit_code == 2, res.output
    assert message in res.output
    assert not (tmp_path / "out").exists()


# --- recovery from sampled fits ------------------------------------------------------------------

def simulate_step_loss(name, E=0.04, alpha=0.3, n=40, noise=0.02):
    """Per-step loss of runs from 1e16 to 1e20 FLOPs; L(1e18) = E + 0.46."""
    rng = named_rng(name)
    flops = np.sort(10 ** rng.uniform(16, 20, n))
    A = 0.46 * 1e18**alpha
    loss = (E + A * flops**-alpha) * np.exp(rng.normal(0, noise, n))
    return pd.DataFrame({"flops": flops, "step_loss": loss}), (E, A, alpha)


@pytest.mark.slow
def test_recovery_of_crossings_from_a_sampled_fit(tmp_path):
    """Truth for k = 1..8 within 4 posterior sd, median within 0.35 decades; p_never is 1 where
    -ln(tau)/k is far below the true E and 0 where far above."""
    frame, (E, A, alpha) = simulate_step_loss("emergence-recovery")
    frame.to_csv(tmp_path / "runs.csv", index=False)
    res = CliRunner().invoke(main, ["fit", str(tmp_path / "runs.csv"), "--y", "step_loss",
                                    "--out", str(tmp_path / "fit"), "--draws", "500",
                                    "--tune", "500", "--chains", "2", "--seed", "2"])
    assert res.exit_code == 0, res.output
    res = run("--fit", tmp_path / "fit", "--steps", "1,2,3,4,5,6,7,8,200", "--json")
    assert res.exit_code == 0, res.output
    out = {row["k"]: row for row in json.loads(res.stdout)["steps"]}
    for k in range(1, 9):
        truth, q = truth_log10(E, A, alpha, k), out[k]["log10_flops"]
        assert within_sd(truth, summary=q), (k, truth, q)
        assert abs(q["median"] - truth) < 0.35, (k, truth, q)
        assert out[k]["p_never"] == 0.0 if k <= 4 else out[k]["p_never"] < 0.05
    # -ln(0.5)/200 = 0.0035 nats, an order of magnitude below E = 0.04
    assert out[200]["p_never"] == 1.0


@pytest.mark.slow
def test_joint_weibull_fit_through_the_cli(tmp_path):
    """`fit --acc` learns the link (s, L0) with the law; `emergence` uses it by default."""
    frame, (E, A, alpha) = simulate_step_loss("emergence-weibull", E=0.02, n=30)
    rng = named_rng("emergence-weibull-acc")
    s, L0 = 2.0, 0.5
    mean = np.exp(-(((E + A * frame["flops"] ** -alpha)) / L0) ** s)
    frame["step_acc"] = rng.beta(mean * 200, (1 - mean) * 200)
    frame.to_csv(tmp_path / "runs.csv", index=False)
    res = CliRunner().invoke(main, ["fit", str(tmp_path / "runs.csv"), "--y", "step_loss",
                                    "--acc", "step_acc", "--out", str(tmp_path / "fit"),
                                    "--draws", "300", "--tune", "300", "--chains", "2",
                                    "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{"):])
    assert within_sd(s, summary=summary["params"]["s"]), summary["params"]["s"]
    assert within_sd(L0, summary=summary["params"]["L0"]), summary["params"]["L0"]
    res = run("--fit", tmp_path / "fit", "--steps", 4, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["link"] == "weibull"
    for row in out["steps"]:
        p_star = 0.5 ** (1 / row["k"])
        loss = L0 * (-math.log(p_star)) ** (1 / s)
        truth = truth_log10(E, A, alpha, 1, math.exp(-loss))
        q = row["log10_flops"]
        assert within_sd(truth, summary=q), (row["k"], truth, q)


def test_cli_repeats_each_fits_warnings_once_and_keeps_them(saved):
    folder = saved(power(0.05, 1e6, 0.3), warnings=["R-hat above 1.01 for E"])
    res = run("--fit", folder, "--fit", folder, "--steps", 2, "--json")
    assert res.exit_code == 0, res.output
    assert res.stderr.count(f"warning: fit {folder}: R-hat above 1.01 for E") == 1
    assert json.loads(res.stdout)["fit_warnings"] == {str(folder): ["R-hat above 1.01 for E"]}
