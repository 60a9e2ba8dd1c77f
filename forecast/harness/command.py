"""The ``forecast harness`` command.

This module must stay importable without torch (the CLI imports it for ``--help``): torch,
joblib and the training code are imported inside the command.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from forecast.cluster import scheduler_option

INSTALL_HINT = "pip install 'scaling-forecast[harness]'  (it pins torch==2.13.0, a CPU wheel)"


class HarnessUnavailable(click.ClickException):
    """The optional torch extra is missing: a one-line message and exit status 2."""

    exit_code = 2


def _require_extra() -> None:
    try:
        import joblib  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        raise HarnessUnavailable(
            f"the harness needs PyTorch and joblib ({exc.name} is missing): {INSTALL_HINT}"
        ) from None


@click.command("harness")
@click.option("--preset",
              type=click.Choice(["smoke", "default", "lookup", "grokking", "control"]),
              default="default", show_default=True,
              help="smoke: seconds, a check that training works; default: 8-digit addition "
                   "over five model sizes (minutes); lookup: eight look-ups in a random table "
                   "of Zipf-distributed keys, whose per-step skill grows gradually (minutes); "
                   "grokking: modular addition with weight decay; control: the carry-free "
                   "digit task.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The runs CSV to write (atomically; its folder is created).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds model initialisation and data of every run.")
@click.option("--jobs", type=click.IntRange(min=-1), default=1, show_default=True,
              help="Grid points trained in parallel (joblib processes, one torch thread each; "
                   "-1 for every core).")
@scheduler_option("train the grid's runs")
def harness(preset: str, out: Path, seed: int, jobs: int, scheduler: str | None) -> None:
    """Train tiny transformers on composed tasks and write their checkpoints as a runs CSV.

    Each row is one checkpoint of one run: params, tokens, flops, loss, step_loss, step_acc,
    exact_k1..exact_k8 and per-position loss and accuracy. Fit it with `forecast fit OUT
    --y step_loss`. Needs the optional extra: pip install 'scaling-forecast[harness]'.
    """
    if jobs == 0:
        raise click.BadParameter("must be 1 or more, or -1 for every core", param_hint="--jobs")
    from forecast.errors import InputError
    from forecast.outputs import check_out_dir

    if out.is_dir():
        raise InputError(f"{out}: --out is a folder; give the path of the runs CSV to write")
    check_out_dir(out.parent)  # before minutes of training, not after
    _require_extra()
    from forecast.harness.grid import preset_specs, run_grid, stderr_progress, write_runs_csv

    start = time.perf_counter()
    specs = preset_specs(preset, seed=seed)
    try:
        rows = run_grid(specs, jobs=jobs, progress=stderr_progress, scheduler=scheduler)
    except FloatingPointError as exc:  # a run diverged: the work failed (exit 1), nothing written
        raise click.ClickException(f"{exc}; nothing was written to {out}") from None
    write_runs_csv(rows, out)
    click.echo(f"wrote {len(rows)} checkpoints of {len(specs)} runs ({preset}, seed {seed}) to "
               f"{out} in {time.perf_counter() - start:.0f} s")
