"""The tool's own errors: each maps to an exit status and a one-line message."""

from __future__ import annotations


class ForecastError(Exception):
    """Base class of the errors the command line turns into a clean message."""

    exit_code = 1


class InputError(ForecastError, ValueError):
    """Bad usage or bad input: the message names the file, row or column and the fix (exit 2)."""

    exit_code = 2


class FitError(ForecastError, RuntimeError):
    """The work itself failed, e.g. sampling could not start (exit 1)."""

    exit_code = 1


class Interrupted(BaseException):
    """The user interrupted the work (Ctrl-C); nothing was written (exit 130).

    A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` in a library
    swallows it; unlike ``KeyboardInterrupt``, PyMC's sampler does not catch it either.
    """

    exit_code = 130
