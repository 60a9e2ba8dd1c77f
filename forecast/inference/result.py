"""A fitted law: :class:`Fit` (the posterior and its summary) and :func:`load_fit`.

:func:`forecast.inference.fitting.fit` makes a :class:`Fit`; :meth:`Fit.save` writes ``fit.nc``
and ``summary.json`` atomically and :func:`load_fit` reads them back and checks them. A fit also
answers for new runs what the fitted model says of them: their covariates (compute shifted by a
group's offset) and their mean (times a training run's own level, for ``--run``).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from forecast.errors import InputError
from forecast.inference.groups import offset_draws, trial_counts
from forecast.laws import LAWS, Law, predict
from forecast.outputs import atomic_write, write_json
from forecast.runs import Runs

__all__ = ["Fit", "load_fit"]

@dataclass
class Fit:
    """A fitted law: the posterior (ArviZ ``InferenceData``) and its summary.

    The posterior group holds the sampled, scale-free parameters (``E_scaled``, ``alpha`` ...)
    and the same law in raw units (``E``, ``A``, ``alpha`` ...: C in FLOPs, N in parameters,
    D in tokens), which is what every downstream computation uses.
    """

    idata: object
    law: Law
    refs: dict[str, float]
    priors: dict[str, dict]
    y_name: str
    summary: dict = field(default_factory=dict)

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of a parameter, chains stacked, as a 1-D array."""
        return np.asarray(self.idata.posterior[name]).reshape(-1)

    def raw(self) -> dict[str, np.ndarray]:
        """All raw-unit parameters of the law, as flat arrays of draws."""
        return {k: self.draws(k) for k in self.law.params}

    @property
    def group_column(self) -> str | None:
        """The column of the runs that named each run's group (``--group``), or None."""
        return self.idata.attrs.get("group") or None

    @property
    def group_names(self) -> list[str]:
        """The groups the fit saw (empty without ``--group``)."""
        if self.group_column is None:
            return []
        return [str(g) for g in np.asarray(self.idata.posterior["offset"].coords["group"])]

    @property
    def run_column(self) -> str | None:
        """The column that named each row's training run (``--run``), or None."""
        return self.idata.attrs.get("run") or None

    @property
    def run_names(self) -> list[str]:
        """The training runs the fit saw (empty without ``--run``)."""
        if self.run_column is None:
            return []
        return [str(r) for r in np.asarray(self.idata.posterior["run_level"].coords["train_run"])]

    @property
    def task_column(self) -> str | None:
        """The column of tasks (``--task``: several tasks sharing the groups' offsets), or None."""
        return self.idata.attrs.get("task") or None

    @property
    def task_names(self) -> list[str]:
        """The tasks the fit saw (empty without ``--task``)."""
        if self.task_column is None:
            return []
        return [str(t) for t in np.asarray(self.idata.posterior.coords["task"])]

    def one_task(self, name: str | None) -> Fit:
        """Return this fit, or for a fit of several tasks (``--task``) task ``name``'s view."""
        if self.task_column is None:
            if name is not None:
                raise InputError(f"--task {name}: this fit is of one task (fit without --task)")
            return self
        if name is None:
            raise InputError(f"this fit holds several tasks (--task {self.task_column}: "
                             f"{', '.join(self.task_names)}); give --task NAME")
        return self.task_view(name)

    def task_view(self, name: str) -> Fit:
        """Return the fit as one task's: its own law and scatter, the shared offsets, its rows.

        Every question (a forecast, emergence, a report) is asked of one task's view; the
        view is an ordinary fit without ``--task``.
        """
        import arviz as az

        if name not in self.task_names:
            raise InputError(f"--task {name}: the fit's tasks are {', '.join(self.task_names)}")
        j = self.task_names.index(name)
        rows = np.asarray(self.idata.constant_data["task_index"]) == j
        groups = {}
        for g in self.idata.groups():
            data = getattr(self.idata, g)
            if "task" in data.dims:
                data = data.sel(task=name, drop=True)
            if "run" in data.dims:
                data = data.isel(run=np.flatnonzero(rows))
            groups[g] = data
        view = az.InferenceData(**groups)
        view.attrs.update({**self.idata.attrs, "task": "", "task_of": f"{self.task_column}={name}"})
        summary = {**self.summary, "params": {**self.summary.get("params", {}),
                                              **self.summary["tasks"][name]["params"]}}
        return Fit(view, self.law, self.refs, self.priors, self.y_name, summary)

    @property
    def k_column(self) -> str | None:
        """The column of task lengths (``--k``), or None."""
        return self.idata.attrs.get("k") or None

    @property
    def k_ref(self) -> float:
        """The shortest task length the fit saw: its law is that length's accuracy."""
        return float(self.idata.attrs.get("k_ref", 1.0))

    def lengths(self, runs: Runs) -> np.ndarray:
        """Each run's task length (``--k``); runs without the column are of length ``k_ref``."""
        if self.k_column is not None and self.k_column in runs.frame.columns:
            return runs.column(self.k_column, what="for the fit's --k")
        return np.full(runs.flops.size, self.k_ref)

    def composed(self, mean: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Return the accuracy at ``lengths`` from the law's at ``k_ref``: ``q^((k/k_ref)^g)``.

        ``mean`` has shape ``(draws, len(lengths))``; without ``--k`` it is returned as it is.
        """
        if self.k_column is None:
            return mean
        floor = self.draws("floor")[:, None]
        gamma = self.draws("gamma_k")[:, None]
        q = np.clip((mean - floor) / (1.0 - floor), 0.0, 1.0)
        return floor + (1.0 - floor) * q ** ((np.asarray(lengths) / self.k_ref)[None, :] ** gamma)

    @property
    def trials(self) -> str:
        """``--trials`` of the fit: a number of items, a column of them, or ``""``."""
        return str(self.idata.attrs.get("trials", ""))

    def trial_counts(self, runs: Runs) -> np.ndarray:
        """Items behind each accuracy of ``runs``, as the fit's ``--trials`` says.

        Runs without the ``--trials`` column (a grid of compute) take the fitted runs' median.
        """
        if not self.trials.isdigit() and self.trials not in runs.frame.columns:
            counts = np.asarray(self.idata.constant_data["trials"], dtype=float)
            return np.full(runs.flops.size, float(np.round(np.median(counts))))
        return trial_counts(runs, self.trials)

    def covariates(self, runs: Runs, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Return the law's covariates at ``runs``, compute shifted by each run's group offset.

        Without ``--group`` these are ``runs.covariates(law)``; with it, ``C`` has shape
        ``(draws, len(runs))``: ``C exp(offset)`` (:meth:`offsets`, which draws from ``rng``
        for groups the fit has not seen). Runs without the group column (a grid of compute)
        are forecast as the runs of one new group.
        """
        cov = runs.covariates(self.law)
        if self.group_column is not None:
            col = self.group_column
            labels = (runs.labels(col) if col in runs.frame.columns
                      else np.full(runs.flops.size, "(no group)"))  # a grid: one new group
            cov["C"] = cov["C"] * np.exp(self.offsets(labels, rng))
        return cov

    def offsets(self, labels, rng: np.random.Generator) -> np.ndarray:
        """Draws of the compute offset (natural log) of runs of groups ``labels``.

        See :func:`forecast.inference.groups.offset_draws` (a group the fit has not seen draws
        from the population of offsets, from ``rng``); zeros without ``--group``. Shape
        ``(draws, len(labels))``.
        """
        n = self.draws(self.law.params[-1]).size
        if self.group_column is None:
            return np.zeros((n, len(labels)))
        post = np.asarray(self.idata.posterior["offset"]).reshape(n, -1)
        return offset_draws(post, self.group_names, self.draws("tau_group"), labels, rng)

    def run_levels(self, runs: Runs, rng: np.random.Generator) -> np.ndarray | None:
        """Draws of each row's training-run level (``--run``), or None without ``--run``.

        A run the fit saw takes its own level's draws; a new run a draw from ``Normal(0,
        sigma_run)`` (one per new run, shared by its rows: its checkpoints, or its tasks).
        Rows without the run column (a grid of compute) are one new run. Shape ``(draws,
        len(runs))``: ``exp`` of it scales a loss, or an accuracy law's compute.
        """
        if self.run_column is None:
            return None
        col, sigma = self.run_column, self.draws("sigma_run")
        labels = (runs.labels(col) if col in runs.frame.columns
                  else np.full(runs.flops.size, "(new run)"))
        post = np.asarray(self.idata.posterior["run_level"]).reshape(sigma.size, -1)
        return offset_draws(post, self.run_names, sigma, labels, rng)

    def mean(self, runs: Runs, rng: np.random.Generator,
             levels: np.ndarray | None = None) -> np.ndarray:
        """Draws of the law's mean at ``runs``, shape ``(draws, len(runs))``.

        At :meth:`covariates` (compute shifted by a group's offset); with ``--run``, at each
        row's training-run level (:meth:`run_levels`, or ``levels`` if given): a loss times
        ``exp`` of it, an accuracy law's compute times ``exp`` of it. A fit of several tasks
        draws a new run's level once for all its tasks. With ``--k``, each row's accuracy at
        its task length (:meth:`composed`).
        """
        if levels is None:
            levels = self.run_levels(runs, rng)
        if self.task_column is not None:
            return self.by_task(runs, lambda view, some, mine: (view.mean(some, rng, mine),),
                                levels)[0]
        raw = {k: v[:, None] for k, v in self.raw().items()}
        cov = self.covariates(runs, rng)
        if levels is not None and self.law.metric == "unit":
            cov["C"] = cov["C"] * np.exp(levels)
        mean = self.composed(predict(self.law, raw, **cov), self.lengths(runs))
        if levels is not None and self.law.metric == "positive":
            mean = mean * np.exp(levels)
        return mean

    def by_task(self, runs: Runs, ask, levels: np.ndarray | None = None) -> tuple:
        """``ask(view, some, levels)`` of each task's view on its rows, in ``runs``' order.

        ``some`` are the task's rows of ``runs``, ``levels`` their columns of the rows'
        training-run levels (:meth:`run_levels`; None without them). ``ask`` returns a tuple
        of arrays of shape ``(draws, len(some))`` (every view has the fit's draws); so does
        this, over all of ``runs``.
        """
        labels = runs.labels(self.task_column, what="for the fit's --task")
        unknown = sorted(set(labels) - set(self.task_names))
        if unknown:
            raise InputError(f"{runs.source}: task '{unknown[0]}' is not one of the fit's "
                             f"({', '.join(self.task_names)})")
        out = None
        for t in sorted(set(labels)):  # a fixed order: the same seed, the same draws
            mine = labels == t
            parts = ask(self.task_view(t), runs.subset(mine),
                        None if levels is None else levels[:, mine])
            out = out or tuple(np.empty((p.shape[0], len(runs))) for p in parts)
            for o, p in zip(out, parts, strict=True):
                o[:, mine] = p
        return out

    @property
    def extrapolation(self) -> dict:
        """Extrapolation error of :mod:`forecast.inference.extrapolation` (0 without it)."""
        text = self.idata.attrs.get("extrapolation")
        if text:
            return json.loads(text)
        return {"method": "none", "kappa_per_decade": 0.0, "flops_max": float("inf"),
                "reason": "fitted by a version without extrapolation error"}

    def fitted_runs(self) -> Runs:
        """Return the runs the fit saw, rebuilt from its data (after ``--frontier``, say).

        Compute is taken as ``6 N D`` for a law of params and tokens.
        """
        import pandas as pd

        data = self.idata.constant_data
        cov = {k: np.asarray(data[f"x_{k}"], dtype=float) * self.refs[k]
               for k in self.law.covariates}
        obs = np.asarray(self.idata.observed_data["obs"], dtype=float)
        y = obs if self.law.metric == "unit" else np.exp(obs) * self.refs["y"]
        flops = cov["C"] if "C" in cov else 6.0 * cov["N"] * cov["D"]
        if "accuracy" in data:  # --trials: the likelihood sees the empirical logit
            y = np.asarray(data["accuracy"], dtype=float)
        frame = pd.DataFrame({"flops": flops, self.y_name: y})
        if self.group_column is not None:
            names = np.array(self.group_names, dtype=object)
            frame[self.group_column] = names[np.asarray(data["group_index"], dtype=int)]
        if self.run_column is not None:
            names = np.array(self.run_names, dtype=object)
            frame[self.run_column] = names[np.asarray(data["run_index"], dtype=int)]
        if self.k_column is not None:
            frame[self.k_column] = np.asarray(data["k_ratio"], dtype=float) * self.k_ref
        if self.task_column is not None:
            names = np.array(self.task_names, dtype=object)
            frame[self.task_column] = names[np.asarray(data["task_index"], dtype=int)]
        return Runs(str(self.idata.attrs.get("source", "")), frame, self.y_name, flops, y,
                    cov.get("N"), cov.get("D"))

    def save(self, out: str | Path) -> Path:
        """Write ``fit.nc`` and ``summary.json`` in ``out`` atomically; return ``out``."""
        out = Path(out)
        atomic_write(out / "fit.nc", lambda tmp: self.idata.to_netcdf(tmp, engine="h5netcdf"))
        write_json(out / "summary.json", self.summary)
        return out


_REQUIRED_ATTRS = ("law", "y", "refs", "priors", "sampler", "forecast_version")


def load_fit(path: str | Path) -> Fit:
    """Load a fit written by :meth:`Fit.save` (the folder, or its ``fit.nc``).

    Raises
    ------
    InputError
        If the folder or file is missing, corrupt, or not a ``forecast`` fit.
    """
    import arviz as az

    path = Path(path)
    nc = path / "fit.nc" if path.is_dir() or path.suffix != ".nc" else path
    if not nc.exists():
        raise InputError(f"{nc}: no fit found; run `forecast fit RUNS.csv --out {nc.parent}` first")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = az.from_netcdf(nc)
    except Exception as exc:  # noqa: BLE001 - any reader failure means a corrupt file
        raise InputError(f"{nc}: cannot be read as a fit ({type(exc).__name__}); "
                         "re-run `forecast fit`") from None
    attrs = dict(idata.attrs)
    missing = [k for k in _REQUIRED_ATTRS if k not in attrs]
    if missing or "posterior" not in idata.groups():
        raise InputError(f"{nc}: not a forecast fit (missing {', '.join(missing) or 'posterior'});"
                         " re-run `forecast fit`")
    spec = LAWS.get(attrs["law"])
    if spec is None:
        raise InputError(f"{nc}: fit of unknown law '{attrs['law']}'; re-run `forecast fit`")
    absent = [p for p in spec.params if p not in idata.posterior]
    if absent:
        raise InputError(f"{nc}: posterior lacks {', '.join(absent)} for law '{spec.name}'; "
                         "the file is damaged or from another law, re-run `forecast fit`")
    summary_path = nc.parent / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return Fit(idata, spec, json.loads(attrs["refs"]), json.loads(attrs["priors"]), attrs["y"],
               summary)
