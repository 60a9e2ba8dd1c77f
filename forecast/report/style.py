"""The figures' common style: new figures, colours, and axes of powers of ten.

Axes of compute show powers of ten (``10²⁰``, Unicode superscripts: no mathtext to parse),
never an offset; axes of loss show plain numbers. matplotlib is imported inside the functions.
"""

from __future__ import annotations

import math

__all__ = ["DATA_COLOR", "MEAN_COLOR", "NEW_COLOR", "band", "decade_ticks", "human",
           "new_figure", "plain_log_ticks", "pow10", "sup"]

MEAN_COLOR, NEW_COLOR, DATA_COLOR = "#1f5fa8", "#e08a1e", "#222222"
_NICE = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)
# Exponents as Unicode superscripts: "10²⁰" reads like mathtext and costs no mathtext parsing.
_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def sup(e: int) -> str:
    """``20`` -> ``²⁰`` (Unicode superscript digits)."""
    return str(e).translate(_SUP)


def new_figure(width: float, height: float):
    """Return a new figure (no pyplot state) with a constrained layout."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def decade_ticks(ax, axis: str = "x") -> None:
    """Label a log axis with whole powers of ten (``10^20``), at most about eight of them."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    e_lo, e_hi = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    step = max(1, math.ceil((e_hi - e_lo + 1) / 8))
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(FixedLocator([10.0 ** e for e in range(e_lo, e_hi + 1, step)]))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"10{sup(round(math.log10(v)))}"))
    target.set_minor_formatter(NullFormatter())


def plain_log_ticks(ax, axis: str = "y") -> None:
    """Label a log axis spanning little range with plain numbers (2, 2.5, 3), not ``2x10^0``."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    lo, hi = ax.get_ylim() if axis == "y" else ax.get_xlim()
    if hi / lo > 100:
        decade_ticks(ax, axis)
        return
    cands = [m * 10.0 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)))
             for m in _NICE]
    ticks = [t for t in cands if lo <= t <= hi]
    while len(ticks) > 7:
        ticks = ticks[::2]
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_locator(FixedLocator(ticks))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(NullFormatter())


def pow10(x: float) -> str:
    """``3e23`` as ``3×10²³`` (``10²³`` when the mantissa is 1)."""
    e = math.floor(math.log10(x))
    m = round(x / 10.0 ** e, 1)
    if m >= 10:
        m, e = m / 10, e + 1
    return f"10{sup(e)}" if m == 1 else f"{m:g}×10{sup(e)}"


def band(ax, x, lo, hi, *, gid: str, color: str, alpha: float, label: str) -> None:
    """Fill between ``lo`` and ``hi``, tagged ``gid`` for tests and readers."""
    ax.fill_between(x, lo, hi, color=color, alpha=alpha, lw=0, label=label).set_gid(gid)


def human(n: float) -> str:
    """``1.2e9`` as ``1.2B``: counts of parameters or tokens."""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"
