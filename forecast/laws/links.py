"""Links: from what a law fits (a loss, or a task's accuracy) to per-step success ``p``.

A :class:`Link` is resolved once from its name (:func:`get_link`) and travels with the forecast:

- ``exp``: ``p = exp(-L)`` for a per-step loss ``L`` in nats;
- ``weibull``: ``p = floor + (1 - floor) exp(-(L / L0)^s)``, fitted jointly with the loss law
  (``forecast fit --acc``); ``floor = 0``, ``L0 = 1``, ``s = 1`` is ``exp``;
- ``logistic``: a ``logistic`` law's accuracy of a ``k0``-step task, ``p = acc^(1/k0)``.

Each has its inverse (the metric's value at which ``p`` is reached), which gives closed-form
crossings. NumPy only; checked in ``tests/test_compose.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from forecast.laws.forms import by_name

__all__ = ["LINKS", "Link", "exp_link", "exp_link_inverse", "get_link", "weibull_link",
           "weibull_link_inverse"]


def exp_link(loss: np.ndarray) -> np.ndarray:
    """Per-step success from per-step loss: ``p = exp(-L)`` (L in nats)."""
    return np.exp(-np.asarray(loss, dtype=float))


def exp_link_inverse(p: np.ndarray) -> np.ndarray:
    """Return the loss at which the ``exp`` link gives success ``p``: ``-ln p``."""
    with np.errstate(divide="ignore"):
        return -np.log(np.asarray(p, dtype=float))


def weibull_link(loss: np.ndarray, *, floor: np.ndarray, s: np.ndarray,
                 L0: np.ndarray) -> np.ndarray:
    """Accuracy from loss: ``floor + (1 - floor) exp(-(L / L0)^s)``.

    The accuracy above chance is the Weibull survival function of the loss: a loss of 0 nats
    (the right answer certain) gives accuracy 1, an infinite loss gives ``floor``, and near 0 the
    error rate ``1 - p`` is ``(1 - floor) (L / L0)^s``, a power of the loss. With ``floor = 0``,
    ``L0 = 1`` and ``s = 1`` it is the ``exp`` link.

    Parameters
    ----------
    loss : numpy.ndarray
        Loss (same units as ``L0``), >= 0.
    floor : numpy.ndarray
        Chance level, the accuracy at infinite loss.
    s : numpy.ndarray
        Shape (> 0): how sharply accuracy falls from 1 to ``floor`` around ``L0``.
    L0 : numpy.ndarray
        The loss at which the accuracy above chance is ``1/e`` of its full range.
    """
    ratio = np.maximum(np.asarray(loss, dtype=float), 0.0) / L0
    with np.errstate(over="ignore"):  # a huge (L / L0)^s is inf, and exp(-inf) = 0, as it should
        return floor + (1.0 - floor) * np.exp(-np.power(ratio, s))


def weibull_link_inverse(p: np.ndarray, *, floor: np.ndarray, s: np.ndarray,
                         L0: np.ndarray) -> np.ndarray:
    """Return the loss at which the ``weibull`` link gives accuracy ``p``: ``L0 (-ln u)^(1/s)``.

    ``u = (p - floor) / (1 - floor)``. ``+inf`` where ``p <= floor`` (any loss will do), ``0``
    where ``p >= 1`` (only a loss of 0 will).
    """
    with np.errstate(divide="ignore"):
        u = np.clip((np.asarray(p, dtype=float) - floor) / (1.0 - floor), 0.0, 1.0)
        return L0 * np.power(-np.log(u) + 0.0, 1.0 / s)  # + 0.0: no -0.0 at p = 1


def _weibull(value, raw, from_k):
    return weibull_link(value, floor=raw["floor"], s=raw["s"], L0=raw["L0"])


def _weibull_inverse(p, raw, from_k):
    return weibull_link_inverse(p, floor=raw["floor"], s=raw["s"], L0=raw["L0"])


@dataclass(frozen=True)
class Link:
    """A link from the law's metric to per-step success.

    Attributes
    ----------
    name : str
        The name used on the command line (``--link``).
    metric : str
        The metric of the laws it applies to: ``"positive"`` (a loss) or ``"unit"`` (an
        accuracy).
    params : tuple of str
        The link's own parameters, drawn from the fit with the law's.
    success : callable
        ``success(value, raw, from_k) -> p``: per-step success from the law's value.
    inverse : callable
        ``inverse(p, raw, from_k) -> value``: the law's value at which success is ``p``.
    """

    name: str
    metric: str
    params: tuple[str, ...]
    success: Callable[[np.ndarray, Mapping, int], np.ndarray]
    inverse: Callable[[np.ndarray, Mapping, int], np.ndarray]


LINKS: dict[str, Link] = {
    link.name: link
    for link in (
        Link("exp", "positive", (), lambda v, raw, k: exp_link(v),
             lambda p, raw, k: exp_link_inverse(p)),
        Link("weibull", "positive", ("floor", "s", "L0"), _weibull, _weibull_inverse),
        Link("logistic", "unit", (), lambda v, raw, k: np.power(np.clip(v, 0.0, 1.0), 1.0 / k),
             lambda p, raw, k: np.power(p, k)),
    )
}


def get_link(name: str | Link) -> Link:
    """Return the link called ``name`` (a :class:`Link` is returned as it is).

    Raises
    ------
    InputError
        If no link has that name.
    """
    return by_name(LINKS, name, Link, f"--link {name}: use one of {', '.join(LINKS)}")
