"""Priors: each law's defaults, user overrides from a TOML file, and validation.

The defaults are data in :mod:`forecast.laws.defaults`, attached to each law (``law.priors``).

A prior is a mapping ``{"dist": NAME, **arguments}``. Priors apply to the *sampled* parameters,
which are scale-free (see ``docs/priors.md``): ``E_scaled``, ``A_scaled``, ``B_scaled`` are
``E``, ``A``, ``B`` in units of the metric's reference ``y0`` (its median) with the covariates
divided by their geometric means, so that the same defaults suit a loss in nats at 1e18 FLOPs and
one in bits at 1e24. Resolution is one line: user > derived from data > defaults.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path

from forecast.errors import InputError
from forecast.laws import Law

__all__ = ["DISTRIBUTIONS", "check_prior", "default_priors", "load_priors", "resolve_priors"]

# Distribution name -> the arguments it takes (all required), as PyMC names them.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "Normal": ("mu", "sigma"),
    "HalfNormal": ("sigma",),
    "LogNormal": ("mu", "sigma"),
    "Gamma": ("alpha", "beta"),
    "Exponential": ("lam",),
    "Uniform": ("lower", "upper"),
    "Beta": ("alpha", "beta"),
    "Fixed": ("value",),
}

def default_priors(law: Law) -> dict[str, dict]:
    """Return the default priors of a law (a fresh copy of ``law.priors``)."""
    return {k: dict(v) for k, v in law.priors.items()}


def check_prior(name: str, spec: object, source: str) -> dict:
    """Validate one user prior ``{"dist": ..., **arguments}``; return it with float arguments.

    Raises
    ------
    InputError
        Naming ``source`` and the parameter, for an unknown distribution, missing or extra
        arguments, or a value that is not a finite number (or not positive where it must be).
    """
    if not isinstance(spec, Mapping):
        raise InputError(
            f"{source}: prior for '{name}' must be a table like "
            f"[{name}] dist = \"Normal\" mu = 0.0 sigma = 1.0"
        )
    dist = spec.get("dist")
    if dist not in DISTRIBUTIONS:
        raise InputError(
            f"{source}: prior for '{name}' has dist = {dist!r}; use one of "
            f"{', '.join(DISTRIBUTIONS)}"
        )
    args = {k: v for k, v in spec.items() if k != "dist"}
    want = DISTRIBUTIONS[dist]
    if set(args) != set(want):
        raise InputError(
            f"{source}: prior for '{name}' ({dist}) needs exactly the arguments "
            f"{', '.join(want)}; got {', '.join(sorted(args)) or 'none'}"
        )
    for key, value in args.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value
        ):
            raise InputError(
                f"{source}: prior for '{name}': {key} = {value!r} is not a finite number"
            )
    positive = {"sigma", "alpha", "beta", "lam"}
    for key in positive & set(args):
        if args[key] <= 0:
            raise InputError(f"{source}: prior for '{name}': {key} must be > 0, got {args[key]}")
    if dist == "Uniform" and not args["lower"] < args["upper"]:
        raise InputError(f"{source}: prior for '{name}': Uniform needs lower < upper")
    return {"dist": dist, **{k: float(v) for k, v in args.items()}}


def resolve_priors(law: Law, user: Mapping[str, object] | None = None, *,
                   derived: Mapping[str, dict] | None = None,
                   source: str = "priors") -> dict[str, dict]:
    """Resolve priors as user > derived from data > defaults, checking every user value.

    Parameters
    ----------
    law : forecast.laws.Law
        The law whose parameters the priors are for.
    user : mapping, optional
        ``{parameter: {"dist": ..., **arguments}}`` overriding some defaults.
    derived : mapping, optional
        Priors set from the data (see :func:`forecast.inference.model.data_priors`).
    source : str
        Where the user priors came from, for error messages (e.g. the TOML file's path).

    Returns
    -------
    dict
        A prior for every sampled parameter.

    Raises
    ------
    InputError
        On an unknown parameter, distribution, argument or a bad value.
    """
    defaults = default_priors(law)
    user = dict(user or {})
    unknown = sorted(set(user) - set(defaults))
    if unknown:
        raise InputError(
            f"{source}: unknown parameter '{unknown[0]}' for law '{law.name}'; "
            f"the law's parameters are {', '.join(defaults)}"
        )
    checked = {k: check_prior(k, v, source) for k, v in user.items()}
    return {**defaults, **dict(derived or {}), **checked}


def load_priors(path: str | Path) -> dict[str, dict]:
    """Read user priors from a TOML file (one table per parameter).

    Raises
    ------
    InputError
        If the file is missing or is not valid TOML.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise InputError(f"{path}: priors file not found; check the path") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder; give a TOML file of priors") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({exc}); see docs/priors.md") from None
