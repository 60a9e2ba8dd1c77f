"""Presets, the training grid, parallel execution and the runs CSV.

``run_grid`` trains every :class:`~forecast.harness.train.RunSpec` of a preset through joblib
(``--jobs N`` processes, one torch thread each) and returns the checkpoint rows in grid order.
Because each run seeds itself, the rows do not depend on ``--jobs``; with ``scheduler`` (a Dask
scheduler's address, ``--scheduler``) the runs train on that cluster's workers, with the same
rows (:func:`forecast.cluster.map_tasks`, ``docs/harness.md``).
"""

from __future__ import annotations

import csv
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from forecast.harness.train import COLUMNS, RunSpec, train_run

PRESETS = ("smoke", "default", "lookup", "grokking", "control")
GROK_P, GROK_STEPS = 47, 1500  # modulus and steps of the grokking preset


def preset_specs(name: str, seed: int = 0) -> list[RunSpec]:
    """Return the grid of a preset.

    Parameters
    ----------
    name : {"smoke", "default", "lookup", "grokking", "control"}
        ``smoke``: two tiny addition models, the control task and the lookup task, seconds
        each (a test that the harness works). ``default``: 8-digit addition over five
        widths, two decades of compute each, where exact match at k = 8 goes from 0 to near 1
        (about 3 CPU-minutes: 2 to 3 minutes on two idle cores with ``--jobs 2``).
        ``lookup``: the lookup task over the same five widths, twice as many steps, where each
        step's skill grows gradually (about 5 CPU-minutes: about 3 minutes with ``--jobs 2``).
        ``grokking``: modular addition mod 47 with weight decay and half the pairs for
        training, logged densely in log steps.
        ``control``: the ``default`` grid on the carry-free digitwise task, whose steps are
        independent.
    seed : int
        Seed of every run of the grid.

    Returns
    -------
    list of RunSpec
        The grid points, smallest model first.
    """
    if name == "smoke":
        specs = [RunSpec("addition", n_embd=d, steps=120, batch_size=32, warmup=20,
                         n_checkpoints=4, first_step=15, n_eval=256) for d in (16, 32)]
        specs += [RunSpec(task, n_embd=16, steps=60, batch_size=32, warmup=20, n_checkpoints=3,
                          first_step=15, n_eval=256) for task in ("digitwise", "lookup")]
    elif name in ("default", "control"):
        task = "addition" if name == "default" else "digitwise"
        specs = [RunSpec(task, n_embd=d, steps=1200, batch_size=64, lr=3e-3, warmup=50,
                         n_checkpoints=20, first_step=12, n_eval=1000)
                 for d in (16, 24, 32, 48, 64)]
    elif name == "lookup":
        specs = [RunSpec("lookup", n_embd=d, steps=2400, batch_size=64, lr=3e-3, warmup=50,
                         n_checkpoints=20, first_step=12, n_eval=1000)
                 for d in (16, 24, 32, 48, 64)]
    elif name == "grokking":
        specs = [RunSpec("modular", n_embd=64, n_layer=1, steps=GROK_STEPS, batch_size=0,
                         lr=1e-3, weight_decay=1.0, warmup=10, n_checkpoints=40, first_step=5,
                         modulus=GROK_P, train_fraction=0.5)]
    else:
        raise ValueError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}")
    return [replace(s, seed=seed) for s in specs]


def run_grid(specs: list[RunSpec], *, jobs: int = 1, threads: int = 1,
             progress: Callable[[int, int, float], None] | None = None,
             scheduler: str | None = None) -> list[dict]:
    """Train every grid point and return all checkpoint rows in grid order.

    Parameters
    ----------
    specs : list of RunSpec
        The grid.
    jobs : int
        Grid points trained at once (joblib ``n_jobs``; ``-1`` for every core). With
        ``jobs == 1`` the runs go in this process.
    threads : int
        Torch threads per run.
    progress : callable, optional
        Called as ``progress(done, total, seconds)`` after each run finishes (on a cluster:
        at the start and once all are back).
    scheduler : str, optional
        A Dask scheduler's address: train the runs on its workers instead (``jobs`` unused).

    Returns
    -------
    list of dict
        Rows keyed by :data:`forecast.harness.train.COLUMNS`.
    """
    from joblib import Parallel, delayed

    start = time.perf_counter()
    results: dict[int, list[dict]] = {}
    if progress:
        progress(0, len(specs), 0.0)
    # Largest models first so the slowest runs start early; rows come back in grid order.
    order = sorted(range(len(specs)), key=lambda i: -specs[i].n_embd * specs[i].n_layer)
    if scheduler is not None:
        from functools import partial

        from forecast.cluster import map_tasks

        done = map_tasks(partial(_indexed_spec, specs, threads), order, scheduler=scheduler)
    else:
        tasks = [delayed(_indexed)(i, specs[i], threads) for i in order]
        done = Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks)
    for i, rows in done:
        results[i] = rows
        if progress:
            progress(len(results), len(specs), time.perf_counter() - start)
    return [row for i in range(len(specs)) for row in results[i]]


def _indexed(i: int, spec: RunSpec, threads: int) -> tuple[int, list[dict]]:
    return i, train_run(spec, threads=threads)


def _indexed_spec(specs: list[RunSpec], threads: int, i: int) -> tuple[int, list[dict]]:
    return _indexed(i, specs[i], threads)


def stderr_progress(done: int, total: int, seconds: float) -> None:
    """Draw a one-line progress bar on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return
    width = 24
    filled = int(width * done / max(total, 1))
    minutes, secs = divmod(int(seconds), 60)
    sys.stderr.write(f"\rharness [{'#' * filled}{'.' * (width - filled)}] {done}/{total} runs "
                     f"{minutes}m{secs:02d}s")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.8g}"
    return str(value)


def write_runs_csv(rows: list[dict], path: str | os.PathLike) -> Path:
    """Write rows to ``path`` atomically: a temporary file in the same folder, then a rename.

    Parameters
    ----------
    rows : list of dict
        Rows keyed by :data:`forecast.harness.train.COLUMNS`; missing keys are empty cells.
    path : path-like
        The runs CSV; its folder is created if needed.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(COLUMNS)
            for row in rows:
                writer.writerow([_cell(row.get(c)) for c in COLUMNS])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
