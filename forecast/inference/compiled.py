"""Compiled code of a model: its log density and gradient, and its posterior outputs.

The model's log density and its gradient are compiled once into one PyTensor C function of the
raveled unconstrained parameters *and the data* (``pm.Data`` containers and dimension lengths
become inputs). Compiled functions are kept in a cache of this process keyed by
:func:`structure_key` (the model's graph printed without data values), so every later fit of
the same law and priors (a backtest sweep, a law comparison) reuses them with new data, even a
new number of runs, and compiles nothing. Across processes only PyTensor's on-disk cache of C
code is kept. Constrained values, deterministics, the pointwise log-likelihood and the
posterior predictive of all draws come from one vectorised function (:func:`to_idata`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["Compiled", "clear_cache", "compiled", "data_values", "log_density", "post_outputs",
           "structure_key", "to_idata"]


@dataclass
class Compiled:
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


_COMPILED: dict[str, Compiled] = {}


def clear_cache() -> None:
    """Forget the compiled functions of this process (the next fit compiles afresh)."""
    _COMPILED.clear()


def structure_key(model) -> str:
    """Return the model's graph printed without data or random states: equal keys, same model.

    The lengths of dimensions other than ``run`` (the number of groups) are part of the key:
    they set the size of the parameter vector the compiled functions take.
    """
    import pytensor

    outs = model.observed_RVs + model.free_RVs + model.deterministics
    text = pytensor.printing.debugprint(outs, file="str", print_type=True)
    text = re.sub(r"at 0x[0-9A-Fa-f]+", "", text)
    names = [v.name for v in model.value_vars]
    sizes = {k: int(v.get_value()) for k, v in model.dim_lengths.items()
             if k != "run" and hasattr(v, "get_value")}
    return f"{names}\n{sizes}\n{text}"


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


def _compile(model) -> Compiled:
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
    return Compiled(logp_dlogp, post, [s.name for s in shared], [v.name for v in value_vars],
                     shapes, [v.name for v in post_outs], [o.name for o in obs],
                     np.concatenate([np.ravel(point[v.name]) for v in value_vars]),
                     [o.type.ndim for o in post_outs + loglik + predict], rngs)


def compiled(model) -> Compiled:
    """Return the compiled functions for the model: this process's, or compiled now."""
    key = structure_key(model)
    if key not in _COMPILED:
        with _no_tag_traces():
            _COMPILED[key] = _compile(model)
    return _COMPILED[key]


def data_values(model, names: list[str]) -> list[np.ndarray]:
    """Return the model's current values of the data inputs ``names`` of a compiled function."""
    out = []
    for name in names:
        var = model.dim_lengths[name] if name in model.dim_lengths else model[name]
        out.append(var.get_value(borrow=True))
    return out


def log_density(model, comp: Compiled):
    """``x -> (log density, gradient)`` of the model's own data, as the optimiser and NUTS want."""
    data, fn = data_values(model, comp.data_names), comp.logp_dlogp

    def f(x):
        lp, g = fn(x, *data)
        return float(lp), g

    return f


def post_outputs(comp: Compiled, X: np.ndarray, data: list) -> list[np.ndarray]:
    """Parameters, log-likelihood and predictive draws at unconstrained draws ``X`` (rows)."""
    outs = comp.post(X, *data)
    # outputs that do not depend on the draws (a Fixed prior's constant) come back unbatched
    return [np.broadcast_to(o, (len(X), *np.shape(o))) if np.ndim(o) == nd else np.asarray(o)
            for o, nd in zip(outs, comp.core_ndims, strict=True)]


def to_idata(model, comp: Compiled, draws: np.ndarray, stats: dict, seed: int):
    """Turn unconstrained draws (chains x draws x dim) into an InferenceData.

    Posterior (constrained values and deterministics), pointwise log-likelihood and the
    posterior predictive (its random states seeded from ``seed``), with the sampler's stats.
    """
    import arviz as az
    from pymc.backends.arviz import (
        coords_and_dims_for_inferencedata,
        find_constants,
        find_observations,
    )

    chains, n_draws, dim = draws.shape
    for k, rng in enumerate(comp.rngs):
        rng.set_value(np.random.default_rng([seed, k]), borrow=True)
    outs = post_outputs(comp, draws.reshape(-1, dim), data_values(model, comp.data_names))
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
