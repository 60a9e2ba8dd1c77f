"""Which run to train next: preposterior analysis of a fit (``forecast plan``).

For each candidate run (a compute ``C``, or a size ``N`` and tokens ``D``): how narrow would the
90% interval of the forecast at the target be once that run is trained? An expectation over the
run's unknown outcome (Lindley's preposterior analysis):

1. draw ``J`` outcomes ``y_j`` of the run from the posterior predictive of the model's own
   likelihood (a posterior draw ``s_j``, then ``y_j = mu_s(x) exp(sigma_s t_nu_s)``);
2. reweight the posterior draws by the likelihood the model uses, ``StudentT(log y_j | nu_s,
   log mu_s(x), sigma_s)``: the reweighted draws are the posterior with the run added, up to
   Monte Carlo error;
3. take the weighted 90% interval of the target quantity; its width averaged over the ``J``
   outcomes is the candidate's expected width.

The target quantity is, per draw, the law's loss at the target compute (for a law of ``N`` and
``D``, at the compute-optimal split, Hoffmann et al. eq. 4), or with ``steps`` the ``log10``
compute at which a ``k``-step task (``p^k``, the fit's link) crosses its threshold. Both carry
the fit's extrapolation error (:mod:`forecast.inference.extrapolation`, ``exp(kappa d z_s)``,
``d`` decades from the largest run to the target): a candidate beyond every run shortens ``d``
(``kappa`` is kept). The run noise ``sigma`` is left out: no run can shrink it.

The weights' effective sample size (Kish: ``1 / sum w^2``) says where the update stops being
trustworthy; ``docs/plan.md`` measures it against full refits. Greedy picks (``pick > 1``) keep
the ``J`` outcome paths: each path adds its simulated outcome of the chosen run to its weights,
and the next candidate's outcomes are drawn from each path's reweighted posterior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats
from scipy.special import gammaln, logsumexp

from forecast.errors import InputError
from forecast.inference.extrapolation import decades_beyond
from forecast.laws import Law, compute_optimal, predict

__all__ = ["ESS_LOW", "LEVEL", "OUTCOMES", "Candidates", "candidate_grid", "ess",
           "interval_width", "outcomes_and_widths", "plan", "weighted_quantiles"]

LEVEL = 0.9  # the interval whose width is planned for
OUTCOMES = 32  # simulated outcomes (paths) per candidate
ESS_LOW = 50  # a candidate whose least ESS over its outcomes is below this is flagged
REACH = 10.0  # candidates of a law of N and D reach this far beyond the largest N and D


@dataclass(frozen=True)
class Candidates:
    """Candidate runs: their compute, and for a law of ``N`` and ``D`` their size and tokens.

    Attributes
    ----------
    flops : numpy.ndarray
        Each candidate's cost in FLOPs (``6 N D`` for a law of ``N`` and ``D``).
    params, tokens : numpy.ndarray or None
        Model size and tokens (laws of ``N`` and ``D``).
    labels : tuple of str
        Optional names (e.g. the ``run_id`` of a row of a table of possible runs).
    """

    flops: np.ndarray
    params: np.ndarray | None = None
    tokens: np.ndarray | None = None
    labels: tuple[str, ...] = ()

    def __len__(self) -> int:
        return int(np.size(self.flops))

    def covariates(self, law: Law) -> dict[str, np.ndarray]:
        """Return the law's covariates at the candidates (``C``, or ``N`` and ``D``)."""
        if "C" in law.covariates:
            return {"C": np.asarray(self.flops, dtype=float)}
        if self.params is None or self.tokens is None:
            raise InputError(f"law '{law.name}' needs candidates with params and tokens")
        return {"N": np.asarray(self.params, dtype=float),
                "D": np.asarray(self.tokens, dtype=float)}

    def row(self, i: int) -> dict:
        """Candidate ``i`` as JSON: flops, and params, tokens, label where known."""
        out: dict = {k: float(v[i]) for k, v in (("flops", self.flops), ("params", self.params),
                                                  ("tokens", self.tokens)) if v is not None}
        return {**out, "label": self.labels[i]} if self.labels else out


def candidate_grid(law: Law, flops: np.ndarray, budget: float, n: int, *,
                   params: np.ndarray | None = None, tokens: np.ndarray | None = None
                   ) -> Candidates:
    """Candidate runs within a budget, in sensible ranges around the fitted runs.

    A law of compute: ``n`` log-spaced compute levels from the smallest fitted run to the
    budget. A law of ``N`` and ``D``: a log-spaced grid of ``N`` from the smallest fitted model
    to :data:`REACH` times the largest, and of ``D`` likewise, of which the points with
    ``6 N D <= budget`` and tokens per parameter ``D / N`` within the fitted runs' range are
    kept; the grid is made just fine enough to hold ``n`` such points, and ``n`` of them,
    evenly spread in cost, are the candidates.

    Raises
    ------
    InputError
        If the budget is below the smallest fitted run (no sensible candidate is that cheap),
        or ``n < 1``.
    """
    if n < 1:
        raise InputError(f"--candidates {n}: give at least 1")
    lo = (float(np.min(flops)) if "C" in law.covariates
          else 6.0 * float(np.min(params)) * float(np.min(tokens)))
    if not budget >= lo:
        raise InputError(f"--budget {budget:.3g}: below the cheapest sensible run "
                         f"({lo:.3g} FLOPs, the smallest fitted "
                         f"{'run' if 'C' in law.covariates else 'model on the fewest tokens'}); "
                         "give a budget of at least that")
    if "C" in law.covariates:
        return Candidates(np.geomspace(lo, budget, n) if n > 1 else np.array([float(budget)]))
    n_lo, n_hi = float(np.min(params)), REACH * float(np.max(params))
    d_lo, d_hi = float(np.min(tokens)), REACH * float(np.max(tokens))
    ratio = np.asarray(tokens, dtype=float) / np.asarray(params, dtype=float)
    for g in range(2, 400):
        N, D = (a.ravel() for a in np.meshgrid(np.geomspace(n_lo, n_hi, g),
                                               np.geomspace(d_lo, d_hi, g), indexing="ij"))
        ok = (6.0 * N * D <= budget * (1 + 1e-9)) & (D / N >= ratio.min() * (1 - 1e-9)) \
            & (D / N <= ratio.max() * (1 + 1e-9))
        if ok.sum() >= n:
            break
    if not ok.any():
        raise InputError(f"--budget {budget:.3g}: no run of the fitted runs' tokens per "
                         "parameter fits in it; give a larger budget")
    N, D = N[ok], D[ok]
    order = np.argsort(6.0 * N * D, kind="stable")
    keep = order[np.unique(np.round(np.linspace(0, N.size - 1, min(n, N.size))).astype(int))]
    return Candidates(6.0 * N[keep] * D[keep], N[keep], D[keep])


def weighted_quantiles(values: np.ndarray, log_w: np.ndarray, probs) -> np.ndarray:
    """Quantiles of draws ``values`` (``(S,)``) under weights ``exp(log_w)`` (``(J, S)``).

    The weighted CDF puts each draw at the middle of its weight (Hazen's rule, which for equal
    weights is NumPy's ``hazen`` quantile) and interpolates linearly. Draws may be ``+inf``
    (never crossing) or ``-inf``: a quantile that interpolates towards one is infinite.

    Returns
    -------
    numpy.ndarray
        Shape ``(J, len(probs))``.
    """
    values = np.asarray(values, dtype=float)
    log_w = np.atleast_2d(np.asarray(log_w, dtype=float))
    order = np.argsort(values, kind="stable")
    v = values[order]
    w = np.exp(log_w[:, order] - logsumexp(log_w, axis=1, keepdims=True))
    cdf = np.cumsum(w, axis=1) - 0.5 * w
    n = v.size
    out = np.empty((log_w.shape[0], len(probs)))
    rows = np.arange(log_w.shape[0])
    for k, p in enumerate(probs):
        i = np.clip((cdf < p).sum(axis=1), 1, n - 1)
        c0, c1 = cdf[rows, i - 1], cdf[rows, i]
        t = np.clip((p - c0) / np.maximum(c1 - c0, 1e-300), 0.0, 1.0)
        v0, v1 = v[i - 1], v[i]
        with np.errstate(invalid="ignore"):
            mid = v0 + t * (v1 - v0)
        out[:, k] = np.where(t <= 0, v0, np.where(t >= 1, v1, mid))
    return out


def interval_width(values: np.ndarray, log_w: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """Width of the central ``level`` interval of ``values`` under each row of weights.

    ``+inf`` where either end is infinite (the interval reaches never-crossing draws).
    """
    q = weighted_quantiles(values, log_w, ((1 - level) / 2, (1 + level) / 2))
    ok = np.isfinite(q).all(axis=1)
    return np.where(ok, q[:, 1] - np.where(ok, q[:, 0], 0.0), np.inf)


def ess(log_w: np.ndarray) -> np.ndarray:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` of each row of log weights."""
    log_w = np.atleast_2d(log_w)
    return np.exp(2 * logsumexp(log_w, axis=1) - logsumexp(2 * log_w, axis=1))


class _Posterior:
    """What the update needs of a fit: the law's raw draws, the noise, the target quantity."""

    def __init__(self, fit, target: float, steps: int | None, threshold: float, seed: int):
        law = fit.law
        if law.metric != "positive":
            raise InputError(f"forecast plan forecasts a loss; law '{law.name}' is an accuracy "
                             "law: fit a loss law (power, pure, chinchilla, broken)")
        for what, value in (("--group", fit.group_column), ("--run", fit.run_column),
                            ("--acc", fit.idata.attrs.get("acc"))):
            if value:
                raise InputError(f"forecast plan takes a fit without {what} (this one has "
                                 f"{what} {value}); refit without it")
        self.law, self.target, self.steps, self.threshold = law, float(target), steps, threshold
        self.raw = {k: v[:, None] for k, v in fit.raw().items()}
        self.sigma, self.nu = fit.draws("sigma"), fit.draws("nu")
        self.n = self.sigma.size
        ext = fit.extrapolation
        self.kappa = float(ext.get("kappa_per_decade", 0.0))
        self.flops_max = float(ext.get("flops_max", np.inf))
        if not math.isfinite(self.flops_max):
            self.flops_max = float(np.max(fit.fitted_runs().flops))
        self.z = np.random.default_rng([seed, 7]).standard_normal(self.n)
        self._half = gammaln((self.nu + 1) / 2) - gammaln(self.nu / 2) \
            - 0.5 * np.log(self.nu * np.pi) - np.log(self.sigma)
        self._steps = None
        if steps is not None:
            from forecast.questions.emergence import step_success

            self._steps = step_success(fit, seed=seed)
        self._cache: dict[float, np.ndarray] = {}

    def mean(self, cand: Candidates) -> np.ndarray:
        """Return the law's mean at the candidates, ``(S, m)``."""
        cov = {k: v[None, :] for k, v in cand.covariates(self.law).items()}
        with np.errstate(all="ignore"):
            return predict(self.law, self.raw, **cov)

    def log_lik(self, y: np.ndarray, mean: np.ndarray) -> np.ndarray:
        """``log StudentT(log y_j | nu_s, log mean_s, sigma_s)``, ``(J, S)`` (Jacobian dropped)."""
        with np.errstate(all="ignore"):
            r = (np.log(y)[:, None] - np.log(mean)[None, :]) / self.sigma[None, :]
            ll = self._half[None, :] - (self.nu[None, :] + 1) / 2 * np.log1p(r**2 / self.nu)
        return np.where(np.isfinite(ll), ll, -np.inf)

    def simulate(self, mean: np.ndarray, log_w: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One outcome per path: a draw by the path's weights, then the likelihood's noise.

        ``u`` holds two uniforms per path, ``(J, 2)``: shared by every candidate of a step, so
        candidates are compared on common random numbers.
        """
        w = np.exp(log_w - logsumexp(log_w, axis=1, keepdims=True))
        cdf = np.cumsum(w, axis=1)
        s = np.minimum((cdf < u[:, :1] * cdf[:, -1:]).sum(axis=1), self.n - 1)
        t = stats.t.ppf(u[:, 1], self.nu[s])
        return mean[s] * np.exp(self.sigma[s] * t)

    def quantity(self, flops_max: float) -> np.ndarray:
        """Per draw: the target's loss, or its crossing ``log10`` compute, ``(S,)``."""
        key = float(flops_max) if self.kappa > 0 else 0.0
        if key in self._cache:
            return self._cache[key]
        if self._steps is not None:  # p^k >= threshold where p >= threshold^(1/k)
            st = replace(self._steps, flops_max=float(flops_max)) if self.kappa else self._steps
            value = st.crossing(self.threshold ** (1.0 / self.steps))
        else:
            C = np.array([[self.target]])
            if "C" in self.law.covariates:
                loss = predict(self.law, self.raw, C=C)
            else:
                N, D = compute_optimal(self.raw, C)
                loss = predict(self.law, self.raw, N=N, D=D)
            loss = loss[:, 0]
            if self.kappa > 0:
                d = decades_beyond(np.array([self.target]), flops_max)[0]
                loss = loss * np.exp(self.kappa * d * self.z)
            value = loss
        self._cache[key] = np.asarray(value, dtype=float).reshape(-1)
        return self._cache[key]


def outcomes_and_widths(fit, candidates: Candidates, target: float, *, outcomes: int = OUTCOMES,
                        steps: int | None = None, threshold: float = 0.5, seed: int = 0,
                        level: float = LEVEL, y: np.ndarray | None = None) -> dict:
    """Simulate outcomes of each candidate; return the reweighted width after each one.

    The first step of :func:`plan`, laid open for checks against full refits
    (``benchmarks/plan.py``): give ``y`` (``(J, m)``) to reweight by outcomes of your own.

    Returns
    -------
    dict
        ``y``, ``width`` and ``ess``, each ``(J, m)``; ``current`` (today's width) and
        ``draws`` (the quantity per draw before any run is added, ``(S,)``).
    """
    post = _Posterior(fit, target, steps, threshold, seed)
    mean = post.mean(candidates)
    if y is None:
        u = np.random.default_rng([seed, 18]).uniform(size=(outcomes, 2))
        lw0 = np.zeros((outcomes, post.n))
        y = np.stack([post.simulate(mean[:, i], lw0, u) for i in range(len(candidates))], 1)
    y = np.asarray(y, dtype=float)
    width, e = np.empty(y.shape), np.empty(y.shape)
    for i in range(len(candidates)):
        lw = post.log_lik(y[:, i], mean[:, i])
        q = post.quantity(max(post.flops_max, float(candidates.flops[i])))
        width[:, i], e[:, i] = interval_width(q, lw, level), ess(lw)
    q0 = post.quantity(post.flops_max)
    return {"y": y, "width": width, "ess": e, "draws": q0,
            "current": float(interval_width(q0, np.zeros((1, post.n)), level)[0])}


def _mean_width(widths: np.ndarray) -> float:
    return float(np.mean(widths)) if np.all(np.isfinite(widths)) else math.inf  # inf: unbounded


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def plan(fit, candidates: Candidates, target: float, *, steps: int | None = None,
         threshold: float = 0.5, pick: int = 1, outcomes: int = OUTCOMES, seed: int = 0,
         level: float = LEVEL) -> dict:
    """Rank candidate runs by the expected width of the forecast's interval at ``target``.

    Parameters
    ----------
    fit : forecast.inference.result.Fit
        A fit of a loss law, without ``--group``, ``--run`` or ``--acc``.
    candidates : Candidates
        The runs that could be trained next.
    target : float
        Compute (FLOPs) of the forecast to make more certain.
    steps, threshold : int or None, float
        With ``steps`` the target quantity is the ``log10`` compute at which a ``steps``-step
        task crosses ``threshold`` (a law of compute only); ``target`` is then not used.
    pick : int
        Runs to choose greedily (each added with its simulated outcome before the next).
    outcomes : int
        Simulated outcomes (paths) per candidate.
    seed : int
        Seed of the outcomes and of the extrapolation error's ``z``.
    level : float
        The central interval whose width is planned for.

    Returns
    -------
    dict
        ``current`` (the fit's interval: ``median``, ``lo``, ``hi``, ``width``),
        ``candidates`` (the first step's ranking, in the candidates' order: each with
        ``expected_width``, ``reduction`` against the current width, ``ess``
        ``{"min", "median"}`` and ``ess_low``), ``picks`` (the greedy choices, each with the
        expected width once it and the picks before it are added) and ``notes``.
    """
    if not 1 <= pick <= len(candidates):
        raise InputError(f"--pick {pick}: must lie between 1 and the number of candidates "
                         f"({len(candidates)})")
    if outcomes < 2:
        raise InputError(f"--outcomes {outcomes}: give at least 2")
    post = _Posterior(fit, target, steps, threshold, seed)
    rng = np.random.default_rng([seed, 18])
    mean = post.mean(candidates)
    cost = np.asarray(candidates.flops, dtype=float)
    q0, base = post.quantity(post.flops_max), np.zeros((1, post.n))
    lo, med, hi = weighted_quantiles(q0, base, ((1 - level) / 2, 0.5, (1 + level) / 2))[0]
    current = float(interval_width(q0, base, level)[0])
    lw, fmax = np.zeros((outcomes, post.n)), post.flops_max
    picks, table, chosen = [], [], []
    for step in range(pick):
        u = rng.uniform(size=(outcomes, 2))
        rows, best, best_lw = [], None, None
        for i in range(len(candidates)):
            if i in chosen:
                continue
            y = post.simulate(mean[:, i], lw, u)
            new = lw + post.log_lik(y, mean[:, i])
            q = post.quantity(max(fmax, cost[i]))
            widths, e = interval_width(q, new, level), ess(new)
            expected = _mean_width(widths)
            row = {**candidates.row(i), "index": i, "expected_width": _num(expected),
                   "reduction": _num(1 - expected / current) if current > 0 else None,
                   "ess": {"min": float(e.min()), "median": float(np.median(e))},
                   "ess_low": bool(e.min() < ESS_LOW),
                   "unbounded": float(np.mean(~np.isfinite(widths)))}
            rows.append(row)  # infinite widths (never-crossing draws): fewest unbounded first
            if best is None or (expected, row["unbounded"], cost[i]) < best[0]:
                best, best_lw = ((expected, row["unbounded"], cost[i]), row), new
        if step == 0:
            table = rows
        chosen.append(best[1]["index"])
        lw, fmax = best_lw, max(fmax, cost[chosen[-1]])
        picks.append({**best[1], "step": step + 1, "total_flops": float(cost[chosen].sum())})
    notes = []
    low = [r for r in table if r["ess_low"]]
    if low:
        notes.append(f"{len(low)} of {len(table)} candidates have an outcome whose weights' "
                     f"effective sample size is below {ESS_LOW} of {post.n} draws: such a run "
                     "would teach more than the draws can show, and its expected width is "
                     "somewhat too small (by 6-7% where measured; docs/plan.md)")
    if not math.isfinite(current):
        notes.append("the 90% interval of the crossing is unbounded now (over 5% of draws never "
                     "cross); candidates are ranked by the share of outcomes that leave it so")
    if post.kappa > 0:
        notes.append(f"widths include the fit's extrapolation error, {post.kappa:.3g} per "
                     f"decade beyond the largest run ({post.flops_max:.3g} FLOPs); a candidate "
                     "beyond it shortens that distance")
    quantity = ("log10_flops_crossing" if steps is not None else f"{fit.y_name}_at_target")
    return {"law": fit.law.name, "y": fit.y_name, "target_flops": float(target),
            "quantity": quantity, "steps": steps,
            "threshold": threshold if steps is not None else None, "level": level,
            "n_draws": post.n, "outcomes": outcomes, "seed": seed, "method": "importance",
            "current": {"median": _num(med), "lo": _num(lo), "hi": _num(hi),
                        "width": _num(current)},
            "candidates": table, "picks": picks, "notes": notes}
