"""Shared test configuration: a non-interactive plot backend, named seeds, fixture paths."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
warnings.filterwarnings("ignore", message=".*ArviZ is undergoing.*")

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"


def named_rng(name: str) -> np.random.Generator:
    """A generator seeded from a name, so each test has its own stream."""
    return np.random.default_rng(sum(map(ord, name)))


@pytest.fixture
def rng(request) -> np.random.Generator:
    return named_rng(request.node.name)


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
