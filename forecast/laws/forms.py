"""The functional forms of the scaling laws, each written once for NumPy and PyTensor.

Every law is a mean function ``mean(xp, X, theta)`` where ``xp`` is a math namespace (``numpy``
for prediction, ``pytensor.tensor`` for fitting), ``X`` maps covariate names (``"C"``, ``"N"``,
``"D"``) to arrays *already divided by their reference scales* (``C/C0`` ...), and ``theta`` maps
parameter names to values in *scaled units*: the metric's parts (``E``, ``A``, ``B``) in units of
the metric's reference ``y0``; exponents are unitless. :func:`to_raw` converts scaled parameters to
the user's raw units (C in FLOPs, N in parameters, D in tokens), :func:`predict` evaluates a law in
raw units from raw parameters.

Laws of accuracy (``logistic``) live here too: a chance floor plus a sigmoid in log compute.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from forecast.errors import InputError
from forecast.laws.defaults import DEFAULTS

__all__ = ["LAWS", "Law", "by_name", "compute_optimal", "get_law", "predict", "to_raw"]


def _power(xp, X, t):
    return t["E"] + t["A"] * xp.exp(-t["alpha"] * xp.log(X["C"]))


def _pure(xp, X, t):
    return t["A"] * xp.exp(-t["alpha"] * xp.log(X["C"]))


def _chinchilla(xp, X, t):
    return (
        t["E"]
        + t["A"] * xp.exp(-t["alpha"] * xp.log(X["N"]))
        + t["B"] * xp.exp(-t["beta"] * xp.log(X["D"]))
    )


def _broken(xp, X, t):
    # Caballero et al. 2022, one break: the local log-log slope moves from -alpha (C << Cb)
    # to -(alpha + delta) (C >> Cb); f > 0 sets how sharp the bend is (in decades-ish units).
    logx = xp.log(X["C"])
    bend = xp.logaddexp(0.0, (logx - t["log_xb"]) / t["f"])
    return t["E"] + t["A"] * xp.exp(-t["alpha"] * logx - t["delta"] * t["f"] * bend)


def _logistic(xp, X, t):
    # accuracy against log compute: floor + (1 - floor) * sigmoid(s * (log x - log x50))
    z = t["s"] * (xp.log(X["C"]) - t["log_x50"])
    return t["floor"] + (1.0 - t["floor"]) / (1.0 + xp.exp(-z))


def _cloglog(xp, X, t):
    # accuracy against log compute, skewed: floor + (1 - floor) (1 - 2^-(C/C50)^s), the
    # complementary log-log (a Weibull CDF in compute); C50 stays the midpoint. It leaves
    # chance more slowly than the logistic and nears 1 faster
    z = t["s"] * (xp.log(X["C"]) - t["log_x50"])
    return t["floor"] + (1.0 - t["floor"]) * -xp.expm1(-math.log(2.0) * xp.exp(z))


@dataclass(frozen=True)
class Law:
    """A scaling law: its parameters, the covariates it needs and its mean function.

    Attributes
    ----------
    name : str
        The name used on the command line.
    params : tuple of str
        Parameters of the mean, in the order they are reported.
    covariates : tuple of str
        Covariates the law reads: ``"C"`` (compute) or ``"N"`` and ``"D"``.
    mean : callable
        ``mean(xp, X, theta)`` evaluated in scaled units.
    metric : str
        ``"positive"`` (a loss, fitted in log space) or ``"unit"`` (an accuracy in [0, 1]).
    scaled : tuple of str
        Parameters that carry the metric's unit (multiplied by ``y0`` in raw units).
    formula : str
        The law in raw units, for help text and reports.
    terms : tuple of (str, str, str)
        The reducible parts: ``(amplitude, its exponent, the covariate it scales)``.
    reference : bool
        Whether the sampler may see the law at the data's reference point
        (:mod:`forecast.inference.geometry`).
    priors : dict
        Default priors of the sampled parameters (:mod:`forecast.laws.defaults`).
    """

    name: str
    params: tuple[str, ...]
    covariates: tuple[str, ...]
    mean: Callable
    metric: str
    scaled: tuple[str, ...]
    formula: str
    terms: tuple[tuple[str, str, str], ...] = ()
    reference: bool = False
    priors: dict = field(default_factory=dict, hash=False, compare=False, repr=False)

    @property
    def n_params(self) -> int:
        """Number of parameters of the mean (noise parameters not counted)."""
        return len(self.params)


_A_C = (("A", "alpha", "C"),)
LAWS: dict[str, Law] = {
    law.name: law
    for law in (
        Law("power", ("E", "A", "alpha"), ("C",), _power, "positive", ("E", "A"),
            "L(C) = E + A C^-alpha", _A_C, True, DEFAULTS["power"]),
        Law("pure", ("A", "alpha"), ("C",), _pure, "positive", ("A",),
            "L(C) = A C^-alpha", _A_C, False, DEFAULTS["pure"]),
        Law("chinchilla", ("E", "A", "B", "alpha", "beta"), ("N", "D"), _chinchilla,
            "positive", ("E", "A", "B"), "L(N, D) = E + A N^-alpha + B D^-beta",
            (("A", "alpha", "N"), ("B", "beta", "D")), True, DEFAULTS["chinchilla"]),
        Law("broken", ("E", "A", "alpha", "delta", "Cb", "f"), ("C",), _broken, "positive",
            ("E", "A"), "L(C) = E + A C^-alpha (1 + (C/Cb)^(1/f))^(-delta f)", _A_C, False,
            DEFAULTS["broken"]),
        Law("logistic", ("floor", "s", "C50"), ("C",), _logistic, "unit", (),
            "acc(C) = floor + (1 - floor) / (1 + (C/C50)^-s)", (), False,
            DEFAULTS["logistic"]),
        Law("cloglog", ("floor", "s", "C50"), ("C",), _cloglog, "unit", (),
            "acc(C) = floor + (1 - floor) (1 - 2^-(C/C50)^s)", (), False, DEFAULTS["cloglog"]),
    )
}


def by_name(registry: Mapping[str, object], name: object, kind: type, message: str):
    """Return ``name`` if it is a ``kind`` already, else ``registry[name]``.

    Raises
    ------
    InputError
        With ``message`` when no entry has that name.
    """
    if isinstance(name, kind):
        return name
    found = registry.get(name)
    if found is None:
        raise InputError(message)
    return found


def get_law(name: str | Law) -> Law:
    """Return the law called ``name`` (a :class:`Law` is returned as it is).

    This is where a law's name becomes a :class:`Law`: the command line and the library's
    entry points call it once, and the object travels from there.

    Raises
    ------
    InputError
        If no law has that name (the message lists the laws).
    """
    return by_name(LAWS, name, Law, f"unknown law '{name}'; use one of {', '.join(LAWS)}")


def to_raw(law: Law, theta: Mapping[str, np.ndarray], refs: Mapping[str, float]) -> dict:
    """Convert sampled parameters (scaled units) to the user's raw units.

    Parameters
    ----------
    law : Law
        The law the parameters belong to.
    theta : mapping
        Scaled parameters as sampled: ``E``, ``A``, ``B`` in units of ``refs["y"]``; for the
        ``broken`` law ``log_xb`` (log of Cb/C0), for ``logistic`` ``log_x50``.
    refs : mapping
        Reference scales ``y`` and ``C`` (or ``N`` and ``D``).

    Returns
    -------
    dict
        Parameters in raw units, so that ``predict(law, raw, C=..., N=..., D=...)`` works on raw
        covariates: ``L = E + A C^-alpha`` with C in FLOPs, and so on.
    """
    y0 = refs.get("y", 1.0)
    raw: dict = {}
    scales = {amp: (exponent, cov) for amp, exponent, cov in law.terms}
    for name in law.params:
        if name == "Cb":
            raw[name] = refs["C"] * np.exp(theta["log_xb"])
        elif name == "C50":
            raw[name] = refs["C"] * np.exp(theta["log_x50"])
        elif name in scales:
            exponent, cov = scales[name]
            raw[name] = theta[name] * y0 * np.power(refs[cov], theta[exponent])
        elif name in law.scaled:
            raw[name] = theta[name] * y0
        else:
            raw[name] = theta[name]
    return raw


def _from_raw(law: Law, raw: Mapping[str, np.ndarray]) -> dict:
    """Inverse of :func:`to_raw` with unit reference scales (used by :func:`predict`)."""
    theta = dict(raw)
    if "Cb" in raw:
        theta["log_xb"] = np.log(raw["Cb"])
    if "C50" in raw:
        theta["log_x50"] = np.log(raw["C50"])
    return theta


def predict(law: Law, raw: Mapping[str, np.ndarray], **covariates: np.ndarray) -> np.ndarray:
    """Evaluate a law in raw units.

    Parameters
    ----------
    law : Law
        The law.
    raw : mapping
        Parameters in raw units (as :func:`to_raw` returns them). Arrays broadcast against the
        covariates, so ``raw["E"][:, None]`` with ``C[None, :]`` gives a draws-by-points grid.
    **covariates
        ``C=`` FLOPs, or ``N=`` parameters and ``D=`` tokens.

    Returns
    -------
    numpy.ndarray
        The law's mean at the covariates.
    """
    X = {k: np.asarray(covariates[k], dtype=float) for k in law.covariates}
    return law.mean(np, X, _from_raw(law, raw))


def compute_optimal(raw: Mapping[str, np.ndarray], C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Compute-optimal model size and tokens at compute ``C`` under the ``chinchilla`` law.

    Minimising ``A N^-alpha + B D^-beta`` subject to ``C = 6 N D`` (Hoffmann et al. 2022,
    eq. 4) gives ``N* = G (C/6)^(beta/(alpha+beta))`` and ``D* = (C/6)^(alpha/(alpha+beta)) / G``
    with ``G = (alpha A / (beta B))^(1/(alpha+beta))``.

    Parameters
    ----------
    raw : mapping
        Raw-unit ``A``, ``B``, ``alpha``, ``beta`` (scalars or arrays of draws).
    C : numpy.ndarray
        Compute in FLOPs; broadcast against the parameters (e.g. draws ``(S, 1)`` with ``C``
        of shape ``(1, M)`` give ``(S, M)``).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``N*`` (parameters) and ``D*`` (tokens).
    """
    a, b = raw["alpha"], raw["beta"]
    log_g = (np.log(a * raw["A"]) - np.log(b * raw["B"])) / (a + b)
    log_c6 = np.log(np.asarray(C, dtype=float) / 6.0)
    return np.exp(log_g + log_c6 * b / (a + b)), np.exp(-log_g + log_c6 * a / (a + b))
