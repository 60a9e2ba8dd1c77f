"""Sampling a built model: NUTS settings and the one function that runs the sampler.

Everything about *how* the posterior is drawn (sampler, initialisation, caching of compiled
code) lives here, so it can be changed without touching the model or the summary.

How a fit is drawn (``docs/performance.md`` has the measurements behind each choice):

1. The model's log density and its gradient are compiled once into one PyTensor C function of
   the raveled unconstrained parameters *and the data* (``pm.Data`` containers and dimension
   lengths become inputs). Compiled functions are kept in :data:`_COMPILED`, keyed by
   :func:`structure_key` (the model's graph printed without data values), so every later fit of
   the same law and priors in this process (a backtest sweep, a law comparison) reuses them
   with new data, even a new number of runs, and compiles nothing. Across processes only
   PyTensor's on-disk cache of C code (``~/.pytensor``) is kept.
2. A point fit (L-BFGS on the log posterior) and its Laplace approximation (central differences
   of the gradient) give each chain an over-dispersed start near the posterior's bulk.
3. nutpie's NUTS (:mod:`forecast.inference.engine`) runs the chains on that compiled function and adapts
   the step size and a low-rank modified mass matrix during warmup. When a pass shows
   divergences, an R-hat above :data:`RHAT_MAX` or a bulk ESS below :func:`ess_target`, the fit
   samples again, at most twice, with twice the warmup and what the problems ask: a higher
   target acceptance for divergences, more draws for too few effective ones
   (:func:`_next_pass`); ``idata.attrs["sampling_passes"]`` records each pass, and the fit
   warns only if the last one still shows problems.
4. Constrained values, deterministics, the pointwise log-likelihood and the posterior
   predictive of all draws come from one vectorised function; prior and prior predictive from
   ``pm.sample_prior_predictive`` (of the law's own parameters when the model samples at the
   reference point: :mod:`forecast.inference.geometry`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np

from forecast.errors import FitError
from forecast.inference.engine import Pass, run_chains

__all__ = ["SamplerSettings", "clear_cache", "laplace_draws", "sample", "structure_key"]

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


@dataclass
class _Compiled:
    """Compiled functions of one model structure, with the data as explicit inputs."""

    logp_dlogp: object  # (x, *data) -> (logp, dlogp)
    post: object  # (X draws x dim, *data) -> constrained values, log-likelihoods, predictions
    data_names: list[str]
    value_names: list[str]
    shapes: list[tuple[int, ...]]
    post_names: list[str]
    obs_names: list[str]
    x0: np.ndarray  # the model's initial point, raveled: where the point fit starts
    core_ndims: list[int]  # ndim of each output of ``post`` for one draw
    rngs: list  # random states the posterior predictive draws from (seeded before each call)


_COMPILED: dict[str, _Compiled] = {}


def clear_cache() -> None:
    """Forget the compiled functions of this process (the next fit compiles afresh)."""
    _COMPILED.clear()


def structure_key(model) -> str:
    """Return the model's graph printed without data or random states: equal keys, same model."""
    import pytensor

    outs = model.observed_RVs + model.free_RVs + model.deterministics
    text = pytensor.printing.debugprint(outs, file="str", print_type=True)
    text = re.sub(r"at 0x[0-9A-Fa-f]+", "", text)
    names = [v.name for v in model.value_vars]
    return f"{names}\n{text}"


def _shared_inputs(outputs) -> list:
    """Return the data containers and dimension lengths the graph reads (no random states)."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.graph.traversal import graph_inputs
    from pytensor.tensor.random.type import RandomType

    seen, out = set(), []
    for v in graph_inputs(outputs):
        if isinstance(v, SharedVariable) and not isinstance(v.type, RandomType) and v not in seen:
            seen.add(v)
            out.append(v)
    return sorted(out, key=lambda v: v.name)


def _unsized(rv):
    """Rebuild a univariate random variable with its parameters broadcast and no ``size``.

    ``vectorize_graph`` cannot add a batch dimension to an explicit ``size``; parameters that
    carry the shape can be batched.
    """
    import pytensor.tensor as pt

    node = rv.owner
    rng, size, *params = node.inputs
    if pt.as_tensor_variable(size).type.ndim == 0 or rv.owner.op.ndim_supp != 0:
        return rv
    params = [pt.broadcast_to(p, size) for p in params]
    return node.op.make_node(rng, None, *params).outputs[1]


def _skip_blas_probe() -> None:
    """Tell PyTensor there is no BLAS to link, unless the user configured one.

    The first C compilation of a process otherwise probes for a BLAS by running the C compiler
    (about 3 s of wall time here); the laws' graphs are elementwise and use no BLAS operation.
    """
    import pytensor

    param = pytensor.config._config_var_dict.get("blas__ldflags")
    if param is not None and param.is_default:
        pytensor.config.blas__ldflags = ""


def _no_tag_traces():
    """Stop PyTensor from recording a stack trace on every node it creates, unless configured.

    Building and rewriting a law's gradient creates some 17,000 nodes; extracting a trace for
    each (``traceback__limit``, 8 frames by default) costs about 0.8 s of CPU per compile. The
    traces only decorate PyTensor's own error messages, which the user never sees from a fit.
    """
    import contextlib

    import pytensor

    param = pytensor.config._config_var_dict.get("traceback__limit")
    # set neither by flags nor by code: the default, still at its default value
    if param is not None and param.is_default and \
            pytensor.config.traceback__limit == param.default:
        return pytensor.config.change_flags(traceback__limit=0)
    return contextlib.nullcontext()


def _compile(model) -> _Compiled:
    import pytensor
    import pytensor.tensor as pt
    from pymc.logprob.utils import replace_rvs_by_values
    from pymc.pytensorf import join_nonshared_inputs
    from pymc.util import get_default_varnames
    from pytensor.compile.mode import Mode, get_mode
    from pytensor.graph.replace import graph_replace, vectorize_graph
    from pytensor.graph.traversal import graph_inputs
    from pytensor.tensor.random.type import RandomType

    _skip_blas_probe()
    value_vars = model.value_vars
    point = model.initial_point(0)
    (lp, dlp), x = join_nonshared_inputs(point, [model.logp(), model.dlogp()], value_vars)
    post_outs = list(get_default_varnames(model.unobserved_value_vars, include_transformed=False))
    obs = list(model.observed_RVs)
    loglik = model.logp(vars=obs, sum=False)
    free = {rv: model.rvs_to_values[rv] for rv in model.free_RVs}
    predict = replace_rvs_by_values([_unsized(o) for o in obs], rvs_to_values=free,
                                    rvs_to_transforms=model.rvs_to_transforms)
    shared = _shared_inputs([lp, dlp, *post_outs, *loglik, *predict])
    syms = [s.type(name=s.name) for s in shared]
    lp, dlp = graph_replace([lp, dlp], dict(zip(shared, syms, strict=True)), strict=False)
    # as PyMC compiles a logp: a failed parameter check (a Beta's alpha > 0 ...) is -inf, which
    # the optimiser and NUTS reject, not an exception that ends the fit
    mode = get_mode(None)
    mode = Mode(linker=mode.linker, optimizer=mode.provided_optimizer.including(
        "local_check_parameter_to_ninf_switch"))
    logp_dlogp = pytensor.function([x, *syms], [lp, dlp], trust_input=True,
                                   on_unused_input="ignore", mode=mode)

    # one function over all draws: X is draws x dim, each value variable a slice of it
    X = pt.matrix("X")
    shapes = [tuple(int(d) for d in point[v.name].shape) for v in value_vars]
    batched, start = {}, 0
    for v, shape in zip(value_vars, shapes, strict=True):
        size = int(np.prod(shape, dtype=int))
        batched[v] = X[:, start:start + size].reshape((X.shape[0], *shape))
        start += size
    outs = vectorize_graph(post_outs + loglik + predict,
                           {**batched, **dict(zip(shared, syms, strict=True))})
    post = pytensor.function([X, *syms], outs, on_unused_input="ignore", mode=mode)
    rngs = [v for v in graph_inputs(outs) if isinstance(v.type, RandomType)]
    return _Compiled(logp_dlogp, post, [s.name for s in shared], [v.name for v in value_vars],
                     shapes, [v.name for v in post_outs], [o.name for o in obs],
                     np.concatenate([np.ravel(point[v.name]) for v in value_vars]),
                     [o.type.ndim for o in post_outs + loglik + predict], rngs)


def _compiled(model) -> _Compiled:
    """Return the compiled functions for the model: this process's, or compiled now."""
    key = structure_key(model)
    if key not in _COMPILED:
        with _no_tag_traces():
            _COMPILED[key] = _compile(model)
    return _COMPILED[key]


def _data_values(model, names: list[str]) -> list[np.ndarray]:
    out = []
    for name in names:
        var = model.dim_lengths[name] if name in model.dim_lengths else model[name]
        out.append(var.get_value(borrow=True))
    return out


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


def _log_density(model, comp: _Compiled):
    """``x -> (log density, gradient)`` of the model's own data, as the optimiser and NUTS want."""
    data, fn = _data_values(model, comp.data_names), comp.logp_dlogp

    def f(x):
        lp, g = fn(x, *data)
        return float(lp), g

    return f


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


def _draw_posterior(model, comp: _Compiled, settings: SamplerSettings):
    """Sample; when a pass shows problems, retry with :func:`_next_pass`, up to :data:`RETRIES`.

    Returns the draws (chains x draws x dim), their statistics, and a record of the passes.
    """
    f = _log_density(model, comp)
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


def _post_outputs(comp: _Compiled, X: np.ndarray, data: list) -> list[np.ndarray]:
    """Parameters, log-likelihood and predictive draws at unconstrained draws ``X`` (rows)."""
    outs = comp.post(X, *data)
    # outputs that do not depend on the draws (a Fixed prior's constant) come back unbatched
    return [np.broadcast_to(o, (len(X), *np.shape(o))) if np.ndim(o) == nd else np.asarray(o)
            for o, nd in zip(outs, comp.core_ndims, strict=True)]


def _to_idata(model, comp: _Compiled, draws: np.ndarray, stats: dict, seed: int):
    import arviz as az
    from pymc.backends.arviz import (
        coords_and_dims_for_inferencedata,
        find_constants,
        find_observations,
    )

    chains, n_draws, dim = draws.shape
    for k, rng in enumerate(comp.rngs):
        rng.set_value(np.random.default_rng([seed, k]), borrow=True)
    outs = _post_outputs(comp, draws.reshape(-1, dim), _data_values(model, comp.data_names))
    shaped = [np.asarray(o).reshape(chains, n_draws, *np.shape(o)[1:]) for o in outs]
    n_post, n_obs = len(comp.post_names), len(comp.obs_names)
    posterior = dict(zip(comp.post_names, shaped[:n_post], strict=True))
    loglik = dict(zip(comp.obs_names, shaped[n_post:n_post + n_obs], strict=True))
    predictive = dict(zip(comp.obs_names, shaped[n_post + n_obs:], strict=True))
    coords, dims = coords_and_dims_for_inferencedata(model)
    return az.from_dict(posterior=posterior, sample_stats=stats, log_likelihood=loglik,
                        posterior_predictive=predictive,
                        observed_data=find_observations(model),
                        constant_data=find_constants(model), coords=coords, dims=dims,
                        attrs={"sampler": "nutpie"})


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
        comp = _compiled(model)
        xm, B = _laplace(_log_density(model, comp), comp.x0)
        z = np.random.default_rng(seed).standard_normal((n, len(xm)))
        outs = _post_outputs(comp, xm + z @ B.T, _data_values(model, comp.data_names))
    return dict(zip(comp.post_names, outs[:len(comp.post_names)], strict=True))


def sample(model, settings: SamplerSettings, prior_model=None):
    """Draw the posterior, 500 prior draws and the posterior predictive of ``model``.

    ``prior_model`` (default: ``model``) is the model the prior and prior predictive are drawn
    from: the same law and priors in the law's own parameters when ``model`` samples at the
    reference point (``build_model(..., geometry="natural")``), whose flat free variables
    ``pm.sample_prior_predictive`` cannot draw.

    Repeated calls on models of the same structure (law, priors, names) reuse the compiled
    functions of the first call, whatever their data (see :func:`structure_key`).

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
            comp = _compiled(model)
            t1 = time.perf_counter()
            draws, stats, passes = _draw_posterior(model, comp, settings)
            t2 = time.perf_counter()
            idata = _to_idata(model, comp, draws, stats, settings.seed)
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
