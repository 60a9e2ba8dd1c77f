"""Shared test configuration: a non-interactive plot backend, named seeds, fixture paths, and
the check of a bad-input error (one line, exit status 2)."""

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


def within_sd(truth: float, *, draws=None, summary=None, k: float = 4.0) -> bool:
    """|median - truth| <= k posterior sd: a calibrated posterior fails it with probability ~6e-5.

    Give the draws, or a summary with ``median``, ``q05`` and ``q95`` (its sd is then read off the
    90% interval's width, 3.29 sd for a normal).
    """
    if draws is not None:
        draws = np.asarray(draws).ravel()
        median, sd = float(np.median(draws)), float(np.std(draws))
    else:
        median, sd = summary["median"], (summary["q95"] - summary["q05"]) / 3.29
    return abs(median - truth) <= k * sd


def one_line_error(args, fragment: str) -> None:
    """Run the CLI on ``args``: exit status 2, no traceback, one line ``Error: ...fragment...``."""
    from click.testing import CliRunner

    from forecast.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args])
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert fragment in lines[0], lines[0]
