"""One small decoder-only transformer, its parameter count and its training FLOPs.

In the spirit of nanoGPT's ``model.py``: pre-norm blocks, learned positions, no dropout, and
linear layers without bias so that the parameter count and the FLOP count are exact formulas.
Attention is written out (``q @ k^T``, softmax, ``@ v``) rather than fused, so that every
multiply is visible and :class:`torch.utils.flop_counter.FlopCounterMode` counts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class GPTConfig:
    """Shape of the transformer.

    Attributes
    ----------
    vocab_size : int
        Number of token ids.
    block_size : int
        Context length the position table covers.
    n_layer, n_head, n_embd : int
        Depth, attention heads and width (``n_embd`` must divide by ``n_head``).
    """

    vocab_size: int
    block_size: int
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention, written out."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0, "n_embd must divide by n_head"
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=False)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=False)
        mask = torch.tril(torch.ones(cfg.block_size, cfg.block_size, dtype=torch.bool))
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        # (b, t, c) -> (b, heads, t, head_size)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
        att = att.masked_fill(~self.mask[:t, :t], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, c)
        return self.proj(y)


class Block(nn.Module):
    """Pre-norm transformer block: attention then a 4x MLP, each with a residual."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=False)
        self.out = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = x + self.attn(self.ln1(x))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    """A decoder-only transformer that returns next-token logits at every position."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)  # not tied
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith(("attn.proj.weight", "out.weight")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Return logits ``(batch, time, vocab)`` for token ids ``idx`` ``(batch, time)``."""
        t = idx.size(1)
        x = self.wte(idx) + self.wpe(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def param_count(cfg: GPTConfig, *, embeddings: bool = True) -> int:
    """Count the parameters of :class:`GPT` by formula.

    Parameters
    ----------
    cfg : GPTConfig
        The model shape.
    embeddings : bool
        Count the token and position tables. ``False`` gives Kaplan et al.'s ``N``, the
        non-embedding count that scaling laws use (the output layer is kept: it is a matmul).

    Returns
    -------
    int
        ``V d + T d`` (tables) ``+ L (12 d^2 + 4 d)`` (blocks: qkv 3d^2, proj d^2, MLP 8d^2, two
        LayerNorms 4d) ``+ 2 d`` (final LayerNorm) ``+ V d`` (output layer).
    """
    d, L, V, T = cfg.n_embd, cfg.n_layer, cfg.vocab_size, cfg.block_size
    n = L * (12 * d * d + 4 * d) + 2 * d + V * d
    return n + (V * d + T * d if embeddings else 0)


def train_flops_per_token(cfg: GPTConfig, n_ctx: int) -> float:
    """Training FLOPs per token of context (forward and backward).

    Kaplan et al. (2020), Table 1: a forward pass costs ``2 N`` per token for the weight matmuls
    plus ``2 n_layer n_ctx d`` for the attention logits; Hoffmann et al. (2022, Chinchilla),
    Appendix F, also count the attention-weighted sum of values, another ``2 n_layer n_ctx d``.
    The backward pass costs twice the forward, so training costs
    ``6 N_mm + 12 n_layer n_ctx d`` per token, where ``N_mm = 12 L d^2 + V d`` are the weights
    that take part in matmuls (the blocks and the output layer; not the embedding look-ups,
    biases or norms). The causal mask is not credited: the full ``n_ctx x n_ctx`` product is
    computed. Softmax, GELU and norms (a few FLOPs per activation) are left out, as in both
    papers; ``tests/test_harness.py`` checks the result against ``FlopCounterMode``.

    Parameters
    ----------
    cfg : GPTConfig
        The model shape.
    n_ctx : int
        Tokens per training sequence.

    Returns
    -------
    float
        FLOPs per token; multiply by training tokens for the FLOPs of a run.
    """
    d, L, V = cfg.n_embd, cfg.n_layer, cfg.vocab_size
    n_mm = 12 * L * d * d + V * d
    return float(6 * n_mm + 12 * L * n_ctx * d)
