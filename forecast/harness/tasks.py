"""The composed tasks: token layouts, data generation and their answer positions.

Every task is a fixed-layout sequence with its answer tokens at fixed places (the last ``WIDTH``
tokens of the digit tasks, every third token of the lookup task, the last token of the modular
task: :func:`forecast.harness.train.answer_positions`); the model is trained with next-token
prediction and scored only on those tokens. Data come from
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
* **lookup** -- ``a1 b1 y1 a2 b2 y2 ... a8 b8 y8``: eight look-ups ``y_i = f(a_i, b_i)`` in one
  fixed random table ``f`` from pairs of ``LOOKUP_KEYS`` key symbols to a digit, with the pairs
  drawn independently from a Zipf law (the pair of rank ``r`` has probability ``~ r**-LOOKUP_ZIPF``;
  ranks are a random order of the pairs). Each look-up is a step that needs only the two tokens
  before it, so the steps are independent given the input; and the skill grows gradually: a
  model memorises the frequent entries first and more of the tail with more parameters and
  data. This is the "quantization model" of neural scaling (Michaud et al., 2023): many discrete
  skills of power-law frequency add up to a smooth power law in the loss, while a task that needs
  ``k`` of them at once still shows a sharp rise in exact match.
* **modular** -- ``a b = c`` with ``c = (a + b) mod p`` (Power et al., 2022), one answer token.
  A fixed share of the ``p**2`` pairs is the training set; the rest is the test set.
"""

from __future__ import annotations

import numpy as np

WIDTH = 8  # digits per operand and answer in the addition tasks
PLUS, EQUALS = 10, 11  # token ids after the digits 0..9
DIGIT_VOCAB = 12
DIGIT_SEQ_LEN = 3 * WIDTH + 2  # a, '+', b, '=', c
LOOKUP_KEYS = 64  # key symbols of the lookup task; its table has LOOKUP_KEYS**2 entries
LOOKUP_ZIPF = 1.0  # exponent of the Zipf law of the key pairs
LOOKUP_VOCAB = LOOKUP_KEYS + 10  # keys, then the digits 0..9 as answers
LOOKUP_SEQ_LEN = 3 * WIDTH  # a1 b1 y1 ... a8 b8 y8


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


def lookup_table(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the lookup task's table and the Zipf law of its keys, fixed by the seed.

    Parameters
    ----------
    seed : int
        The run's seed; every model size of a seed learns the same table from the same law.

    Returns
    -------
    tuple of numpy.ndarray
        ``values``, shape ``(LOOKUP_KEYS**2,)``: the answer digit of the pair ``a * LOOKUP_KEYS +
        b``, uniform on 0..9; and ``probs``, the same shape: each pair's probability, the Zipf
        weights ``r**-LOOKUP_ZIPF`` of a random ranking of the pairs.
    """
    rng = np.random.default_rng([seed, 2])
    n = LOOKUP_KEYS**2
    values = rng.integers(0, 10, size=n)
    weights = np.arange(1, n + 1, dtype=float) ** -LOOKUP_ZIPF
    probs = np.empty(n)
    probs[rng.permutation(n)] = weights / weights.sum()
    return values, probs


def lookup_problems(rng: np.random.Generator, n: int,
                    table: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Draw ``n`` lookup problems as token sequences of shape ``(n, LOOKUP_SEQ_LEN)``.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of the key pairs.
    n : int
        Number of problems.
    table : tuple of numpy.ndarray
        ``(values, probs)`` from :func:`lookup_table`.

    Returns
    -------
    numpy.ndarray
        Integer tokens ``a1 b1 y1 ... a8 b8 y8``; keys are tokens ``0..LOOKUP_KEYS - 1`` and the
        answer digit ``y`` is token ``LOOKUP_KEYS + y``.
    """
    values, probs = table
    pairs = rng.choice(len(probs), size=(n, WIDTH), p=probs)
    seqs = np.empty((n, LOOKUP_SEQ_LEN), dtype=np.int64)
    seqs[:, 0::3], seqs[:, 1::3] = np.divmod(pairs, LOOKUP_KEYS)
    seqs[:, 2::3] = LOOKUP_KEYS + values[pairs]
    return seqs


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
