"""Default priors of each law, as data (docs/priors.md explains each choice).

Priors apply to the *sampled* parameters, which are scale-free: ``E_scaled``, ``A_scaled``,
``B_scaled`` are ``E``, ``A``, ``B`` in units of the metric's reference ``y0`` with the
covariates divided by their geometric means. A prior is ``{"dist": NAME, **arguments}`` with
PyMC's names. :mod:`forecast.laws.forms` attaches each law's defaults to its :class:`Law`.
"""

from __future__ import annotations

import math

__all__ = ["DEFAULTS", "KAPPA"]

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

_MEANS: dict[str, dict[str, dict]] = {
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
# the skewed accuracy law has the same parameters, with the same meaning (C50: the midpoint)
_MEANS["cloglog"] = dict(_MEANS["logistic"])


# precision of the Beta likelihood of accuracy: median 50 (sd of 0.07 at acc = 0.5)
KAPPA = {"dist": "LogNormal", "mu": math.log(50.0), "sigma": 1.0}

# per law: the mean's priors, then the noise's (Student-t in log space for a loss, Beta for an
# accuracy)
DEFAULTS: dict[str, dict[str, dict]] = {
    name: {**mean, **({"kappa": KAPPA} if name in ("logistic", "cloglog") else _SHARED)}
    for name, mean in _MEANS.items()
}
