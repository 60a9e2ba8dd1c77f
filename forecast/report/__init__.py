"""Presentation: figures that take data and return a matplotlib figure, and the HTML report.

Importing this package imports neither matplotlib nor PyMC; :func:`make_report` does.
"""

from forecast.report.page import make_report

__all__ = ["make_report"]
