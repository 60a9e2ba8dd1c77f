"""Training throughput of the harness models: steps/s and GFLOP/s per width, one torch thread.

Run by hand from the repository root (needs the harness extra):

    python benchmarks/bench_harness.py [--seconds 3]

Prints a Markdown table; the FLOPs are the harness's own formula (exact for matmuls).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.nn import functional as F

from forecast.harness import tasks
from forecast.harness.model import GPT, GPTConfig, param_count, train_flops_per_token


def throughput(n_embd: int, seconds: float, batch: int = 64) -> tuple[float, float]:
    cfg = GPTConfig(tasks.DIGIT_VOCAB, tasks.DIGIT_SEQ_LEN - 1, 2, 4, n_embd)
    torch.manual_seed(0)
    model = GPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        x = torch.from_numpy(tasks.digit_problems(rng, batch, mixed=True))
        logits = model(x[:, :-1])[:, -tasks.WIDTH:]
        loss = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), x[:, -tasks.WIDTH:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        steps += 1
    rate = steps / (time.perf_counter() - start)
    flops = train_flops_per_token(cfg, cfg.block_size) * batch * cfg.block_size
    return rate, rate * flops / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| d | params | steps/s | GFLOP/s |\n|---|---|---|---|")
    for d in (16, 24, 32, 48, 64):
        cfg = GPTConfig(tasks.DIGIT_VOCAB, tasks.DIGIT_SEQ_LEN - 1, 2, 4, d)
        rate, gflops = throughput(d, args.seconds)
        print(f"| {d} | {param_count(cfg, embeddings=False)} | {rate:.1f} | {gflops:.2f} |")


if __name__ == "__main__":
    main()
