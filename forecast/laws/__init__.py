"""The math layer: scaling laws, links and compositions, in NumPy and SciPy only.

:mod:`forecast.laws.forms` holds the laws (each a :class:`Law`, written once for NumPy and
PyTensor), :mod:`forecast.laws.links` the links from a loss to per-step success, and
:mod:`forecast.laws.compose` the compositions of steps and their threshold crossings. Nothing
here imports PyMC, ArviZ or matplotlib.
"""

from forecast.laws.forms import LAWS, Law, compute_optimal, get_law, predict, to_raw

__all__ = ["LAWS", "Law", "compute_optimal", "get_law", "predict", "to_raw"]
