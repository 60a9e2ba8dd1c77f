"""How the sampler sees a law's parameters: at the data's own reference point.

A ladder of 5-20 runs pins a law's value and its log-log slope in the middle of the data and
says little about its curvature, so in the law's own parameters (``E``, ``A``, ``alpha``) the
posterior is a curved ridge: a smaller floor with a flatter exponent fits as well as a larger
floor with a steeper one. NUTS needs a long trajectory and a tiny step to follow it.

For ``power`` and ``chinchilla`` the sampler instead sees, at the reference covariates (the
geometric means, where every scaled covariate is 1):

* ``ref_log_mean``: ``log m`` with ``m = E + A (+ B)``, the law's mean there (units of ``y0``);
* ``ref_logit_A`` (and ``ref_logit_B``): logits of the shares ``(E, A[, B]) / m`` that split
  that mean into its floor and reducible parts (broken off as a stick: see
  :func:`reference_parameters`);
* ``ref_log_slope_C`` (or ``_N``, ``_D``): the log of minus the law's log-log slope there
  along each covariate, ``alpha A / m`` (``beta B / m``).

So ``E = share_E m``, ``A = share_A m``, ``alpha = slope / share_A``. The data pin ``m`` and the
slopes; the curvature, ``slope^2 (1 - share_A) / share_A``, is what the shares carry. The
priors stay those of ``docs/priors.md`` on ``E_scaled``, ``A_scaled``, ``alpha`` ... (kept as
deterministics): their log density is added with the log Jacobian of the map,
:func:`log_jacobian`, which ``tests/test_geometry.py`` checks against a numerical Jacobian
and by sampling the prior alone. All free variables are unbounded scalars: no transform, and
a compiled log density barely larger than the natural one.

The map covers ``E >= 0``, ``A, B > 0``, exponents ``> 0``: it is used only when every one of
those priors has exactly that support (HalfNormal, LogNormal, Gamma, Exponential); otherwise,
and for the other laws, the model samples the law's own parameters.
"""

from __future__ import annotations

from collections.abc import Mapping

from forecast.laws import Law

__all__ = ["POSITIVE", "log_jacobian", "reference_parameters", "term_order", "uses_reference"]

# prior families whose support is (0, inf) (E's HalfNormal includes 0: a share of 0)
POSITIVE = frozenset({"HalfNormal", "LogNormal", "Gamma", "Exponential"})


def _prior_name(param: str) -> str:
    return f"{param}_scaled" if param in ("E", "A", "B") else param


def uses_reference(law: Law, priors: Mapping[str, dict]) -> bool:
    """Whether a law with these priors is sampled at the reference point (see module doc).

    The law must allow it (``law.reference``: its mean is ``E`` plus its ``law.terms``).
    """
    if not law.reference:
        return False
    params = ["E", *(p for term in law.terms for p in term[:2])]
    return all(priors[_prior_name(p)]["dist"] in POSITIVE for p in params)


def log_jacobian(log_mean, log_share_e, log_slopes):
    """Log Jacobian of the map from the free variables to the law's parameters.

    The free variables are ``log m``, one logit per amplitude's share (stick-breaking, see
    :func:`reference_parameters`) and ``log slope`` per covariate. With ``k`` parts of the
    mean, ``|d(E, A[, B], alpha[, beta]) / d(log m, shares, slopes)| = m^k / prod(share_A)``
    (the product over the amplitudes' shares); the stick-breaking logits add the product of
    all ``k`` shares and each log slope its slope, so the sum is
    ``k log m + log share_E + sum(log slope)``.
    """
    return (len(log_slopes) + 1) * log_mean + log_share_e + sum(log_slopes)


def term_order(law: Law, spans: Mapping[str, float]) -> tuple[tuple[str, str, str], ...]:
    """Return the law's reducible parts, the one whose covariate spans most e-folds first.

    A wider span pins that part's curvature, hence its share; the part broken off last shares
    the remainder with ``E``, the weak direction a short span leaves.
    """
    return tuple(sorted(law.terms, key=lambda t: -spans.get(t[2], 0.0)))


def reference_parameters(law: Law, priors: Mapping[str, dict],
                         spans: Mapping[str, float] | None = None) -> dict:
    """Free variables at the reference point and the law's parameters derived from them.

    Must be called inside a ``pm.Model``. Adds the free variables ``ref_log_mean``,
    ``ref_logit_A`` (and ``ref_logit_B``), ``ref_log_slope_C`` (or ``_N``, ``_D``), all
    unbounded scalars; the law's parameters as deterministics named as their priors
    (``E_scaled``, ``A_scaled``, ``alpha`` ...); and the potential ``reference_prior`` (their
    priors' log density plus :func:`log_jacobian`).

    The shares break a stick in :func:`term_order` (``spans``: e-folds each covariate spans in
    the data): the first part takes ``sigmoid(logit)`` of the mean, the next that of what is
    left, and ``E`` the rest. With one part, ``ref_logit_A = log(A / E)``.

    Returns
    -------
    dict
        ``{"E": ..., "A": ..., "alpha": ...}``: the law's parameters, as the law's mean reads
        them.
    """
    import pymc as pm
    import pytensor.tensor as pt

    log_mean = pm.Flat("ref_log_mean")
    theta, log_rest = {}, 0.0  # log of the stick left after the parts broken off so far
    log_slopes = []
    for amp, exponent, cov in term_order(law, spans or {}):
        z = pm.Flat(f"ref_logit_{amp}")
        log_slope = pm.Flat(f"ref_log_slope_{cov}")
        log_share = log_rest - pt.softplus(-z)  # log(rest * sigmoid(z))
        log_rest = log_rest - pt.softplus(z)  # log(rest * (1 - sigmoid(z)))
        theta[amp] = pm.Deterministic(f"{amp}_scaled", pt.exp(log_mean + log_share))
        theta[exponent] = pm.Deterministic(exponent, pt.exp(log_slope - log_share))
        log_slopes.append(log_slope)
    theta["E"] = pm.Deterministic("E_scaled", pt.exp(log_mean + log_rest))
    prior = 0.0
    for param, value in theta.items():
        spec = dict(priors[_prior_name(param)])
        dist = getattr(pm, spec.pop("dist"))
        prior = prior + pm.logp(dist.dist(**spec), value)
    pm.Potential("reference_prior", prior + log_jacobian(log_mean, log_rest, log_slopes))
    return theta
