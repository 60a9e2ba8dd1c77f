"""`forecast plan` (issue 18): preposterior widths by importance reweighting, the greedy pick,
the command and its bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import FIXTURES, named_rng
from scipy import stats

from forecast.cli import main
from forecast.inference.fitting import SamplerSettings, fit
from forecast.questions.plan import (
    Candidates,
    candidate_grid,
    ess,
    interval_width,
    plan,
    weighted_quantiles,
)
from forecast.runs import read_runs

SHORT = SamplerSettings(draws=500, tune=500, chains=2, seed=18)
POWER = FIXTURES / "synthetic_power.csv"
Z90 = stats.norm.ppf(0.95)


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    return result, lines


# --- the update, on a model where the answer is known exactly -----------------------------------

def test_equal_weights_give_hazen_quantiles():
    x = named_rng("hazen").normal(size=501)
    q = weighted_quantiles(x, np.zeros((1, x.size)), (0.05, 0.5, 0.95))[0]
    np.testing.assert_allclose(q, np.quantile(x, [0.05, 0.5, 0.95], method="hazen"), atol=1e-12)


def test_ess_of_equal_and_of_one_hot_weights():
    assert ess(np.zeros((1, 400)))[0] == pytest.approx(400.0)
    one = np.full((1, 400), -np.inf)
    one[0, 7] = 0.0
    assert ess(one)[0] == pytest.approx(1.0)


def test_infinite_draws_make_an_unbounded_interval():
    x = np.concatenate([np.linspace(0, 1, 80), np.full(20, np.inf)])  # 20% never cross
    assert interval_width(x, np.zeros((1, 100)))[0] == np.inf
    assert np.isfinite(interval_width(x, np.zeros((1, 100)), level=0.5)[0])


@pytest.mark.parametrize("noise_sd", [0.5, 1.0, 2.0])
def test_reweighting_matches_the_conjugate_normal_preposterior(noise_sd):
    # theta ~ N(m, v) now; a run y ~ N(theta, s^2) makes it N(., 1 / (1/v + 1/s^2)) whatever y
    # is, so the expected 90% width is 2 z95 sqrt of that, exactly
    rng = named_rng(f"conjugate-{noise_sd}")
    v, n_draws, n_out = 1.0, 40_000, 64
    theta = rng.normal(0.3, np.sqrt(v), n_draws)
    y = theta[rng.integers(0, n_draws, n_out)] + noise_sd * rng.standard_normal(n_out)
    log_w = stats.norm.logpdf(y[:, None], theta[None, :], noise_sd)
    exact = 2 * Z90 * np.sqrt(1.0 / (1.0 / v + 1.0 / noise_sd**2))
    assert np.mean(interval_width(theta, log_w)) == pytest.approx(exact, rel=0.03)
    # Kish's ESS per outcome is n (E w)^2 / E w^2, which for this model is known for each y:
    # E w = N(y | m, v + s^2), E w^2 = N(y | m, v + s^2 / 2) / (2 sqrt(pi) s)
    m, s = 0.3, noise_sd
    expect = n_draws * stats.norm.pdf(y, m, np.sqrt(v + s**2)) ** 2 / (
        stats.norm.pdf(y, m, np.sqrt(v + s**2 / 2)) / (2 * np.sqrt(np.pi) * s))
    np.testing.assert_allclose(ess(log_w), expect, rtol=0.1)


# --- candidates ----------------------------------------------------------------------------------

def test_grid_of_compute_spans_the_data_to_the_budget():
    from forecast.laws import get_law

    runs = read_runs(POWER, law="power")
    c = candidate_grid(get_law("power"), runs.flops, 1e22, 12)
    assert len(c) == 12
    assert c.flops.min() == pytest.approx(runs.flops.min()) and c.flops.max() == pytest.approx(1e22)


def test_grid_of_params_and_tokens_keeps_within_the_budget():
    from forecast.laws import get_law

    runs = read_runs(FIXTURES / "synthetic_chinchilla.csv", law="chinchilla")
    c = candidate_grid(get_law("chinchilla"), runs.flops, 1e21, 50, params=runs.params,
                       tokens=runs.tokens)
    assert len(c) == 50
    assert np.all(6 * c.params * c.tokens <= 1e21 * (1 + 1e-9))
    np.testing.assert_allclose(c.flops, 6 * c.params * c.tokens)
    assert c.params.min() >= runs.params.min() * (1 - 1e-9)
    assert c.tokens.min() >= runs.tokens.min() * (1 - 1e-9)
    ratio = runs.tokens / runs.params
    assert np.all(c.tokens / c.params >= ratio.min() * (1 - 1e-6))
    assert np.all(c.tokens / c.params <= ratio.max() * (1 + 1e-6))


# --- on a fit ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def power_fit(tmp_path_factory):
    runs = read_runs(POWER, law="power")
    result = fit(runs, "power", settings=SHORT, extrapolation="none")
    out = tmp_path_factory.mktemp("plan-fit")
    result.save(out)
    return result, out


@pytest.mark.slow
def test_a_run_near_the_target_narrows_more_than_one_among_the_smallest_runs(power_fit):
    result, _ = power_fit
    # the runs span 1e17 .. 1e21 (40 of them); the target is 1e23. One more run at the bottom
    # or in the middle of the data adds little; one at 1e22 pins the law near the target.
    # (A run far *below* the data, at 1e14, narrows the width a lot under this model: its
    # lever arm pins alpha, and full refits agree; docs/plan.md.)
    cands = Candidates(np.array([1e17, 1e19, 1e22]))
    res = plan(result, cands, 1e23, seed=3, outcomes=48)
    bottom, middle, near = (r["expected_width"] for r in res["candidates"])
    assert near < 0.95 * min(bottom, middle)
    assert max(bottom, middle) <= res["current"]["width"] * 1.02
    assert res["picks"][0]["flops"] == 1e22


@pytest.mark.slow
def test_greedy_picks_are_distinct_and_narrow_step_by_step(power_fit):
    result, _ = power_fit
    cands = Candidates(np.geomspace(1e17, 1e22, 12))
    res = plan(result, cands, 1e23, pick=4, seed=1)
    idx = [p["index"] for p in res["picks"]]
    assert len(idx) == 4 and len(set(idx)) == 4
    widths = [p["expected_width"] for p in res["picks"]]
    assert widths[-1] < widths[0] < res["current"]["width"]
    assert res["picks"][-1]["total_flops"] == pytest.approx(sum(p["flops"] for p in res["picks"]))


@pytest.mark.slow
def test_crossing_compute_is_planned_with_steps(power_fit):
    result, _ = power_fit
    cands = Candidates(np.geomspace(1e17, 1e21, 5))
    res = plan(result, cands, 1e23, steps=4, threshold=0.05, seed=2)
    assert res["quantity"] == "log10_flops_crossing"
    assert all(r["ess"]["median"] > 0 for r in res["candidates"])


@pytest.mark.slow
def test_cli_from_a_fit_folder_writes_plan_json_and_prints_the_table(power_fit, tmp_path):
    _, fit_dir = power_fit
    out = tmp_path / "plan"
    result, lines = invoke("plan", "--fit", fit_dir, "--budget", "1e22", "--target", "1e23",
                           "--candidates", 8, "--pick", 2, "--out", out, "--seed", 4)
    assert result.exit_code == 0, result.output
    saved = json.loads((out / "plan.json").read_text())
    assert len(saved["candidates"]) == 8 and len(saved["picks"]) == 2
    assert saved["budget"] == 1e22 and saved["target_flops"] == 1e23
    assert any(ln.split()[:1] == ["C"] or "C (FLOPs)" in ln for ln in lines)
    table = [ln for ln in lines if ln.strip()[:1].isdigit() and "e+" in ln.split()[0]]
    assert len(table) == 8
    assert lines[-1] == f"wrote {out}/plan.json"


@pytest.mark.slow
def test_cli_fits_runs_csv_itself_and_the_report_draws_the_plan(tmp_path):
    out = tmp_path / "out"
    result, _ = invoke("plan", POWER, "--budget", "1e21", "--target", "1e22", "--candidates", 6,
                       "--draws", 200, "--tune", 200, "--chains", 2, "--extrapolation", "none",
                       "--out", out, "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)  # warnings about the short fit go to stderr
    assert printed == json.loads((out / "plan.json").read_text())
    assert (out / "fit.nc").exists()
    from forecast.report import make_report

    page = make_report(out).read_text()
    assert "fig-plan" in page and (out / "figures" / "plan.png").exists()


def test_plan_figure_draws_the_candidates():
    from forecast.report.plan_figures import plan_figure

    res = {"candidates": [{"index": 0, "flops": 1e18, "expected_width": 0.3, "ess_low": False},
                          {"index": 1, "flops": 1e20, "expected_width": 0.2, "ess_low": True},
                          {"index": 2, "flops": 1e21, "expected_width": None,
                           "ess_low": False}],
           "current": {"width": 0.35},
           "picks": [{"step": 1, "index": 1, "flops": 1e20, "expected_width": 0.2},
                     {"step": 2, "index": 0, "flops": 1e18, "expected_width": 0.15}],
           "target_flops": 1e22, "y": "loss", "steps": None}
    fig = plan_figure(res)
    ax = fig.axes[0]
    (dots,) = [ln for ln in ax.lines if ln.get_gid() == "candidates"]
    np.testing.assert_allclose(dots.get_xdata(), [1e18, 1e20])
    np.testing.assert_allclose(dots.get_ydata(), [0.3, 0.2])
    (low,) = [ln for ln in ax.lines if ln.get_gid() == "ess_low"]
    np.testing.assert_allclose(low.get_ydata(), [0.2])
    (now,) = [ln for ln in ax.lines if ln.get_gid() == "current"]
    assert now.get_ydata()[0] == 0.35
    marks = {t.get_text(): t.xy for t in ax.texts}
    assert marks == {"1": (1e20, 0.2), "2": (1e18, 0.3)}


# --- bad input: one line, exit 2, nothing written ------------------------------------------------

@pytest.mark.parametrize(("args", "fragment"), [
    (["--budget", "0", "--target", "1e22"], "--budget 0: must be a positive number"),
    (["--budget", "-1e20", "--target", "1e22"], "--budget -1e20: must be a positive"),
    (["--budget", "1e21", "--target", "lots"], "--target lots: must be a positive number"),
    (["--budget", "1e21", "--target", "inf"], "--target inf: must be a positive number"),
    (["--budget", "1e21", "--target", "1e22", "--candidates", "5", "--pick", "6"],
     "--pick 6: must lie between 1 and --candidates (5)"),
    (["--budget", "1e21", "--target", "1e22", "--steps", "4", "--threshold", "1.5"],
     "--threshold 1.5"),
    (["--budget", "1e15", "--target", "1e22"], "below the cheapest sensible run"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, fragment):
    out = tmp_path / "out"
    result, lines = invoke("plan", POWER, *args, "--out", out)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert fragment in lines[0]
    assert not (out / "plan.json").exists() and not (out / "fit.nc").exists()


def test_unwritable_out_is_one_line(tmp_path):
    result, lines = invoke("plan", POWER, "--budget", "1e21", "--target", "1e22", "--out",
                           "/proc/forecast-plan")
    assert result.exit_code == 2 and len(lines) == 1 and "/proc" in lines[0]


def test_plan_help_and_bad_input_import_no_heavy_library():
    # as tests/test_layers.py checks for the other commands: --help and input errors are instant
    import subprocess
    import sys

    heavy = ("pymc", "pytensor", "arviz", "torch", "matplotlib", "nutpie")
    for argv in (["plan", "--help"], ["plan", str(POWER), "--budget", "0", "--target", "1"]):
        code = ("import sys\n"
                f"sys.argv = ['forecast', *{argv!r}]\n"
                "from forecast.cli import run\n"
                "try:\n    run()\nexcept SystemExit:\n    pass\n"
                f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout
        assert out.strip().splitlines()[-1] == "[]", (argv, out)


def test_neither_runs_nor_fit_is_one_line():
    result, lines = invoke("plan", "--budget", "1e21", "--target", "1e22")
    assert result.exit_code == 2 and len(lines) == 1
    assert "give RUNS.csv to fit, or --fit DIR" in lines[0]
