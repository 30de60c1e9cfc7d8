"""Shared by the throughput benchmarks: best-of-N wall time, and a bare batched forward pass as the peer."""

from __future__ import annotations

import time

import torch

from steerlab.batching import Batches


@torch.no_grad()
def bare(model, batches: Batches) -> None:
    """Every batch through the model once, logits computed and nothing else."""
    for batch in batches.batches:
        _ = model(**batch).logits


def timed(fn, repeats: int) -> float:
    """The best wall time of `repeats` calls of `fn`."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best
