"""Running independent tasks here or on a Dask cluster: the same results either way.

:func:`map_tasks` maps a function over items. Without a scheduler it runs them one after
another in this process; with one (``--scheduler ADDRESS``, or the ``FORECAST_SCHEDULER``
environment variable) it submits them to that ``dask.distributed`` scheduler and gathers the
results in the items' order. Every task the tool submits seeds itself from its inputs (a fit
from its ``--seed``, a harness run from its spec), so a cluster gives the rows a local run gives.

Dask is an optional extra: ``pip install 'scaling-forecast[dask]'``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from forecast.errors import InputError

__all__ = ["SCHEDULER_ENV", "map_tasks", "scheduler_option"]

SCHEDULER_ENV = "FORECAST_SCHEDULER"
CONNECT_TIMEOUT = "10s"


def map_tasks(fn: Callable, items: Iterable, *, scheduler: str | None = None) -> list:
    """Return ``[fn(x) for x in items]``, computed here or on the cluster at ``scheduler``.

    An exception raised by a task is raised here, as it was raised there.

    Raises
    ------
    InputError
        If Dask is not installed or the scheduler cannot be reached (one line, what to do).
    """
    items = list(items)
    if scheduler is None:
        return [fn(x) for x in items]
    try:
        from distributed import Client
    except ImportError:
        raise InputError(f"--scheduler {scheduler}: needs the dask extra: "
                         "pip install 'scaling-forecast[dask]'") from None
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"--scheduler {scheduler}: cannot reach a Dask scheduler there "
                         f"({type(exc).__name__}); start one (`dask scheduler`) or check the "
                         "address, e.g. tcp://10.0.0.5:8786") from None
    with client:
        # pure=False: equal arguments are still separate tasks (a retry must not be cached)
        return client.gather(client.map(fn, items, pure=False))


def scheduler_option(what: str):
    """Return the ``--scheduler ADDRESS`` click option (default ``$FORECAST_SCHEDULER``)."""
    import click

    return click.option("--scheduler", default=None, envvar=SCHEDULER_ENV, metavar="ADDRESS",
                        help=f"A Dask scheduler (e.g. tcp://10.0.0.5:8786; default "
                             f"${SCHEDULER_ENV}): {what} on its workers, with the same results "
                             "as here. Needs the dask extra.")
