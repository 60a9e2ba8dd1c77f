"""Sweeps on Dask: a `distributed.LocalCluster` of two worker processes gives the rows a local
run gives (backtest --cutoffs, compare, the harness grid), and a scheduler that cannot be
reached is one line and exit 2."""

import json

import pytest
from click.testing import CliRunner
from conftest import FIXTURES

from forecast.cli import main

distributed = pytest.importorskip("distributed")

QUICK = ["--draws", "200", "--tune", "200", "--chains", "2", "--seed", "3"]


@pytest.fixture(scope="module")
def scheduler():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def run(*args, env=None):
    """Run the CLI; return its stdout (the JSON), without the warnings written to stderr."""
    result = CliRunner().invoke(main, [str(a) for a in args], env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def without_timings(obj):
    if isinstance(obj, dict):
        return {k: without_timings(v) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, list):
        return [without_timings(v) for v in obj]
    return obj


@pytest.mark.slow
def test_backtest_cutoffs_on_two_workers_match_a_local_run(scheduler):
    args = ["backtest", FIXTURES / "synthetic_power.csv", "--cutoffs", "1e19,1e20",
            "--boot", "20", *QUICK, "--json"]
    local = json.loads(run(*args))
    remote = json.loads(run(*args, "--scheduler", scheduler))
    assert len(remote) == 2
    assert without_timings(remote) == without_timings(local)


@pytest.mark.slow
def test_compare_on_the_cluster_named_by_the_environment_matches_a_local_run(scheduler):
    args = ["compare", FIXTURES / "synthetic_power.csv", "--laws", "power,pure", *QUICK,
            "--json"]
    local = json.loads(run(*args))
    remote = json.loads(run(*args, env={"FORECAST_SCHEDULER": scheduler}))
    assert remote == local


@pytest.mark.slow
@pytest.mark.harness
def test_harness_grid_on_two_workers_writes_the_same_rows(scheduler, tmp_path):
    pytest.importorskip("torch")
    here, there = tmp_path / "here.csv", tmp_path / "there.csv"
    run("harness", "--preset", "smoke", "--seed", "2", "--out", here)
    run("harness", "--preset", "smoke", "--seed", "2", "--out", there, "--scheduler", scheduler)
    # every cell but the wall time of each run
    assert without_seconds(there) == without_seconds(here)


def without_seconds(path):
    import pandas as pd

    return pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns="seconds").to_dict(
        "records")


def test_an_unreachable_scheduler_is_one_line_and_exit_2():
    result = CliRunner().invoke(main, ["backtest", str(FIXTURES / "synthetic_power.csv"),
                                       "--cutoff", "1e20", "--draws", "10", "--tune", "10",
                                       "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot reach a Dask scheduler" in lines[0], lines
