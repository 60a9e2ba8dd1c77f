"""Sampling a built model: NUTS settings and the one function that runs the sampler.

Everything about *how* the posterior is drawn (sampler, initialisation, caching of compiled
code) lives here, so it can be changed without touching the model or the summary.

How a fit is drawn (``docs/performance.md`` has the measurements behind each choice):

1. The log density and its gradient are compiled once per model structure
   (:mod:`forecast.inference.compiled`), and reused with new data.
2. A point fit (L-BFGS on the log posterior) and its Laplace approximation (central differences
   of the gradient) give each chain an over-dispersed start near the posterior's bulk.
3. nutpie's NUTS (:mod:`forecast.inference.engine`) runs the chains on that compiled function
   and adapts the step size and a low-rank modified mass matrix during warmup. When a pass shows
   divergences, an R-hat above :data:`RHAT_MAX` or a bulk ESS below :func:`ess_target`, the fit
   samples again, at most twice, with twice the warmup and what the problems ask: a higher
   target acceptance for divergences, more draws for too few effective ones
   (:func:`_next_pass`); ``idata.attrs["sampling_passes"]`` records each pass, and the fit
   warns only if the last one still shows problems.
4. Constrained values, deterministics, the pointwise log-likelihood and the posterior
   predictive of all draws come from one vectorised function
   (:func:`forecast.inference.compiled.to_idata`); prior and prior predictive from
   ``pm.sample_prior_predictive`` (of the law's own parameters when the model samples at the
   reference point: :mod:`forecast.inference.geometry`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np

from forecast.errors import FitError, Interrupted
from forecast.inference.compiled import (
    Compiled,
    compiled,
    data_values,
    log_density,
    post_outputs,
    to_idata,
)
from forecast.inference.engine import Pass, run_chains

__all__ = ["ESS_MIN", "RHAT_MAX", "SamplerSettings", "ess_target", "interrupt_cleanly",
           "laplace_draws", "sample"]

PRIOR_DRAWS = 500
# a pass is clean with no divergence, every R-hat at most RHAT_MAX and bulk ESS at least ESS_MIN
RHAT_MAX = 1.01
ESS_MIN = 400


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings; the command line feeds only these."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int = 0
    target_accept: float = 0.9
    progress: bool = False
    cores: int | None = None  # worker processes for the chains; None: one per chain up to the CPUs
    retry: bool = True  # sample again, longer and more carefully, when a pass shows problems

    def as_dict(self) -> dict:
        """Return the settings that change the result (``progress`` and ``cores`` do not)."""
        return {"draws": self.draws, "tune": self.tune, "chains": self.chains,
                "seed": self.seed, "target_accept": self.target_accept, "retry": self.retry}


def _laplace(f, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mode of the log density from ``x0`` and a square root ``B`` of its Laplace covariance.

    The Hessian comes from central differences of the gradient; its eigenvalues are clipped so
    that a flat or non-convex direction gets a unit scale instead of breaking the sampler.
    """
    from scipy.optimize import minimize

    def neg(x):
        lp, g = f(x)
        if not np.isfinite(lp):
            return np.inf, np.zeros_like(x)
        return -lp, -g

    with np.errstate(all="ignore"):
        res = minimize(neg, x0, jac=True, method="L-BFGS-B")
        xm = res.x if np.isfinite(res.fun) else x0
        n, h = len(xm), 1e-5
        H = np.empty((n, n))
        for i in range(n):
            e = np.zeros(n)
            e[i] = h
            H[i] = (neg(xm + e)[1] - neg(xm - e)[1]) / (2 * h)
    H = 0.5 * (H + H.T)
    if not np.all(np.isfinite(H)):
        return xm, np.eye(n)
    lam, V = np.linalg.eigh(H)
    lam = np.where(lam > 1e-8 * max(lam.max(), 1e-12), lam, 1.0)
    return xm, V / np.sqrt(lam)


def _start(f, xm: np.ndarray, B: np.ndarray):
    """Return ``rng -> x``: a Laplace draw, shrunk toward the mode until the density is finite."""

    def start(rng: np.random.Generator) -> np.ndarray:
        z = rng.standard_normal(len(xm))
        for scale in (1.0, 0.5, 0.1, 0.0):
            x = xm + scale * (B @ z)
            if np.isfinite(f(x)[0]):
                return x
        return xm

    return start


RETRIES = 2  # passes after the first, at most
DRAWS_GROWTH = 4  # a retry draws at most this many times the draws asked


def _first_pass(settings: SamplerSettings) -> Pass:
    return Pass(settings.draws, settings.tune, settings.target_accept)


def _next_pass(prev: Pass, check: dict, max_draws: int) -> Pass:
    """Return the pass after one with problems: always twice the warmup, and what the problems ask.

    Divergences ask for a smaller step (``target_accept`` 0.95, then 0.99); too few effective
    draws or an R-hat above :data:`RHAT_MAX` ask for more draws, as many as should reach
    :func:`ess_target` with a fifth to spare (at least twice as many, at most ``max_draws``:
    :data:`DRAWS_GROWTH` times the draws asked).
    """
    target_accept = prev.target_accept
    if check["divergences"]:
        target_accept = 0.95 if target_accept < 0.95 else max(target_accept, 0.99)
    draws = prev.draws
    if not (check["rhat"] <= RHAT_MAX and check["ess"] >= check["ess_target"]):
        want = 1.2 * check["ess_target"] / max(check["ess"], 1.0)
        draws = min(int(prev.draws * max(np.ceil(want), 2)), max_draws)
    return Pass(draws, 2 * prev.tune, target_accept)


def ess_target(n_draws: int) -> float:
    """Bulk ESS a pass must reach: :data:`ESS_MIN`, or a quarter of its draws if that is less.

    A deliberately short run (``--draws 200 --chains 2`` in a test) cannot reach 400; retrying
    it would only make it longer than asked.
    """
    return min(ESS_MIN, n_draws / 4)


def _check(draws: np.ndarray, stats: dict, target: float) -> dict:
    """Divergences, max R-hat and min bulk ESS of a pass (over every unconstrained coordinate).

    ``target`` is the bulk ESS the pass must reach (:func:`ess_target` of the draws asked).
    """
    import arviz as az

    out = {"divergences": int(stats["diverging"].sum()), "rhat": 1.0, "ess": np.inf,
           "ess_target": target}
    if draws.shape[0] > 1:
        d = az.convert_to_dataset({"x": draws})
        out["rhat"] = float(np.nanmax(az.rhat(d)["x"].values))
        out["ess"] = float(np.nanmin(az.ess(d)["x"].values))
    return out


def _troubles(check: dict) -> list[str]:
    """Return what is wrong with a pass, in words (empty: the pass is clean)."""
    out = []
    if check["divergences"]:
        out.append(f"{check['divergences']} divergences")
    if not check["rhat"] <= RHAT_MAX:
        out.append(f"R-hat {check['rhat']:.3f}")
    if not check["ess"] >= check["ess_target"]:
        out.append(f"bulk ESS {check['ess']:.0f}")
    return out


def _draw_posterior(model, comp: Compiled, settings: SamplerSettings):
    """Sample; when a pass shows problems, retry with :func:`_next_pass`, up to :data:`RETRIES`.

    Returns the draws (chains x draws x dim), their statistics, and a record of the passes.
    """
    f = log_density(model, comp)
    xm, B = _laplace(f, comp.x0)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = min(settings.chains, settings.cores or cpus or 1)
    # the ESS asked of every pass is that of the draws the user asked for
    target = ess_target(settings.draws * settings.chains)
    record, p = [], _first_pass(settings)
    for i in range(1 + (RETRIES if settings.retry else 0)):
        t0 = time.perf_counter()
        draws, stats = run_chains(f, _start(f, xm, B), len(xm), settings.chains, p,
                                  seed=settings.seed + 1000 * i, cores=cores)
        check = _check(draws, stats, target)
        troubles = _troubles(check)
        record.append({"draws": p.draws, "tune": p.tune, "target_accept": p.target_accept,
                       "mass_matrix": "low-rank" if p.low_rank else "diagonal",
                       "seconds": round(time.perf_counter() - t0, 2), "troubles": troubles})
        if settings.progress:
            print(f"pass {i + 1}: {', '.join(troubles) or 'clean'}", file=sys.stderr,
                  flush=True)
        if not troubles:
            break
        p = _next_pass(p, check, DRAWS_GROWTH * settings.draws)
    return draws, stats, record


def laplace_draws(model, n: int, seed: int) -> dict[str, np.ndarray]:
    """Draws of the model's parameters from its Laplace approximation (no MCMC).

    A Gaussian at the mode of the log density in the unconstrained space, with the covariance
    from the Hessian there (the same one that starts and preconditions NUTS), mapped back to the
    parameters. Cheap: for quick refits such as :mod:`forecast.inference.extrapolation`'s inner fit.

    Returns
    -------
    dict
        Each named free or deterministic variable (``E_scaled``, ``alpha``, ``sigma`` ...), an
        array of ``n`` draws along the first axis.
    """
    with model, warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        comp = compiled(model)
        xm, B = _laplace(log_density(model, comp), comp.x0)
        z = np.random.default_rng(seed).standard_normal((n, len(xm)))
        outs = post_outputs(comp, xm + z @ B.T, data_values(model, comp.data_names))
    return dict(zip(comp.post_names, outs[:len(comp.post_names)], strict=True))


def sample(model, settings: SamplerSettings, prior_model=None):
    """Draw the posterior, 500 prior draws and the posterior predictive of ``model``.

    ``prior_model`` (default: ``model``) is the model the prior and prior predictive are drawn
    from: the same law and priors in the law's own parameters when ``model`` samples at the
    reference point (``build_model(..., geometry="natural")``), whose flat free variables
    ``pm.sample_prior_predictive`` cannot draw.

    Repeated calls on models of the same structure (law, priors, names) reuse the compiled
    functions of the first call, whatever their data (see
    :func:`forecast.inference.compiled.structure_key`).

    Returns
    -------
    arviz.InferenceData
        Groups posterior, sample_stats (PyMC's names: ``diverging``, ``tree_depth`` ...),
        log_likelihood, prior, prior_predictive, posterior_predictive, observed_data and
        constant_data.

    Raises
    ------
    FitError
        If the sampler fails.
    """
    import pymc as pm

    if prior_model is None and "reference_prior" in model.named_vars:
        raise ValueError("this model samples the law at the data's reference point, which "
                         "cannot be drawn forward: pass prior_model=build_model(..., "
                         "geometry='natural')")
    pm_log = logging.getLogger("pymc")
    level = pm_log.level
    if not settings.progress:
        pm_log.setLevel(logging.WARNING)
    try:
        with model, warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            comp = compiled(model)
            t1 = time.perf_counter()
            draws, stats, passes = _draw_posterior(model, comp, settings)
            t2 = time.perf_counter()
            idata = to_idata(model, comp, draws, stats, settings.seed)
            idata.attrs.update({"compile_time": t1 - t0, "sampling_time": t2 - t1,
                                "sampling_passes": json.dumps(passes)})
        forward = model if prior_model is None else prior_model
        with forward, warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            idata.extend(pm.sample_prior_predictive(draws=PRIOR_DRAWS,
                                                    random_seed=settings.seed))
    except (ValueError, RuntimeError, FloatingPointError, np.linalg.LinAlgError) as exc:
        raise FitError(f"sampling failed: {exc}") from exc
    finally:
        pm_log.setLevel(level)
    return idata


RETRY_SECONDS = 0.05  # how soon an interrupt that Python had to ignore is raised again


@contextlib.contextmanager
def interrupt_cleanly():
    """Turn Ctrl-C into :class:`Interrupted`, which the sampler cannot swallow.

    PyMC catches ``KeyboardInterrupt`` inside each chain and goes on with the next one, then
    returns the partial draws; raising our own exception from the handler stops the whole fit
    before anything is written.

    A Ctrl-C that arrives while a chain's worker is being forked is handled inside an at-fork
    hook (``logging`` registers one), where Python can only print the exception as "ignored" and
    drop it. The exception is not printed then; it is raised again :data:`RETRY_SECONDS` later
    (by ``SIGALRM``), in ordinary code, so one Ctrl-C always stops the fit.
    """
    def handler(signum, frame):
        raise Interrupted("interrupted; nothing was written, the previous fit (if any) is intact")

    def unraisable(info):
        if isinstance(info.exc_value, Interrupted):
            signal.setitimer(signal.ITIMER_REAL, RETRY_SECONDS)
        else:
            previous_hook(info)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    previous_alarm = signal.signal(signal.SIGALRM, handler)
    previous_hook, sys.unraisablehook = sys.unraisablehook, unraisable

    def restore():
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.unraisablehook = previous_hook
        signal.signal(signal.SIGALRM, previous_alarm)
        signal.signal(signal.SIGINT, previous)

    late = None
    try:
        yield
    finally:
        # a signal already delivered but not yet handled (a second Ctrl-C, the retry's alarm)
        # can raise inside the restoring itself: finish restoring, then stop as asked
        while True:
            try:
                restore()
                break
            except Interrupted as exc:
                late = exc
    if late is not None:
        raise late
