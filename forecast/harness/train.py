"""Train one grid point and log its checkpoints as rows of a runs table.

A *run* is one model (task, width, depth, seed) trained for ``steps`` optimiser steps at a
constant learning rate after a linear warm-up; a *checkpoint* is the run evaluated after a number
of steps, which gives one row: parameters fixed, tokens (and so FLOPs) growing. Checkpoints are
spaced evenly in log steps so a run spans two decades of compute.

Evaluation is teacher-forced: one forward pass scores every answer position given the true
prefix. Exact match is measured the same way, and equals greedy decoding's exact match: if every
position's argmax is right given the true prefix, greedy decoding follows that same prefix.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from forecast.harness import tasks
from forecast.harness.model import GPT, GPTConfig, param_count, train_flops_per_token

K_MAX = tasks.WIDTH
COLUMNS = (
    ["run_id", "task", "seed", "n_layer", "n_embd", "params", "params_total", "step", "tokens",
     "flops", "loss", "step_loss", "step_acc"]
    + [f"exact_k{k}" for k in range(1, K_MAX + 1)]
    + [f"pos_loss_{i}" for i in range(1, K_MAX + 1)]
    + [f"pos_acc_{i}" for i in range(1, K_MAX + 1)]
    + ["train_loss", "train_acc", "test_loss", "test_acc", "seconds"]
)


@dataclass(frozen=True)
class RunSpec:
    """One grid point: the task, the model shape and the optimiser settings.

    Attributes
    ----------
    task : {"addition", "digitwise", "lookup", "modular"}
        See :mod:`forecast.harness.tasks`.
    n_embd, n_layer, n_head : int
        Model shape.
    steps : int
        Optimiser steps of the run.
    batch_size : int
        Problems per step; 0 means the whole training set (the modular task's full batch).
    lr, weight_decay, warmup : float, float, int
        AdamW settings (betas 0.9, 0.98); the rate rises linearly for ``warmup`` steps, then
        stays constant, so that every checkpoint is a fair run of its own length.
    n_checkpoints : int
        Checkpoints, log-spaced from ``first_step`` to ``steps``.
    first_step : int
        The first checkpoint.
    n_eval : int
        Problems per evaluation set (digit and lookup tasks).
    seed : int
        Seeds the model's initialisation and, through ``numpy.random.default_rng``, the data.
    modulus, train_fraction : int, float
        The modular task's prime and the share of its pairs used for training.
    """

    task: str
    n_embd: int
    n_layer: int = 2
    n_head: int = 4
    steps: int = 1000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    warmup: int = 50
    n_checkpoints: int = 16
    first_step: int = 10
    n_eval: int = 1000
    seed: int = 0
    modulus: int = 97
    train_fraction: float = 0.4

    @property
    def run_id(self) -> str:
        """A readable name of the run, shared by its checkpoints."""
        return f"{self.task}-L{self.n_layer}-d{self.n_embd}-s{self.seed}"

    def checkpoints(self) -> list[int]:
        """Return the steps at which the run is evaluated, log-spaced, ending at ``steps``."""
        first = min(self.first_step, self.steps)
        grid = np.geomspace(first, self.steps, self.n_checkpoints)
        return sorted({int(round(s)) for s in grid} | {self.steps})


def _answer_scores(model: GPT, seqs: torch.Tensor, positions: torch.Tensor):
    """Per-problem, per-position loss (nats) and correctness on the answer tokens.

    ``positions`` indexes the answer tokens in ``seqs``; each is predicted from the tokens before
    it, so its logits are the model's output one place earlier.
    """
    logits = model(seqs[:, :-1])[:, positions - 1]
    target = seqs[:, positions]
    loss = F.cross_entropy(logits.transpose(1, 2), target, reduction="none")
    return loss, logits.argmax(-1) == target


def answer_positions(task: str) -> torch.Tensor:
    """Return the indices of a task's answer tokens (one per step, in step order)."""
    if task == "modular":
        return torch.tensor([3])
    if task == "lookup":
        return torch.arange(2, tasks.LOOKUP_SEQ_LEN, 3)
    return torch.arange(tasks.DIGIT_SEQ_LEN - K_MAX, tasks.DIGIT_SEQ_LEN)


@torch.no_grad()
def evaluate_steps(model: GPT, eval_full: torch.Tensor, eval_mix: torch.Tensor | None,
                   positions: torch.Tensor) -> dict:
    """Metrics of a task of ``K_MAX`` steps (the digit tasks and the lookup task).

    Parameters
    ----------
    model : GPT
        The model, scored teacher-forced.
    eval_full : torch.Tensor
        Held-out problems with all ``K_MAX`` steps: per-position loss and accuracy, the step
        metrics and exact match.
    eval_mix : torch.Tensor or None
        Held-out problems from the training distribution, when it differs from ``eval_full``
        (the digit tasks' mix of lengths): ``loss``, the mean loss (nats) per answer token on
        the training distribution. ``None`` makes ``loss`` the mean loss on ``eval_full``.
    positions : torch.Tensor
        The answer tokens, from :func:`answer_positions`.

    Returns
    -------
    dict
        ``loss, step_loss, step_acc, exact_k1..exact_kK, pos_loss_1.., pos_acc_1..``.
    """
    model.eval()
    loss, ok = _answer_scores(model, eval_full, positions)
    mix_loss = loss if eval_mix is None else _answer_scores(model, eval_mix, positions)[0]
    model.train()
    pos_loss, pos_acc = loss.mean(0), ok.float().mean(0)
    prefix_ok = ok.cumprod(dim=1).float().mean(0)  # first k digits all right
    row = {"loss": mix_loss.mean().item(), "step_loss": pos_loss.mean().item(),
           "step_acc": pos_acc.mean().item()}
    row.update({f"exact_k{k + 1}": prefix_ok[k].item() for k in range(K_MAX)})
    row.update({f"pos_loss_{i + 1}": pos_loss[i].item() for i in range(K_MAX)})
    row.update({f"pos_acc_{i + 1}": pos_acc[i].item() for i in range(K_MAX)})
    return row


@torch.no_grad()
def evaluate_modular(model: GPT, train: torch.Tensor, test: torch.Tensor) -> dict:
    """Train and test loss and accuracy of the modular task (one answer token, so one step).

    Parameters
    ----------
    model : GPT
        The model.
    train, test : torch.Tensor
        The two halves of :func:`forecast.harness.tasks.modular_split`.

    Returns
    -------
    dict
        ``loss``, ``step_loss`` (test loss), ``step_acc``, ``exact_k1`` (test accuracy) and
        ``train_loss, train_acc, test_loss, test_acc``.
    """
    model.eval()
    answer = answer_positions("modular")
    (tr_loss, tr_ok), (te_loss, te_ok) = (_answer_scores(model, s, answer) for s in (train, test))
    model.train()
    test_loss, test_acc = te_loss.mean().item(), te_ok.float().mean().item()
    return {"loss": test_loss, "step_loss": test_loss, "step_acc": test_acc, "exact_k1": test_acc,
            "train_loss": tr_loss.mean().item(), "train_acc": tr_ok.float().mean().item(),
            "test_loss": test_loss, "test_acc": test_acc}


def train_run(spec: RunSpec, *, threads: int = 1) -> list[dict]:
    """Train one grid point and return one row per checkpoint.

    Parameters
    ----------
    spec : RunSpec
        What to train.
    threads : int
        ``torch.set_num_threads`` for this run (restored afterwards). One thread is the default:
        these models are too small for intra-op parallelism to pay, so cores are better spent
        on grid points in parallel, and results do not depend on ``--jobs``.

    Returns
    -------
    list of dict
        Rows keyed by :data:`COLUMNS` (missing keys are empty cells).
    """
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _train(spec)
    finally:
        torch.set_num_threads(old_threads)


def _data(spec: RunSpec):
    """Return the task's vocabulary, sequence length, batch drawer and evaluation sets."""
    if spec.task == "modular":
        train_set, test_set = (torch.from_numpy(s) for s in
                               tasks.modular_split(spec.modulus, spec.train_fraction, spec.seed))

        def draw():
            if spec.batch_size == 0:
                return train_set
            return train_set[torch.randint(len(train_set), (spec.batch_size,))]

        return spec.modulus + 1, train_set.shape[1], draw, (train_set, test_set)
    # Separate streams for training data and the evaluation sets, the same for every model size
    # of a seed, so sizes are compared on the same problems.
    data_rng = np.random.default_rng([spec.seed, 0])
    eval_rng = np.random.default_rng([spec.seed, 1])
    if spec.task == "lookup":
        table = tasks.lookup_table(spec.seed)

        def problems(rng, n):
            return torch.from_numpy(tasks.lookup_problems(rng, n, table))

        evals = (problems(eval_rng, spec.n_eval), None)
        return tasks.LOOKUP_VOCAB, tasks.LOOKUP_SEQ_LEN, lambda: problems(
            data_rng, spec.batch_size), evals

    def digits(rng, n, mixed):
        return torch.from_numpy(tasks.digit_problems(rng, n, task=spec.task, mixed=mixed))

    evals = (digits(eval_rng, spec.n_eval, False), digits(eval_rng, spec.n_eval, True))
    return (tasks.DIGIT_VOCAB, tasks.DIGIT_SEQ_LEN,
            lambda: digits(data_rng, spec.batch_size, True), evals)


def _train(spec: RunSpec) -> list[dict]:
    start = time.perf_counter()
    torch.manual_seed(spec.seed)
    vocab, seq_len, draw, evals = _data(spec)
    positions = answer_positions(spec.task)
    cfg = GPTConfig(vocab_size=vocab, block_size=seq_len - 1, n_layer=spec.n_layer,
                    n_head=spec.n_head, n_embd=spec.n_embd)
    model = GPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, betas=(0.9, 0.98),
                            weight_decay=spec.weight_decay)
    flops_per_token = train_flops_per_token(cfg, n_ctx=seq_len - 1)
    base = {"run_id": spec.run_id, "task": spec.task, "seed": spec.seed,
            "n_layer": spec.n_layer, "n_embd": spec.n_embd,
            "params": param_count(cfg, embeddings=False), "params_total": param_count(cfg)}

    rows, tokens, recent = [], 0, []
    checkpoints = set(spec.checkpoints())
    for step in range(1, spec.steps + 1):
        batch = draw()
        for group in opt.param_groups:
            group["lr"] = spec.lr * min(1.0, step / max(1, spec.warmup))
        logits = model(batch[:, :-1])[:, positions - 1]
        loss = F.cross_entropy(logits.reshape(-1, vocab), batch[:, positions].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tokens += batch.shape[0] * (seq_len - 1)
        recent.append(loss.item())
        if step in checkpoints:
            if spec.task == "modular":
                metrics = evaluate_modular(model, *evals)
            else:
                metrics = evaluate_steps(model, *evals, positions)
                metrics["train_loss"] = float(np.mean(recent))
            rows.append({**base, "step": step, "tokens": tokens,
                         "flops": flops_per_token * tokens, **metrics,
                         "seconds": round(time.perf_counter() - start, 2)})
            recent = []
    if not all(math.isfinite(r["loss"]) for r in rows):
        raise FloatingPointError(f"{spec.run_id}: the loss became NaN or infinite")
    return rows
