"""The ``forecast`` command line: a thin click layer over the library.

Library errors (:class:`forecast.errors.ForecastError`) become one line on stderr and their exit
status (2 for bad input, 1 for failed work); heavy modules are imported inside the commands so
``--help`` and input errors return at once.
"""

from __future__ import annotations

import gc
import warnings

import click

from forecast import DISTRIBUTION, __version__
from forecast.cli.options import CONTEXT, warn
from forecast.errors import ForecastError, Interrupted

__all__ = ["main", "run", "warn"]


class _CleanError(click.ClickException):
    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class _Group(click.Group):
    """A group that turns the tool's own errors into a clean message and exit status."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (ForecastError, Interrupted) as exc:
            raise _CleanError(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise _CleanError("interrupted; nothing was written", 130) from None


def _quiet_imports() -> None:
    # ArviZ announces its refactor on import; users of a CLI need not see it.
    warnings.filterwarnings("ignore", category=FutureWarning, module="arviz")
    warnings.filterwarnings("ignore", message=".*ArviZ is undergoing.*")


@click.group(cls=_Group, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="forecast",
                      message=f"%(prog)s, version %(version)s (distribution {DISTRIBUTION})")
def main() -> None:
    """Bayesian scaling-law fits and emergence forecasts for composed tasks.

    Typical use: `forecast fit runs.csv`, then `forecast emergence --steps 8`.
    """
    _quiet_imports()


def run() -> None:
    """Run the command line: the ``forecast`` script and ``python -m forecast``.

    A fit builds and rewrites PyTensor graphs: some 500,000 long-lived objects, which CPython's
    cyclic garbage collector would walk again and again during the fit (about 1 s of a warm
    Chinchilla fit) and once more at exit (another 1.3 s; ``docs/performance.md``). As mypy does,
    the command collects less often, and freezes what is left before exiting; the library, and
    tests that call :func:`main` in-process, keep Python's defaults.
    """
    gc.set_threshold(200_000, 30, 30)
    try:
        main()
    finally:
        gc.freeze()


def _register() -> None:
    from forecast.cli.backtest import backtest_cmd
    from forecast.cli.compare import compare_cmd
    from forecast.cli.emergence import emergence_cmd
    from forecast.cli.fit import fit_cmd
    from forecast.cli.plan import plan_cmd
    from forecast.cli.report import report_cmd
    from forecast.harness.command import harness  # torch is imported inside the command

    for command in (fit_cmd, emergence_cmd, backtest_cmd, compare_cmd, report_cmd, plan_cmd,
                    harness):
        main.add_command(command)


_register()
