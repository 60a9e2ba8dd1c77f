"""NUTS chains on a log density, drawn by nutpie (its Rust sampler, reached from Python).

The only module that talks to the sampling engine. It takes a Python function ``x -> (log
density, gradient)`` of a raveled unconstrained vector (for a fit, the compiled PyTensor C
function of :mod:`forecast.inference.sampling`; for the tests' reference battery, NumPy targets
with known moments) and returns the draws and sampler statistics with PyMC's names.

nutpie adapts the step size and a mass matrix during warmup: by default its *low-rank modified*
mass matrix (a diagonal plus the leading eigen-directions of the draws' and gradients'
covariance), which straightens the strong correlations of a scaling law's posterior (``E``
against ``A`` against ``alpha``); :class:`Pass` can ask for the diagonal one instead.
``docs/performance.md`` has the measurements behind these choices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Pass", "STATS", "run_chains"]

# sampler statistics kept, with the names PyMC uses
STATS = ("diverging", "tree_depth", "n_steps", "step_size", "energy", "lp", "acceptance_rate",
         "reached_max_treedepth")
_NUTPIE_NAMES = {"diverging": "diverging", "tree_depth": "depth", "n_steps": "n_steps",
                 "step_size": "step_size", "energy": "energy", "lp": "logp",
                 "acceptance_rate": "mean_tree_accept",
                 "reached_max_treedepth": "maxdepth_reached"}


@dataclass(frozen=True)
class Pass:
    """Settings of one sampling pass."""

    draws: int = 1000
    tune: int = 1000
    target_accept: float = 0.9
    low_rank: bool = True  # nutpie's low-rank modified mass matrix, else a diagonal one


def _model(f, start, dim: int):
    from nutpie.compiled_pyfunc import from_pyfunc

    def make_logp():
        def logp(x, **_):
            lp, g = f(np.asarray(x))
            return float(lp), np.ascontiguousarray(g, dtype="float64")

        return logp

    def make_expand(seed1, seed2, chain):
        def expand(x, **_):
            return {"x": np.array(x, dtype="float64")}

        return expand

    def initial(seed):
        # the seed nutpie hands the chain, derived from its chain_seed: the start depends on
        # the chain alone, not on which worker runs it
        return np.array(start(np.random.default_rng(seed)), dtype="float64")

    return from_pyfunc(dim, make_logp, make_expand, [np.dtype("float64")], [(dim,)], ["x"],
                       make_initial_point_fn=initial)


_JOB: tuple | None = None  # what a forked worker samples: (f, start, dim, settings, seed)


def chain_seed(seed: int, chain: int) -> int:
    """Return the seed of one chain: the same whatever the number of processes."""
    return int(np.random.SeedSequence([seed, chain]).generate_state(1, np.uint64)[0])


def _one_chain(chain: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    import nutpie

    f, start, dim, settings, seed = _JOB
    trace = nutpie.sample(
        _model(f, start, dim), draws=settings.draws, tune=settings.tune, chains=1, cores=1,
        seed=chain_seed(seed, chain), progress_bar=False, save_warmup=False,
        target_accept=settings.target_accept,
        low_rank_modified_mass_matrix=settings.low_rank)
    ss = trace.sample_stats
    return (np.asarray(trace.posterior["x"].values[0], dtype=float),
            {k: np.asarray(ss[v].values[0]) for k, v in _NUTPIE_NAMES.items()})


def run_chains(f, start, dim: int, chains: int, settings: Pass, seed: int,
               cores: int = 1) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draw ``chains`` NUTS chains from the density ``f``.

    Each chain is one nutpie run with its own seed (:func:`chain_seed`). With ``cores`` above
    1 the chains run in that many forked worker processes: the log density is a Python
    function, so threads of one process share one interpreter (measured: slower than running
    the chains in turn), while processes use every core. The draws do not depend on ``cores``.

    Parameters
    ----------
    f : callable
        ``x -> (log density, gradient)`` on raveled unconstrained vectors; ``-inf`` rejects.
    start : callable
        ``rng -> x``: a chain's starting point, drawn from the generator it is given.
    dim : int
        Length of ``x``.
    chains : int
        Number of chains.
    settings : Pass
        Draws, warmup, target acceptance, mass matrix.
    seed : int
        Seed of the sampler's random streams: the same seed, the same draws.
    cores : int
        Worker processes (1: the chains run one after another in this process).

    Returns
    -------
    draws : numpy.ndarray
        Chains x draws x dim, warmup discarded.
    stats : dict
        :data:`STATS`, each chains x draws.
    """
    import multiprocessing

    global _JOB
    _JOB = (f, start, dim, settings, seed)
    try:
        workers = max(1, min(cores, chains))
        # a daemonic process (a multiprocessing pool's worker) may not start workers of its own
        if workers == 1 or multiprocessing.current_process().daemon or \
                "fork" not in multiprocessing.get_all_start_methods():
            results = [_one_chain(c) for c in range(chains)]
        else:
            # fork: the workers inherit the compiled log density, nothing is pickled but draws
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                results = pool.map(_one_chain, range(chains))
    finally:
        _JOB = None
    draws = np.stack([r[0] for r in results])
    stats = {k: np.stack([r[1][k] for r in results]) for k in _NUTPIE_NAMES}
    stats["diverging"] = stats["diverging"].astype(bool)
    stats["reached_max_treedepth"] = stats["reached_max_treedepth"].astype(bool)
    for k in ("n_steps", "tree_depth"):
        stats[k] = stats[k].astype(np.int64)
    return draws, stats
