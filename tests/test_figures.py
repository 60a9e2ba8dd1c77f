"""Figures check what was drawn (artists' data against the inputs), never pixels.

Fits here are fakes: posteriors of known draws around the truth of the fixtures (no sampling),
with the groups a real fit has (prior, sample_stats, constant and observed data).
"""

import json

import arviz as az
import numpy as np
import pandas as pd
import pytest
from conftest import FIXTURES, named_rng
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from forecast.inference.fitting import Fit
from forecast.laws import get_law, predict
from forecast.laws.links import get_link
from forecast.questions.emergence import StepSuccess, emergence
from forecast.report import figures as F
from forecast.report import forecast_figures as FF
from forecast.report import style as S
from forecast.runs import read_runs

POWER_TRUTH = {"E": 1.8, "A": 1e19 ** 0.3, "alpha": 0.3}
CHIN_TRUTH = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
LEVELS = ("q05", "q25", "median", "q75", "q95")


def fake_fit(law: str, truth: dict, runs, *, seed: str, chains: int = 2, draws: int = 300,
             rel: float = 0.01, sigma: float = 0.02, nu: float = 10.0) -> Fit:
    """A Fit whose posterior scatters ``rel`` around ``truth`` (raw units), prior 100x wider."""
    rng = named_rng(seed)
    spec = get_law(law)
    shape = (chains, draws)
    post = {k: v * np.exp(rel * rng.standard_normal(shape)) for k, v in truth.items()}
    post["sigma"] = sigma * np.exp(0.1 * rng.standard_normal(shape))
    post["nu"] = nu * np.exp(0.1 * rng.standard_normal(shape))
    prior = {k: np.abs(v) * np.exp(rng.standard_normal((1, 500))) for k, v in truth.items()}
    prior["sigma"] = np.abs(0.1 * rng.standard_normal((1, 500)))
    prior["nu"] = rng.gamma(2.0, 10.0, (1, 500))
    refs = {"y": float(np.median(runs.y))}
    cov = {"C": runs.flops, "N": runs.params, "D": runs.tokens}
    refs.update({k: float(np.exp(np.mean(np.log(cov[k])))) for k in spec.covariates})
    idata = az.from_dict(
        posterior=post, prior=prior,
        sample_stats={"diverging": np.zeros(shape, dtype=bool)},
        constant_data={f"x_{k}": cov[k] / refs[k] for k in spec.covariates},
        observed_data={"obs": np.log(runs.y / refs["y"])},
    )
    idata.attrs.update(law=law, y=runs.y_name, refs=json.dumps(refs), priors="{}",
                       sampler=json.dumps({"draws": draws, "chains": chains}),
                       forecast_version="test", source=runs.source,
                       input_sha256=runs.sha256)
    summary = {"law": law, "divergences": 0, "warnings": [], "converged": True,
               "flops_range": [float(runs.flops.min()), float(runs.flops.max())]}
    return Fit(idata, spec, refs, {}, runs.y_name, summary)


@pytest.fixture(scope="module")
def power_runs():
    return read_runs(FIXTURES / "synthetic_power.csv")


@pytest.fixture(scope="module")
def power_fit(power_runs):
    return fake_fit("power", POWER_TRUTH, power_runs, seed="power")


@pytest.fixture(scope="module")
def chin_runs():
    return read_runs(FIXTURES / "synthetic_chinchilla.csv", law="chinchilla")


@pytest.fixture(scope="module")
def chin_fit(chin_runs):
    return fake_fit("chinchilla", CHIN_TRUTH, chin_runs, seed="chinchilla")


def by_gid(fig: Figure, gid: str):
    found = [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]
    assert len(found) == 1, f"{len(found)} artists with gid {gid!r}"
    return found[0]


def gids(fig: Figure, prefix: str) -> list[str]:
    return sorted(a.get_gid() for ax in fig.axes for a in ax.get_children()
                  if (a.get_gid() or "").startswith(prefix))


def test_fit_figure_plots_the_csv_runs(power_fit, power_runs):
    fig = F.fit_figure(power_runs, power_fit)
    assert isinstance(fig, Figure)
    csv = pd.read_csv(FIXTURES / "synthetic_power.csv")
    points = by_gid(fig, "runs").get_offsets()
    np.testing.assert_array_equal(points[:, 0], csv["flops"].to_numpy())
    np.testing.assert_array_equal(points[:, 1], csv["loss"].to_numpy())


def test_fit_bands_are_ordered_and_new_runs_are_wider(power_fit, power_runs):
    C = np.logspace(16, 24, 50)
    bands = F.fit_bands(power_fit, C, seed=1)
    for kind in ("mean", "new"):
        q = np.array([bands[kind][n] for n in LEVELS])
        assert q.shape == (5, 50)
        assert np.all(np.diff(q, axis=0) > 0), f"{kind} bands not ordered 5<25<50<75<95"
    inside = (C >= power_runs.flops.min()) & (C <= power_runs.flops.max())
    new_w = bands["new"]["q95"] - bands["new"]["q05"]
    mean_w = bands["mean"]["q95"] - bands["mean"]["q05"]
    assert np.all(new_w[inside] > mean_w[inside])
    # the median of the mean is the law at the median-ish truth: within 2% of it
    truth = predict(get_law("power"), POWER_TRUTH, C=C)
    np.testing.assert_allclose(bands["mean"]["median"], truth, rtol=0.02)


def test_fit_figure_draws_the_bands_median_and_extrapolation(power_fit, power_runs):
    fig = F.fit_figure(power_runs, power_fit, budget=3e23, seed=2, n_grid=80)
    median = by_gid(fig, "median")
    C = median.get_xdata()
    bands = F.fit_bands(power_fit, C, seed=2)
    np.testing.assert_allclose(median.get_ydata(), bands["mean"]["median"])
    for gid, kind, lo, hi in (("mean_90", "mean", "q05", "q95"), ("mean_50", "mean", "q25", "q75"),
                              ("new_90", "new", "q05", "q95"), ("new_50", "new", "q25", "q75")):
        band = by_gid(fig, gid)
        assert isinstance(band, PolyCollection)
        y = band.get_paths()[0].vertices[:, 1]
        assert y.min() == pytest.approx(bands[kind][lo].min())
        assert y.max() == pytest.approx(bands[kind][hi].max())
    span = by_gid(fig, "extrap").get_x()
    assert span == pytest.approx(power_runs.flops.max())
    assert by_gid(fig, "budget").get_xdata()[0] == 3e23
    assert C[-1] >= 3e23


def test_compute_ticks_are_powers_of_ten_without_offset(power_fit, power_runs):
    fig = F.fit_figure(power_runs, power_fit)
    ax = fig.axes[0]
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all(t.startswith("10") for t in labels)
    exps = [int(t[2:].translate(str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789"))) for t in labels]
    assert exps == sorted(exps) and len(exps) <= 9
    np.testing.assert_allclose(ax.get_xticks(), 10.0 ** np.array(exps))
    assert ax.xaxis.get_offset_text().get_text() == ""
    ylabels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert ylabels and all("10^" not in t and "e" not in t for t in ylabels)


def test_chinchilla_frontier_is_the_lower_envelope(chin_fit, chin_runs):
    fig = F.fit_figure(chin_runs, chin_fit)
    points = by_gid(fig, "runs")
    csv = pd.read_csv(FIXTURES / "synthetic_chinchilla.csv")
    np.testing.assert_allclose(points.get_offsets()[:, 1], csv["loss"].to_numpy())
    np.testing.assert_allclose(points.get_array(), csv["params"].to_numpy())
    frontier = by_gid(fig, "median").get_ydata()
    sizes = gids(fig, "size_")
    assert len(sizes) == 4
    for gid in sizes:  # per draw L(N*, D*) <= L(N, C/6N) for every N, so also for medians
        assert np.all(frontier <= by_gid(fig, gid).get_ydata() * (1 + 1e-9))


def test_marginals_overlay_the_prior_on_every_parameter(power_fit):
    fig = F.marginals_figure(power_fit)
    names = ["E", "A", "alpha", "sigma", "nu"]
    visible = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.get_title().split("\n") for ax in visible]
    assert [t[0] for t in titles] == ["E", "log10 A", "alpha", "sigma", "nu"]
    p5, p95 = np.quantile(np.asarray(power_fit.idata.prior["E"]).ravel(), [0.05, 0.95])
    assert titles[0][1] == f"prior 90%: {p5:.3g} .. {p95:.3g}"
    for name in names:
        by_gid(fig, f"prior_{name}")
        values, edges, _ = by_gid(fig, f"posterior_{name}").get_data()
        assert np.sum(values * np.diff(edges)) == pytest.approx(1.0)  # a density
    # the posterior histogram of E holds all its draws in its central 99%
    ax = visible[0]
    lo, hi = ax.get_xlim()
    draws = power_fit.draws("E")
    assert lo < np.quantile(draws, 0.005) and hi > np.quantile(draws, 0.995)


def test_pair_plot_shows_the_draws_and_their_correlation(power_fit):
    fig = F.pair_figure(power_fit, max_points=10_000)
    assert len(fig.axes) == 9
    points = by_gid(fig, "pair_E_alpha").get_offsets()
    np.testing.assert_allclose(points[:, 0], power_fit.draws("E"))
    np.testing.assert_allclose(points[:, 1], power_fit.draws("alpha"))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    r = np.corrcoef(power_fit.draws("E"), power_fit.draws("alpha"))[0, 1]
    assert f"r = {r:+.2f}" in texts


def test_rank_plot_has_a_panel_per_parameter_and_a_histogram_per_chain(power_fit):
    fig = F.rank_figure(power_fit, bins=10)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["E", "A", "alpha", "sigma", "nu"]
    x = np.asarray(power_fit.idata.posterior["alpha"])
    ranks = np.argsort(np.argsort(x.ravel())).reshape(x.shape) + 1
    for c in range(2):
        stairs = by_gid(fig, f"rank_alpha_{c}")
        values, edges, _ = stairs.get_data()
        counts = np.histogram(ranks[c], bins=edges)[0]
        # heights above the chain's baseline are proportional to its rank counts
        np.testing.assert_allclose(values - c, 0.6 * counts / (x.shape[1] / 10))
        assert counts.sum() == x.shape[1]


@pytest.fixture(scope="module")
def emergence_result():
    rng = named_rng("emergence")
    n = 400
    raw = {"A": (0.7 * np.exp(0.05 * rng.standard_normal(n)))[:, None],
           "alpha": (0.25 * np.exp(0.03 * rng.standard_normal(n)))[:, None]}
    # pure law in raw units: L = A (C)^-alpha with A chosen so that L(1e19) = 0.7
    raw["A"] = raw["A"] * 1e19 ** raw["alpha"]
    step = StepSuccess(get_law("pure"), get_link("exp"), raw, flops_range=(1e17, 1e21))
    return emergence(step, range(1, 7), threshold=0.5, budget=1e22)


def test_emergence_draws_one_hard_and_one_soft_curve_per_k(emergence_result):
    fig = FF.emergence_figure(emergence_result)
    assert gids(fig, "hard_k") == sorted(f"hard_k{k}" for k in range(1, 7))
    assert gids(fig, "soft_k") == sorted(f"soft_k{k}" for k in range(1, 7))
    curves = emergence_result["curves"]
    C = 10.0 ** np.asarray(curves["log10_flops"])
    for c in curves["hard"]:
        line = by_gid(fig, f"hard_k{c['k']}")
        np.testing.assert_allclose(line.get_xdata(), C)
        np.testing.assert_allclose(line.get_ydata(), c["median"])
    for row in emergence_result["steps"]:
        q = row["log10_flops"]
        x = by_gid(fig, f"crossing_k{row['k']}").get_xdata()
        np.testing.assert_allclose(np.log10(x), [q["q05"], q["q95"]])
    # hard curves shift right with k: each k's median crosses 0.5 later
    medians = [r["log10_flops"]["median"] for r in emergence_result["steps"]]
    assert np.all(np.diff(medians) > 0)


def test_emergence_thins_to_max_curves(emergence_result):
    fig = FF.emergence_figure(emergence_result, max_curves=3)
    assert gids(fig, "hard_k") == ["hard_k1", "hard_k3", "hard_k6"]


def test_calibration_plots_the_coverage():
    cov = {"50": 0.4, "80": 0.7, "90": 0.85, "95": 1.0}
    res = [{"cutoff": 1e21, "n_test": 20, "model": {"coverage": cov},
            "baseline": {"coverage": {"50": 0.1, "80": 0.2, "90": 0.3, "95": 0.35}}}]
    fig = FF.calibration_figure(res)
    line = by_gid(fig, "coverage_model_0")
    np.testing.assert_allclose(line.get_xdata(), [50, 80, 90, 95])
    np.testing.assert_allclose(line.get_ydata(), [40, 70, 85, 100])
    np.testing.assert_allclose(by_gid(fig, "coverage_baseline_0").get_ydata(),
                               [10, 20, 30, 35])


def test_pow10_labels():
    assert S.pow10(1e24) == "10²⁴"
    assert S.pow10(3e23) == "3×10²³"
    assert S.pow10(9.99e20) == "10²¹"
    assert S.pow10(2.5e-3) == "2.5×10⁻³"
    assert S.sup(-12) == "⁻¹²"


def test_figures_never_touch_pyplot(power_fit, power_runs):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    F.fit_figure(power_runs, power_fit)
    F.marginals_figure(power_fit)
    assert plt.get_fignums() == before


def test_fixed_parameters_are_left_out_and_accuracy_is_on_a_linear_axis():
    from forecast.runs import runs_from_frame

    flops = np.logspace(20, 23, 20)
    acc = 1 / (1 + (flops / 1e22) ** -0.8)
    runs = runs_from_frame(pd.DataFrame({"flops": flops, "acc": acc}), y="acc", law="logistic")
    fit = fake_fit("logistic", {"floor": 0.0, "s": 0.8, "C50": 1e22}, runs, seed="logistic")
    fit.idata.posterior["kappa"] = fit.idata.posterior["nu"] * 5
    assert np.all(fit.draws("floor") == 0)
    titles = [ax.get_title().split("\n")[0] for ax in F.marginals_figure(fit).axes
              if ax.get_visible()]
    assert titles == ["s", "log10 C50", "sigma", "nu", "kappa"]
    assert len(F.pair_figure(fit).axes) == 4
    fig = F.fit_figure(runs, fit)
    ax = fig.axes[0]
    assert ax.get_yscale() == "linear" and ax.get_xscale() == "log"
    np.testing.assert_allclose(by_gid(fig, "runs").get_offsets()[:, 1], acc)
    new = by_gid(fig, "new_90").get_paths()[0].vertices[:, 1]
    assert new.min() >= 0 and new.max() <= 1
