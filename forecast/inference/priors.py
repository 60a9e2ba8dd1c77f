"""Priors as data: defaults per law, user overrides from a TOML file, and validation.

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

_SHARED = {
    # log-space noise: HalfNormal(0.1) puts 95% of its mass below 20% multiplicative scatter.
    "sigma": {"dist": "HalfNormal", "sigma": 0.1},
    # Student-t degrees of freedom: Gamma(2, 0.1) (Juarez & Steel 2010), mean 20, allows outliers.
    "nu": {"dist": "Gamma", "alpha": 2.0, "beta": 0.1},
}
# Scaling exponents: median 0.3, 90% between 0.09 and 1.0 (language-model exponents in C, N and D
# are 0.05-0.6; small-model per-step losses can be steeper).
_EXPONENT = {"dist": "LogNormal", "mu": math.log(0.3), "sigma": 0.75}
# Irreducible part, in units of y0: at most of order the typical metric.
_FLOOR = {"dist": "HalfNormal", "sigma": 1.0}
# Reducible amplitude at the reference scale, in units of y0: order one, broad in log.
_AMP = {"dist": "LogNormal", "mu": math.log(0.5), "sigma": 1.0}

_DEFAULTS: dict[str, dict[str, dict]] = {
    "power": {"E_scaled": _FLOOR, "A_scaled": _AMP, "alpha": _EXPONENT},
    "pure": {"A_scaled": {"dist": "LogNormal", "mu": 0.0, "sigma": 1.0}, "alpha": _EXPONENT},
    "chinchilla": {"E_scaled": _FLOOR, "A_scaled": _AMP, "B_scaled": _AMP, "alpha": _EXPONENT,
                   "beta": _EXPONENT},
    "broken": {
        "E_scaled": _FLOOR,
        "A_scaled": _AMP,
        "alpha": _EXPONENT,
        # change of slope at the break; alpha + delta is the slope beyond it
        "delta": {"dist": "Normal", "mu": 0.0, "sigma": 0.3},
        # log(Cb / C0): the break lies within the data's span or near it (sigma: the data's
        # log-compute span, see forecast.inference.model.data_priors)
        "log_xb": {"dist": "Normal", "mu": 0.0, "sigma": 3.0},
        # sharpness of the bend, in natural-log units of compute
        "f": {"dist": "LogNormal", "mu": 0.0, "sigma": 0.5},
    },
    "logistic": {
        "floor": {"dist": "Fixed", "value": 0.0},
        # slope per e-fold of compute: median 1 (accuracy 27% -> 73% over 2 e-folds)
        "s": {"dist": "LogNormal", "mu": 0.0, "sigma": 1.0},
        # log(C50 / C0): the midpoint within a few e-folds of the data (sigma: twice the data's
        # log-compute span, see forecast.inference.model.data_priors)
        "log_x50": {"dist": "Normal", "mu": 0.0, "sigma": 5.0},
    },
}


def default_priors(law_name: str) -> dict[str, dict]:
    """Return the default priors of a law (a fresh copy)."""
    out = {k: dict(v) for k, v in _DEFAULTS[law_name].items()}
    if law_name == "logistic":
        # precision of the Beta likelihood of accuracy: median 50 (sd of 0.07 at acc = 0.5)
        out["kappa"] = {"dist": "LogNormal", "mu": math.log(50.0), "sigma": 1.0}
    else:
        out.update({k: dict(v) for k, v in _SHARED.items()})
    return out


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


def resolve_priors(law_name: str, user: Mapping[str, object] | None = None, *,
                   derived: Mapping[str, dict] | None = None,
                   source: str = "priors") -> dict[str, dict]:
    """Resolve priors as user > derived from data > defaults, checking every user value.

    Parameters
    ----------
    law_name : str
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
    defaults = default_priors(law_name)
    user = dict(user or {})
    unknown = sorted(set(user) - set(defaults))
    if unknown:
        raise InputError(
            f"{source}: unknown parameter '{unknown[0]}' for law '{law_name}'; "
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
