"""forecast: Bayesian scaling-law fits and emergence forecasts for composed tasks.

The public API, for notebooks (the command line is a thin layer over it)::

    import forecast
    runs = forecast.read_runs("runs.csv", law="power")
    result = forecast.fit(runs, law="power")
    result.save("forecast-out/")
    again = forecast.load_fit("forecast-out/")

Heavy imports (PyMC, ArviZ) happen on first use, so ``forecast --help`` stays fast.
"""

from __future__ import annotations

__version__ = "0.1.0"
# the name on the package index (``pip install scaling-forecast``): "forecast" there is an
# unrelated 2017 package; the command and the import stay ``forecast``
DISTRIBUTION = "scaling-forecast"

__all__ = ["DISTRIBUTION", "__version__", "fit", "load_fit", "read_runs"]


def __getattr__(name: str):
    if name in ("fit", "load_fit"):
        from forecast.inference import fitting as _fitting

        return getattr(_fitting, name)
    if name == "read_runs":
        from forecast.runs import read_runs

        return read_runs
    raise AttributeError(f"module 'forecast' has no attribute {name!r}")
