"""The composed tasks: token layouts, data generation and their answer positions.

Every task is a fixed-layout sequence whose last ``n_answer`` tokens are the answer; the model is
trained with next-token prediction and scored only on those tokens. Data come from
``numpy.random.default_rng(seed)``, so the same seed gives the same problems on any machine.

* **addition** -- ``a + b`` with ``WIDTH = 8`` digit operands, written least significant digit
  first (``a0 a1 ... a7 + b0 ... b7 = c0 ... c7``) and answered modulo ``10**8``. Answer digit
  ``i`` is step ``i`` of the chain: it needs ``a_i``, ``b_i`` and the carry out of step ``i-1``.
  Because ``(a + b) mod 10**k`` depends only on the low ``k`` digits, the first ``k`` answer
  digits are exactly the ``k``-digit addition problem: ``exact_k`` is the share of problems whose
  first ``k`` digits are all right. Training mixes lengths: each problem draws ``k`` uniformly
  from ``1..8`` and operands below ``10**k`` (zero-padded), so short sums teach the digit rule
  and long ones the carry chain.
* **digitwise** -- the control: the same layout, but answer digit ``i`` is
  ``(a_i + b_i) mod 10``, with no carry. Its steps are truly independent given the input, the
  case where ``P_k = prod_i p_i`` should hold exactly.
* **modular** -- ``a b = c`` with ``c = (a + b) mod p`` (Power et al., 2022), one answer token.
  A fixed share of the ``p**2`` pairs is the training set; the rest is the test set.
"""

from __future__ import annotations

import numpy as np

WIDTH = 8  # digits per operand and answer in the addition tasks
PLUS, EQUALS = 10, 11  # token ids after the digits 0..9
DIGIT_VOCAB = 12
DIGIT_SEQ_LEN = 3 * WIDTH + 2  # a, '+', b, '=', c


def _digits(x: np.ndarray) -> np.ndarray:
    """Digits of non-negative integers, least significant first, shape ``(n, WIDTH)``."""
    return (x[:, None] // 10 ** np.arange(WIDTH, dtype=np.int64)) % 10


def digit_problems(rng: np.random.Generator, n: int, *, task: str = "addition",
                   mixed: bool = False) -> np.ndarray:
    """Draw ``n`` digit problems as token sequences of shape ``(n, DIGIT_SEQ_LEN)``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the operands.
    n : int
        Number of problems.
    task : {"addition", "digitwise"}
        With or without carries.
    mixed : bool
        Draw each problem's length ``k`` uniformly from ``1..WIDTH`` (the training mix);
        otherwise every problem has ``WIDTH`` random digits (the evaluation set).

    Returns
    -------
    numpy.ndarray
        Integer tokens; the last ``WIDTH`` are the answer, least significant digit first.
    """
    k = rng.integers(1, WIDTH + 1, size=n) if mixed else np.full(n, WIDTH)
    hi = 10 ** k.astype(np.int64)
    a = (rng.random(n) * hi).astype(np.int64)
    b = (rng.random(n) * hi).astype(np.int64)
    da, db = _digits(a), _digits(b)
    if task == "addition":
        dc = _digits((a + b) % 10**WIDTH)
    elif task == "digitwise":
        dc = (da + db) % 10
    else:
        raise ValueError(f"unknown digit task {task!r}")
    col = np.full((n, 1), 0, dtype=np.int64)
    return np.hstack([da, col + PLUS, db, col + EQUALS, dc])


def modular_split(p: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """All ``p**2`` problems ``a b = (a + b) mod p``, split into train and test sets.

    Parameters
    ----------
    p : int
        The modulus (a prime such as 97 in Power et al.); token ``p`` is ``=``.
    train_fraction : float
        Share of the pairs used for training.
    seed : int
        Seed of the split.

    Returns
    -------
    tuple of numpy.ndarray
        Train and test sequences of shape ``(n, 4)``; the last token is the answer.
    """
    a, b = np.divmod(np.arange(p * p, dtype=np.int64), p)
    seqs = np.stack([a, b, np.full_like(a, p), (a + b) % p], axis=1)
    order = np.random.default_rng(seed).permutation(p * p)
    n_train = int(round(train_fraction * p * p))
    return seqs[order[:n_train]], seqs[order[n_train:]]
