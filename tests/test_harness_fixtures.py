"""The harness fixtures keep the properties the forecaster's ground-truth checks rely on.

No torch needed: these read the committed CSVs (see fixtures/README.md for how they were made).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

ADDITION = FIXTURES / "harness_addition.csv"
GROKKING = FIXTURES / "harness_grokking.csv"
LOOKUPS = [FIXTURES / "harness_lookup.csv", FIXTURES / "harness_lookup_seed1.csv"]


def _load(path):
    if not path.exists():
        pytest.skip(f"{path.name} not made yet")
    return pd.read_csv(path)


def test_addition_fixture_spans_the_emergence_of_8_digit_addition():
    runs = _load(ADDITION)
    assert runs["params"].nunique() >= 4
    assert runs["exact_k8"].min() < 0.1 and runs["exact_k8"].max() > 0.5
    assert (runs["flops"] > 0).all() and np.log10(runs["flops"].max() / runs["flops"].min()) > 2
    exact = runs[[f"exact_k{k}" for k in range(1, 9)]].to_numpy()
    assert (np.diff(exact, axis=1) <= 0).all()  # a longer chain is never easier
    for _, run in runs.groupby("run_id"):
        assert run["params"].nunique() == 1 and run["tokens"].is_monotonic_increasing


@pytest.mark.parametrize("path", LOOKUPS, ids=["seed0", "seed1"])
def test_lookup_fixture_spans_the_emergence_of_8_lookups_with_no_plateau(path):
    runs = _load(path)
    assert runs["params"].nunique() >= 4 and (runs["task"] == "lookup").all()
    assert runs["exact_k8"].min() < 0.1 and runs["exact_k8"].max() > 0.5
    exact = runs[[f"exact_k{k}" for k in range(1, 9)]].to_numpy()
    assert (np.diff(exact, axis=1) <= 0).all()
    crossed = runs.loc[runs["exact_k8"] >= 0.5, "flops"].min()
    below = runs[runs["flops"] < crossed]
    # Unlike addition, the skill grows gradually: most checkpoints below the k = 8 crossing are
    # well off the loss of a model that has learned nothing yet (its first checkpoint's).
    first = runs.groupby("run_id")["step_loss"].transform("first")
    assert (below["step_loss"] < 0.5 * first[below.index]).mean() > 0.5
    # The steps are independent draws: exact match is step_acc^8 where it is neither 0 nor 1.
    band = runs[(runs["exact_k8"] > 0.05) & (runs["exact_k8"] < 0.95)]
    assert len(band) > 20
    assert np.abs(band["step_acc"] ** 8 - band["exact_k8"]).mean() < 0.02


def test_grokking_fixture_generalises_long_after_it_memorises():
    runs = _load(GROKKING).sort_values("step")
    memorised = runs.loc[runs["train_acc"] >= 0.99, "step"].min()
    generalised = runs.loc[runs["test_acc"] >= 0.9, "step"].min()
    assert generalised >= 2 * memorised
    assert runs.loc[runs["step"] == memorised, "test_acc"].item() < 0.7
